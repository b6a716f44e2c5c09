"""Faults on Apache Kafka, with figures: workers SIGKILLed during traffic, the broker SIGKILLed and restarted."""

from __future__ import annotations

import signal

import pytest
import time
import uuid
from datetime import datetime, timedelta, timezone

from dispatchbus import catalogue
from dispatchbus.contract import events as ev
from dispatchbus.kafka.clients import EventProducer

from ..support.samples import call
from ..support.topics import TopicWatcher, metric_value
from ..support.waiting import wait_for

CALLS = 1000
KILLS = 5


def quick_takeover(settings):
    """A killed worker's partitions go to the next one after 6 s (the broker's least session timeout)."""
    return settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"session_timeout_s": 6.0})})


class Calls:
    """Numbered calls, each received and then closed by the CAD."""

    def __init__(self, settings) -> None:
        self.producer = EventProducer(settings)
        self.now = datetime.now(timezone.utc).replace(microsecond=0)
        self.sent: dict[str, ev.CallReceived] = {}

    def send(self, count: int) -> None:
        for n in range(len(self.sent) + 1, len(self.sent) + count + 1):
            c = call(n, "mental_health" if n % 2 else "fire", self.now)
            self.producer.send(catalogue.CAD_CALLS, c)
            self.producer.send(catalogue.CAD_CALLS, ev.CallClosed(
                event_id=uuid.UUID(int=10**9 + n), call_id=c.call_id, closed_at=self.now + timedelta(minutes=5),
                disposition="resolved"))
            self.sent[c.call_id] = c
        self.producer.flush()


def consumed(worker) -> float:
    try:
        return metric_value(worker.metrics_text(), "dispatchbus_events_consumed_total", event_type="CallReceived")
    except AssertionError:  # not serving yet
        return 0.0


def copies_by(events, key) -> dict[str, list]:
    out: dict[str, list] = {}
    for e in events:
        out.setdefault(key(e), []).append(e)
    return out


def assert_copies_identical(by_call: dict[str, list], what: str) -> int:
    """Every copy of a call's record has the same event_id and content; returns the number of extra copies."""
    extra = 0
    for call_id, copies in by_call.items():
        assert all(c == copies[0] for c in copies), f"{what} of {call_id} differ between copies"
        extra += len(copies) - 1
    return extra


def test_workers_sigkilled_five_times_during_1000_calls_lose_nothing(kafka_settings, start_worker):
    settings = quick_takeover(kafka_settings)
    started = time.monotonic()
    worker = start_worker(settings=settings)
    traffic = Calls(settings)
    kills: list[float] = []
    batch = CALLS // (KILLS + 1)
    for _ in range(KILLS):
        # A batch arrives, sent while the worker (re)starts; it is killed once it has routed some of it.
        traffic.send(batch)
        wait_for(lambda: consumed(worker) >= 20, timeout=90, what="the worker to route calls")
        worker.stop(sig=signal.SIGKILL)
        kills.append(time.monotonic() - started)
        worker = start_worker(settings=settings, wait=False)
    traffic.send(CALLS - len(traffic.sent))

    with TopicWatcher(settings, catalogue.DECISIONS) as decisions, \
            TopicWatcher(settings, catalogue.FEEDBACK) as feedback, \
            TopicWatcher(settings, catalogue.FEEDBACK_DIGESTS) as digests:
        try:
            wait_for(lambda: {d.call_id for d in decisions.drain()} >= set(traffic.sent), timeout=120,
                     interval=0.5, what=f"a decision for each of {CALLS} calls")
        except AssertionError:
            missing = set(traffic.sent) - {d.call_id for d in decisions.events}
            raise AssertionError(f"{len(missing)} of {CALLS} calls without a decision (e.g. {sorted(missing)[:5]}); "
                                 f"the last worker's log ends:\n{worker.log()[-3000:]}") from None
        wait_for(lambda: {f.call_id for f in feedback.drain()} >= set(traffic.sent), timeout=60, interval=0.5,
                 what=f"feedback for each of {CALLS} calls")

        def day_total() -> int:
            latest: dict[str, ev.FeedbackDigest] = {}
            for d in digests.drain():
                if d.call_taker_id is None and d.window == "day":
                    if d.digest_id not in latest or d.revision > latest[d.digest_id].revision:
                        latest[d.digest_id] = d
            return sum(d.calls for d in latest.values())

        wait_for(lambda: day_total() >= CALLS, timeout=60, interval=0.5, what="digests counting every call")
        total = day_total()
        by_call = copies_by(decisions.events, lambda d: d.event_id)
        extra_decisions = assert_copies_identical(by_call, "decisions")
        extra_feedback = assert_copies_identical(copies_by(feedback.events, lambda f: f.call_id), "feedback")
        # one initial decision per call: copies share its event_id and content
        initial = {d.call_id for d in decisions.events if d.sequence == 0}
        assert initial == set(traffic.sent)
        digest_copies = assert_copies_identical(copies_by(digests.events, lambda d: str(d.event_id)), "digests")

    print(f"\n{CALLS} calls, workers SIGKILLed at {', '.join(f'{k:.0f}' for k in kills)} s: 0 lost; "
          f"{extra_decisions} decision and {extra_feedback} feedback copies (identical); {digest_copies} digest "
          f"copies; day digests count {total} calls; {time.monotonic() - started:.0f} s in all")
    assert total == CALLS


OUTAGE_S = 30.0


def broker_up(worker) -> float | None:
    try:
        return metric_value(worker.metrics_text(), "dispatchbus_broker_up")
    except AssertionError:
        return None


@pytest.mark.kafka
@pytest.mark.broker
def test_a_broker_sigkilled_for_30_s_during_traffic_loses_nothing_and_the_outage_shows(tmp_path, start_worker):
    from dispatchbus.dev.embedded_broker import isolated_settings
    from dispatchbus.dev.kafka_broker import KafkaBroker
    from dispatchbus.kafka.admin import create_topics

    with KafkaBroker(run_dir=tmp_path / "kafka") as broker:
        settings = quick_takeover(isolated_settings(broker.bootstrap_servers, tmp_path, f"t{uuid.uuid4().hex[:10]}",
                                                    broker.client_tuning))
        create_topics(settings)
        worker = start_worker(settings=settings)
        traffic = Calls(settings)
        traffic.send(100)
        with TopicWatcher(settings, catalogue.DECISIONS) as decisions:
            decisions.wait(lambda d: d.call_id == "C100", timeout=60, what="the first calls routed")
        wait_for(lambda: broker_up(worker) == 1, timeout=30, what="dispatchbus_broker_up at 1")

        broker.kill()
        killed = time.monotonic()
        # Calls keep coming: the CAD's producer holds them meanwhile (not flushed: it would wait for the broker).
        for n in range(101, 201):
            c = call(n, "mental_health" if n % 2 else "fire", traffic.now)
            traffic.producer._producer.poll(0)
            traffic.producer.send(catalogue.CAD_CALLS, c)
            traffic.sent[c.call_id] = c
        seen_up: list[float | None] = []

        def shows_outage() -> bool:
            seen_up.append(broker_up(worker))
            return seen_up[-1] == 0

        try:
            wait_for(shows_outage, timeout=OUTAGE_S, interval=0.5, what="dispatchbus_broker_up at 0")
        except AssertionError:
            raise AssertionError(f"dispatchbus_broker_up read {seen_up[-10:]} (None: no answer)") from None
        shown = time.monotonic() - killed
        down_samples = 0

        def outage_over() -> bool:
            nonlocal down_samples
            assert worker.child.running, f"the worker exited during the outage:\n{worker.log()[-3000:]}"
            down_samples += broker_up(worker) == 0
            return time.monotonic() - killed >= OUTAGE_S

        wait_for(outage_over, timeout=OUTAGE_S + 10, interval=0.5, what="the outage's end")
        broker.restart()
        restarted = time.monotonic()
        traffic.producer.flush(60)

        with TopicWatcher(settings, catalogue.DECISIONS) as decisions:
            try:
                wait_for(lambda: {d.call_id for d in decisions.drain()} >= set(traffic.sent), timeout=90,
                         interval=0.5, what="a decision for each of the 200 calls")
            except AssertionError:
                missing = set(traffic.sent) - {d.call_id for d in decisions.events}
                raise AssertionError(f"{len(missing)} calls without a decision; the worker's log ends:\n"
                                     f"{worker.log()[-3000:]}") from None
            resumed = time.monotonic() - restarted
            extra = assert_copies_identical(copies_by(decisions.events, lambda d: d.event_id), "decisions")
        wait_for(lambda: broker_up(worker) == 1, timeout=30, what="dispatchbus_broker_up back at 1")
        assert worker.child.running  # the same worker: no restart was needed
        print(f"\nbroker SIGKILLed for {restarted - killed:.0f} s during 200 calls: 0 lost, {extra} identical copies; "
              f"dispatchbus_broker_up showed 0 after {shown:.1f} s ({down_samples} samples at 0); every call routed "
              f"{resumed:.1f} s after the restart, by the same worker")
