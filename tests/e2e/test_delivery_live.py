"""No commit passes an undelivered output, on Apache Kafka (which enforces a topic's ``max.message.bytes``)."""

from __future__ import annotations

import time

from dispatchbus import catalogue

from ..support.faults import committed_offsets, send_one, set_topic_config
from ..support.samples import call
from ..support.topics import TopicWatcher
from ..support.waiting import wait_for


def test_an_undeliverable_decision_keeps_its_call_uncommitted_through_crash_and_shutdown(kafka_settings, start_worker):
    settings = kafka_settings
    first = call(1)
    p1, o1 = send_one(settings, catalogue.CAD_CALLS, first)
    worker = start_worker(settings=settings)
    with TopicWatcher(settings, catalogue.DECISIONS) as decisions:
        decisions.wait(lambda e: e.call_id == first.call_id, timeout=60, what="the first call's decision")
        wait_for(lambda: committed_offsets(settings, catalogue.CAD_CALLS)[p1] > o1, timeout=60,
                 what="the first call committed")

        # From now on the broker refuses every decision: no batch fits in 64 bytes.
        set_topic_config(settings, catalogue.DECISIONS, {"max.message.bytes": "64"})
        second = call(2)
        p2, o2 = send_one(settings, catalogue.CAD_CALLS, second)
        wait_for(lambda: "not delivered" in worker.log(), timeout=60, what="the worker to report the failure")
        failed_at = time.monotonic()
        # The worker stops (or is stopped), whatever commit path runs meanwhile or on the way out.
        wait_for(lambda: not worker.child.running or time.monotonic() - failed_at > 10, timeout=30,
                 what="the worker to stop or ten seconds to pass")
        worker.stop()
        log = worker.log()
        committed = committed_offsets(settings, catalogue.CAD_CALLS)
        print(f"\ncall 2 at cad.calls[{p2}]@{o2}; committed after the failure and the shutdown: {committed}")
        assert committed[p2] <= o2, f"committed {committed[p2]} past the undelivered call at {o2}"
        assert "not committing" in log or "DeliveryFailed" in log, log[-3000:]
        assert second.call_id not in {e.call_id for e in decisions.drain()}

        # The topic fixed, a new worker handles the call again and its decision is delivered.
        set_topic_config(settings, catalogue.DECISIONS, {"max.message.bytes": None})
        start_worker(settings=settings)
        [again] = decisions.wait(lambda e: e.call_id == second.call_id, timeout=90, what="the second call's decision")
        assert again.causation_id == second.event_id
