"""Workers join and leave the group while calls flow: the partitions are shared and no call is lost."""

import signal
from datetime import datetime, timezone

import pytest

from dispatchbus import catalogue
from dispatchbus.dev.embedded_broker import free_port
from dispatchbus.kafka.clients import EventProducer, TopicReader
from dispatchbus.contract import events as ev
from dispatchbus.dev.processes import WORKER_READY_LINE

from ..support.samples import call
from ..support.topics import metric_value
from ..support.waiting import wait_for

pytestmark = pytest.mark.broker


def consumed_calls(worker) -> float:
    """How many calls ``worker`` has decoded, from its /metrics."""
    return metric_value(worker.metrics_text(), "dispatchbus_events_consumed_total", event_type="CallReceived")


class Traffic:
    """Numbered calls sent to cad.calls, and the decisions read back for them."""

    def __init__(self, settings):
        self.settings = settings
        self.now = datetime.now(timezone.utc)
        self.next = 1
        self.sent: dict[str, ev.CallReceived] = {}
        self.producer = EventProducer(settings)

    def send(self, n: int) -> None:
        for _ in range(n):
            c = call(self.next, "mental_health" if self.next % 2 else "fire", self.now)
            self.next += 1
            self.sent[c.call_id] = c
            self.producer.send(catalogue.CAD_CALLS, c)
        self.producer.flush()

    def sending_until(self, condition, what: str) -> None:
        """Keep sending 10 calls every 50 ms until ``condition()``."""

        def step() -> bool:
            self.send(10)
            return condition()

        wait_for(step, timeout=90, interval=0.05, what=what)

    def assert_all_routed_once(self) -> None:
        """Every call sent has a decision; a call handled again repeats the very same decision."""
        decisions: dict[str, list[ev.RoutingDecision]] = {}
        with TopicReader(self.settings, catalogue.DECISIONS) as reader:

            def all_routed() -> bool:
                rec = reader.poll(0.2)
                if rec is not None:
                    decisions.setdefault(rec.event.call_id, []).append(rec.event)
                return set(decisions) >= set(self.sent)

            try:
                wait_for(all_routed, timeout=90, interval=0, what=f"a decision for each of {len(self.sent)} calls")
            except AssertionError:
                missing = set(self.sent) - set(decisions)
                raise AssertionError(
                    f"{len(missing)} of {len(self.sent)} calls never routed; at {self.where(missing)}"
                ) from None
        assert set(decisions) == set(self.sent)
        for call_id, got in decisions.items():
            assert {d.event_id for d in got} == {got[0].event_id}
            assert got[0].causation_id == self.sent[call_id].event_id

    def where(self, call_ids: set[str]) -> str:
        """The cad.calls offsets of ``call_ids``, as ranges per partition (to compare with the workers' logs)."""
        offsets: dict[int, list[int]] = {}
        with TopicReader(self.settings, catalogue.CAD_CALLS) as reader:

            def all_found() -> bool:
                rec = reader.poll(0.2)
                if rec is not None and rec.event.call_id in call_ids:
                    offsets.setdefault(rec.partition, []).append(rec.offset)
                return sum(map(len, offsets.values())) >= len(call_ids)

            wait_for(all_found, timeout=30, interval=0, what="the records of the calls never routed")
        return "; ".join(f"partition {p}: offsets {ranges(sorted(o))}" for p, o in sorted(offsets.items()))


def ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` as ``"1-3, 7"``."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def other_worker_settings(settings, tmp_path):
    """The same group, another web port and data directory."""
    return settings.model_copy(
        update={"worker": settings.worker.model_copy(update={"web_port": free_port(), "data_dir": tmp_path / "w2"})}
    )


def test_calls_sent_while_a_second_worker_joins_are_all_routed(bus_settings, start_worker, tmp_path):
    traffic = Traffic(bus_settings)
    first = start_worker()
    traffic.send(200)
    second = start_worker(settings=other_worker_settings(bus_settings, tmp_path), wait=False)

    def second_joined() -> bool:
        if not second.child.running:
            raise AssertionError(f"second worker exited; log:\n{second.log()}")
        return WORKER_READY_LINE in second.log()

    traffic.sending_until(second_joined, "the second worker to join")
    traffic.send(200)
    traffic.assert_all_routed_once()
    # Both workers routed calls: the second one took over some of the partitions.
    wait_for(lambda: consumed_calls(second) > 0, timeout=30, what="the second worker to route calls")
    assert consumed_calls(first) > 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_calls_sent_while_a_worker_leaves_are_all_routed(bus_settings, start_worker, tmp_path, sig):
    traffic = Traffic(bus_settings)
    first = start_worker()
    second = start_worker(settings=other_worker_settings(bus_settings, tmp_path))
    wait_for(lambda: first.log().count(WORKER_READY_LINE) >= 2, timeout=60,
             what="the first worker to rebalance with the second")
    traffic.send(200)
    wait_for(lambda: consumed_calls(second) > 0, timeout=30, what="the second worker to route calls")
    ready_lines = first.log().count(WORKER_READY_LINE)
    second.stop(sig=sig)
    # The first worker takes the second one's partitions back (after the session timeout when killed).
    traffic.sending_until(lambda: first.log().count(WORKER_READY_LINE) > ready_lines,
                          "the first worker to take over the partitions")
    traffic.send(200)
    traffic.assert_all_routed_once()
