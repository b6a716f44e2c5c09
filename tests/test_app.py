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


def _dead_letters(settings, count: int) -> list[ev.DeadLetter]:
    letters = []
    with TopicReader(settings, catalogue.DEAD_LETTER) as dlq:
        def arrived():
            record = dlq.poll(0.2)
            if record is not None:
                letters.append(record)
            return len(letters) >= count

        wait_for(arrived, timeout=30, interval=0, what=f"{count} dead letter(s)")
    return letters


def test_transient_faults_are_retried_with_backoff_and_never_dead_lettered(bus_settings, bus):
    from confluent_kafka import KafkaError, KafkaException

    from dispatchbus import metrics
    from dispatchbus.contract.serde import Unavailable

    faults = [Unavailable("schema_registry", "ConnectError"), KafkaException(KafkaError(KafkaError._TRANSPORT)),
              ConnectionResetError("reset")]
    attempts, waiting = [], []

    async def handle(message):
        waiting.append(metrics.RECORDS_WAITING._value.get())
        attempts.append(message.offset)
        if faults:
            raise faults.pop(0)

    before = {r: metrics.RETRIES.labels(r)._value.get() for r in ("schema_registry", "broker", "network")}

    async def run():
        await bus.handle_or_dead_letter(_record(20, b"valid call"), catalogue.CAD_CALLS, "call_lifecycle", handle)
        # A record at fault after it still goes to the dead-letter topic: the stream goes on.
        await bus.handle_or_dead_letter(_record(21, b"bad"), catalogue.CAD_CALLS, "call_lifecycle",
                                        lambda m: bus.decode(m, catalogue.CAD_CALLS))
        await bus.outbox.flush()

    asyncio.run(run())
    assert attempts == [20, 20, 20, 20]  # three faults, then handled
    assert waiting == [0, 0, 0, 0] and metrics.RECORDS_WAITING._value.get() == 0  # counted while waiting only
    after = {r: metrics.RETRIES.labels(r)._value.get() - before[r] for r in before}
    assert after == {"schema_registry": 1, "broker": 1, "network": 1}
    [letter] = _dead_letters(bus_settings, 1)
    assert letter.event.source_offset == 21  # only the bad record


def test_a_waiting_record_counts_in_the_waiting_gauge(bus_settings, bus):
    from dispatchbus import metrics
    from dispatchbus.contract.serde import Unavailable

    seen = []

    async def handle(message):
        if not seen:
            seen.append(None)
            raise Unavailable("schema_registry")

    async def run():
        task = asyncio.ensure_future(
            bus.handle_or_dead_letter(_record(30, b"x"), catalogue.CAD_CALLS, "call_lifecycle", handle))
        while metrics.RECORDS_WAITING._value.get() == 0:
            await asyncio.sleep(0.005)
        during = metrics.RECORDS_WAITING._value.get()
        await task
        return during

    assert asyncio.run(run()) == 1
    assert metrics.RECORDS_WAITING._value.get() == 0


def test_a_huge_record_is_dead_lettered_bounded_with_the_original_length_and_digest(bus_settings, bus):
    import hashlib

    from dispatchbus.deadletter import ORIGINAL_MAX_BYTES

    huge_key, huge_value = b"K" * 300_000, b"\x00" + b"V" * 2_700_000

    async def run():
        record = SimpleNamespace(topic="cad.calls", partition=1, offset=40, key=huge_key, value=huge_value)
        await bus.handle_or_dead_letter(record, catalogue.CAD_CALLS, "call_lifecycle",
                                        lambda m: bus.decode(m, catalogue.CAD_CALLS))
        await bus.outbox.flush()

    asyncio.run(run())
    [record] = _dead_letters(bus_settings, 1)
    letter = record.event
    assert letter.reason == "unknown_schema"  # magic byte 0, then a schema id no contract has
    assert letter.original_value == huge_value[:ORIGINAL_MAX_BYTES]
    assert (letter.original_value_size, letter.original_value_sha256) == (
        len(huge_value), hashlib.sha256(huge_value).hexdigest())
    assert (letter.original_key_size, letter.original_key_sha256) == (
        len(huge_key), hashlib.sha256(huge_key).hexdigest())
    assert record.key == hashlib.sha256(huge_key).hexdigest().encode()
    assert len(record.value) < 3 * ORIGINAL_MAX_BYTES
