"""A poison pill never stops the consumer: a CallReceived with a 300 KB call_id is dead-lettered once."""

from __future__ import annotations

import hashlib

from dispatchbus import catalogue
from dispatchbus.contract.serde import serde_from_settings

from ..support.faults import committed_offsets, send_one
from ..support.samples import call
from ..support.topics import TopicWatcher
from ..support.waiting import wait_for


def test_a_call_with_a_300_kb_call_id_is_dead_lettered_once_and_routing_goes_on(bus_settings, start_worker):
    settings = bus_settings
    topic = catalogue.CAD_CALLS.full_name(settings.topics)
    huge_id = "P" * 300_000
    poison = call(1).model_copy(update={"call_id": huge_id, "correlation_id": huge_id})  # not validated
    value = serde_from_settings(settings).encode(poison, topic)
    p, o = send_one(settings, catalogue.CAD_CALLS, poison, key=huge_id.encode(), value=value)
    after = call(2)
    worker = start_worker()
    send_one(settings, catalogue.CAD_CALLS, after)
    with TopicWatcher(settings, catalogue.DECISIONS) as decisions, \
            TopicWatcher(settings, catalogue.DEAD_LETTER) as letters:
        decisions.wait(lambda e: e.call_id == after.call_id, timeout=60, what="the next call's decision")
        [letter] = letters.wait(lambda e: e.source_offset == o and e.source_partition == p, timeout=30,
                                what="the poison pill's dead letter")
        print(f"\npoison pill: {len(value)} bytes at cad.calls[{p}]@{o}; dead letter {len(letters.records[0].value)}"
              f" bytes, reason {letter.reason}")
        assert letter.reason == "invalid_event" and "call_id" in letter.detail and "PPP" not in letter.detail
        assert letter.original_value_size == len(value)
        assert letter.original_value_sha256 == hashlib.sha256(value).hexdigest()
        assert letter.original_key_size == len(huge_id)
        assert worker.child.running
        assert "PPPPPPPP" not in worker.log()
        wait_for(lambda: committed_offsets(settings, catalogue.CAD_CALLS)[p] > o, timeout=60,
                 what="the poison pill's offset committed")

        # A restart does not meet the poison pill again: one letter, and the next call is routed.
        worker.stop()
        start_worker()
        again = call(3)
        send_one(settings, catalogue.CAD_CALLS, again)
        decisions.wait(lambda e: e.call_id == again.call_id, timeout=90, what="a decision after the restart")
        assert [e.source_offset for e in letters.drain() if e.source_partition == p] == [o]
