"""A second worker joins the group while calls flow: the partitions are shared and no call is lost."""

from datetime import datetime, timezone

import pytest

from dispatchbus import catalogue
from dispatchbus.broker import free_port
from dispatchbus.clients import EventProducer, TopicReader
from dispatchbus.contract import events as ev
from dispatchbus.processes import WORKER_READY_LINE

from ..support.samples import call
from ..support.waiting import wait_for

pytestmark = pytest.mark.broker


def consumed_calls(worker) -> float:
    """How many calls ``worker`` has decoded, from its /metrics."""
    total = 0.0
    for line in worker.metrics_text().splitlines():
        if line.startswith("dispatchbus_events_consumed_total{") and 'event_type="CallReceived"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_calls_sent_across_a_rebalance_are_all_routed(bus_settings, start_worker, tmp_path):
    now = datetime.now(timezone.utc)
    calls = iter(call(n, "mental_health" if n % 2 else "fire", now) for n in range(1, 100_000))
    sent: dict[str, ev.CallReceived] = {}
    producer = EventProducer(bus_settings)

    def send(n: int) -> None:
        for _ in range(n):
            c = next(calls)
            sent[c.call_id] = c
            producer.send(catalogue.CAD_CALLS, c)
        producer.flush()

    first = start_worker()
    send(200)
    second_settings = bus_settings.model_copy(
        update={"worker": bus_settings.worker.model_copy(update={"web_port": free_port(), "data_dir": tmp_path / "w2"})}
    )
    second = start_worker(settings=second_settings, wait=False)

    def second_joined() -> bool:
        send(10)  # calls keep arriving while the group rebalances
        if not second.child.running:
            raise AssertionError(f"second worker exited; log:\n{second.log()}")
        return WORKER_READY_LINE in second.log()

    wait_for(second_joined, timeout=90, interval=0.05, what="the second worker to join")
    send(200)

    decisions: dict[str, list[ev.RoutingDecision]] = {}
    with TopicReader(bus_settings, catalogue.DECISIONS) as reader:

        def all_routed() -> bool:
            rec = reader.poll(0.2)
            if rec is not None:
                decisions.setdefault(rec.event.call_id, []).append(rec.event)
            return set(decisions) >= set(sent)

        try:
            wait_for(all_routed, timeout=90, interval=0, what=f"a decision for each of {len(sent)} calls")
        except AssertionError:
            missing = sorted(set(sent) - set(decisions), key=lambda c: int(c[1:]))
            raise AssertionError(f"{len(missing)} of {len(sent)} calls never routed, e.g. {missing[:5]}") from None

    assert set(decisions) == set(sent)
    for call_id, got in decisions.items():
        # At least once: a call handled again after the rebalance repeats the very same decision.
        assert {d.event_id for d in got} == {got[0].event_id}
        assert got[0].causation_id == sent[call_id].event_id
    # Both workers routed calls: the second one took over some of the partitions.
    wait_for(lambda: consumed_calls(second) > 0, timeout=30, what="the second worker to route calls")
    assert consumed_calls(first) > 0
