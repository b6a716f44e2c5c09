"""The bus's shared agent plumbing: a record whose handling fails goes to the dead-letter topic."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from dispatchbus import catalogue
from dispatchbus.kafka.clients import TopicReader
from dispatchbus.contract import events as ev
from tests.support.waiting import wait_for

pytestmark = pytest.mark.broker


def _record(offset: int, value: bytes) -> SimpleNamespace:
    return SimpleNamespace(topic="cad.calls", partition=4, offset=offset, key=b"C7", value=value)


def test_records_that_fail_to_decode_or_to_be_handled_are_dead_lettered_and_the_next_one_is_handled(
    bus_settings, bus
):
    handled = []

    async def handle(message):
        if message.offset == 10:
            raise RuntimeError("a transition nobody expected")
        if message.offset == 12:
            bus.decode(message, catalogue.CAD_CALLS)
        handled.append(message.offset)

    async def run():
        for record in (_record(10, b"first bytes"), _record(11, b"second bytes"), _record(12, b"not avro")):
            await bus.handle_or_dead_letter(record, catalogue.CAD_CALLS, "call_lifecycle", handle)
        await bus.outbox.flush()

    asyncio.run(run())
    assert handled == [11]
    letters = []
    with TopicReader(bus_settings, catalogue.DEAD_LETTER) as dlq:
        def arrived():
            record = dlq.poll(0.2)
            if record is not None:
                letters.append(record.event)
            return len(letters) >= 2

        wait_for(arrived, timeout=30, interval=0, what="the dead letters")
    letter, undecodable = sorted(letters, key=lambda d: d.source_offset)
    assert isinstance(letter, ev.DeadLetter)
    assert (letter.reason, letter.detail, letter.consumer) == ("processing_failed", "RuntimeError", "call_lifecycle")
    assert (letter.original_key, letter.original_value) == (b"C7", b"first bytes")
    assert (letter.source_partition, letter.source_offset) == (4, 10)
    assert "nobody expected" not in letter.detail
    assert (undecodable.reason, undecodable.original_value, undecodable.source_offset) == (
        "undecodable", b"not avro", 12)
