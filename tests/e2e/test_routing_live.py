"""Live routing on the embedded broker: equal to offline `dispatchbus route`; policy hot reload."""

import json
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from importlib import resources

import pytest

from dispatchbus import catalogue
from dispatchbus.kafka.clients import EventProducer
from dispatchbus.contract import events as ev
from dispatchbus.contract.jsonlines import to_json_line
from tests.support.samples import screened

from ..support.topics import TopicWatcher, metric_value
from ..support.waiting import wait_for

pytestmark = pytest.mark.broker

CALL_TYPES = ["mental_health", "noise_complaint", "welfare_check", "assault", "fire", "overdose",
              "trespass", "neighbor_dispute", "theft", "homelessness"]


def scenario(now: datetime) -> tuple[list[ev.UnitStatus], list[ev.CallReceived]]:
    """Unit statuses (some busy) before a mix of calls, all around ``now``."""
    t = now - timedelta(minutes=10)
    statuses = [
        ev.UnitStatus(event_id=uuid.uuid4(), unit_id="CRT-2", team="CRT", agency_type="community_responder",
                      status="available", occurred_at=t - timedelta(minutes=1)),
        ev.UnitStatus(event_id=uuid.uuid4(), unit_id="CRT-1", team="CRT", agency_type="community_responder",
                      status="busy", occurred_at=t),
        ev.UnitStatus(event_id=uuid.uuid4(), unit_id="MRU-1", team="MRU", agency_type="community_responder",
                      status="out_of_service", occurred_at=t),
        ev.UnitStatus(event_id=uuid.uuid4(), unit_id="CRT-2", team="CRT", agency_type="community_responder",
                      status="busy", occurred_at=t + timedelta(minutes=4)),
    ]
    calls = [
        ev.CallReceived(
            event_id=uuid.uuid4(), call_id=f"L{i}", psap_id="PSAP-1", received_at=t + timedelta(minutes=i),
            call_type=ct, screening=screened(weapon_present=(i == 7)),
            location=ev.Location(lat=40.7, lon=-74.0, zone="Z1"), priority=3,
        )
        for i, ct in enumerate(CALL_TYPES)
    ]
    calls += [
        # unknown answers (not asked): not a low-risk type, so no unarmed team
        ev.CallReceived(
            event_id=uuid.uuid4(), call_id="L10", psap_id="PSAP-1", received_at=t + timedelta(minutes=1),
            call_type="mental_health", screening=ev.Screening(medical_emergency=False),
            location=ev.Location(lat=40.7, lon=-74.0, zone="Z1"), priority=3,
        ),
        # co-response: EMS and police at once
        ev.CallReceived(
            event_id=uuid.uuid4(), call_id="L11", psap_id="PSAP-1", received_at=t + timedelta(minutes=2),
            call_type="overdose", screening=screened(weapon_present=True),
            location=ev.Location(lat=40.7, lon=-74.0, zone="Z1"), priority=1,
        ),
    ]
    return statuses, calls


def updates(calls: list[ev.CallReceived]) -> list[ev.CallUpdated]:
    """New facts for two calls: a weapon on the first, a medical emergency on the third."""
    return [
        ev.CallUpdated(event_id=uuid.uuid4(), call_id=calls[0].call_id, updated_at=calls[0].received_at
                       + timedelta(seconds=30), screening=screened(weapon_present=True)),
        ev.CallUpdated(event_id=uuid.uuid4(), call_id=calls[2].call_id, updated_at=calls[2].received_at
                       + timedelta(seconds=30), screening=screened(medical_emergency=True)),
    ]


def offline_route(model: str, lines: list[str]) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "dispatchbus.cli.main", "route", "--model", model],
        input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("model", ["911-led", "external-hotline"])
def test_live_decisions_equal_offline_route(broker, tmp_path, model, start_worker, bus_settings):
    bus_settings.worker.policy_model = model
    worker = start_worker()
    statuses, calls = scenario(datetime.now(timezone.utc))
    producer = EventProducer(bus_settings)
    for s in statuses:
        producer.send(catalogue.UNIT_STATUS, s)
    producer.flush()
    wait_for(lambda: metric_value(worker.metrics_text(), "dispatchbus_events_consumed_total",
                                  topic="responders.unit-status") >= len(statuses),
             what="unit statuses applied")
    for c in calls:
        producer.send(catalogue.CAD_CALLS, c)
    producer.flush()

    with TopicWatcher(bus_settings, catalogue.DECISIONS) as decisions:
        live = decisions.wait(lambda d: d.sequence == 0, count=len(calls), what="first decisions")
    expected = offline_route(model, [to_json_line(e) for e in (*statuses, *calls)])
    assert len(expected) == len(calls)
    live_by_call = {d.call_id: json.loads(to_json_line(d)) for d in live}
    for want in expected:
        assert live_by_call[want["call_id"]] == want
    # the scenario exercises more than one branch of the policy
    assert len({d["target"] for d in expected}) >= 3
    # (the hotline, when open, talks to the caller first and may take it)
    assert live_by_call["L10"]["reasons"][0].startswith(("gate.unknown_screening", "hotline.accepted"))
    assert live_by_call["L11"]["co_responders"] == ["police"]

    # new facts: the decisions that follow are the same in the live worker and in `dispatchbus route`
    news = updates(calls)
    with TopicWatcher(bus_settings, catalogue.DECISIONS) as decisions:
        for u in news:
            producer.send(catalogue.CAD_CALLS, u)
        producer.flush()
        moved = decisions.wait(lambda d: d.sequence == 1, count=len(news), what="decisions on new facts")
    chains = offline_route(model, [to_json_line(e) for e in (*statuses, *calls, *news)])
    want = [d for d in chains if d["sequence"] == 1]
    assert len(want) == len(news) and [d for d in chains if d["sequence"] == 0] == expected
    by_id = lambda d: d["event_id"]  # noqa: E731
    assert sorted((json.loads(to_json_line(d)) for d in moved), key=by_id) == sorted(want, key=by_id)


def test_policy_hot_reload_takes_effect_and_rejects_bad_files(tmp_path, start_worker, bus_settings):
    text = (resources.files("dispatchbus.policy.reference") / "911-led.yaml").read_text()
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    worker = start_worker("--policy", str(policy))
    producer = EventProducer(bus_settings)
    now = datetime.now(timezone.utc)

    def call(n: int) -> ev.CallReceived:
        return ev.CallReceived(
            event_id=uuid.uuid4(), call_id=f"R{n}", psap_id="PSAP-1", received_at=now, call_type="theft",
            screening=screened(), location=ev.Location(lat=1, lon=1, zone="Z"), priority=4,
        )

    with TopicWatcher(bus_settings, catalogue.DECISIONS) as decisions:
        producer.send(catalogue.CAD_CALLS, call(1))
        producer.flush()
        [first] = decisions.wait(lambda d: d.call_id == "R1")
        assert first.policy_version == "1.0.0"

        policy.write_text(text.replace("version: 1.0.0", "version: 1.1.0"))
        wait_for(lambda: metric_value(worker.metrics_text(), "dispatchbus_policy_info", version="1.1.0") == 1,
                 what="policy 1.1.0 in force")
        producer.send(catalogue.CAD_CALLS, call(2))
        producer.flush()
        [second] = decisions.wait(lambda d: d.call_id == "R2")
        assert second.policy_version == "1.1.0"

        policy.write_text(text.replace("version: 1.0.0", "version: 2.0.0").replace("route_to: fire", "route_to: nowhere"))
        wait_for(lambda: metric_value(worker.metrics_text(), "dispatchbus_policy_reloads_total", result="rejected") == 1,
                 what="bad policy rejected")
        producer.send(catalogue.CAD_CALLS, call(3))
        producer.flush()
        [third] = decisions.wait(lambda d: d.call_id == "R3")
        assert third.policy_version == "1.1.0", "a bad policy never reaches the agents"
    assert "policy file" in worker.log() and "rejected" in worker.log()


def test_the_worker_commits_the_offsets_of_the_calls_it_handled(bus_settings, start_worker):
    """The lifecycle's records skip Faust's streams; their acknowledgements must still reach the commits."""
    from confluent_kafka import Consumer, TopicPartition
    from faust.types import TP

    from dispatchbus.runtime.driver import verified_end_offsets

    start_worker()
    _, calls = scenario(datetime.now(timezone.utc))
    producer = EventProducer(bus_settings)
    for c in calls:
        producer.send(catalogue.CAD_CALLS, c)
    producer.flush()
    topic = catalogue.CAD_CALLS.full_name(bus_settings.topics)
    partitions = [TopicPartition(topic, p) for p in range(catalogue.CAD_CALLS.partition_count(bus_settings.topics))]
    # Only reads the group's committed offsets: a consumer that never subscribes does not join the group.
    probe = Consumer(bus_settings.kafka.consumer_config(bus_settings.worker.app_id))
    try:
        reported = {TP(topic, tp.partition): probe.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions}
        ends = {tp.partition: end for tp, end in verified_end_offsets(bus_settings, reported).items()}
        assert sum(ends.values()) == len(calls)

        def committed_to_the_end():
            got = {tp.partition: tp.offset for tp in probe.committed(partitions, timeout=10)}
            return all(got[p] == end for p, end in ends.items() if end > 0)

        wait_for(committed_to_the_end, timeout=60, interval=0.5, what="the committed offsets to reach every call")
    finally:
        probe.close()


def test_a_backlog_far_behind_is_routed_whole_with_its_outputs_held_in_bursts(start_worker, bus_settings):
    """A worker started behind a backlog holds its outputs (lock_switch.HOLD_BATCH_RECORDS); none is lost."""
    from dispatchbus.runtime.lock_switch import HOLD_BATCH_RECORDS

    from ..support.samples import call

    n = HOLD_BATCH_RECORDS * 2
    producer = EventProducer(bus_settings)
    for i in range(n):
        producer.send(catalogue.CAD_CALLS, call(i + 1))
    producer.flush()

    worker = start_worker()
    with TopicWatcher(bus_settings, catalogue.DECISIONS) as decisions:
        decisions.wait(count=n, timeout=120, what="decisions")
        firsts = [d for d in decisions.events if d.sequence == 0]
    assert sorted(d.call_id for d in firsts) == sorted(f"C{i + 1}" for i in range(n))
    assert len({d.event_id for d in firsts}) == n
    assert metric_value(worker.metrics_text(), "dispatchbus_output_holds_total") >= 1
