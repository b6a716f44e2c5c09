"""Live handoffs on the embedded broker: reply paths, decline and timeout re-routes, restart, latency."""

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from dispatchbus import catalogue
from dispatchbus.kafka.clients import EventProducer
from dispatchbus.contract import events as ev
from tests.support.samples import screened

from ..support.policies import policy_file
from ..support.topics import TopicWatcher, metric_value, read_partition
from ..support.waiting import wait_for

pytestmark = pytest.mark.broker


def new_call(call_id, call_type="mental_health", received_at=None, **screening):
    return ev.CallReceived(
        event_id=uuid.uuid4(), call_id=call_id, psap_id="PSAP-1",
        received_at=received_at or datetime.now(timezone.utc), call_type=call_type,
        screening=screened(**screening), location=ev.Location(lat=40.7, lon=-74.0, zone="Z4"), priority=2,
        narrative="SYNTHETIC narrative that must stay on the bus",
    )


def send(settings, spec, *events):
    producer = EventProducer(settings)
    for e in events:
        producer.send(spec, e)
    producer.flush()


def reply(kind, handoff, at, **kw):
    common = dict(event_id=uuid.uuid4(), call_id=handoff.call_id, handoff_id=handoff.event_id,
                  agency=handoff.agency, causation_id=handoff.event_id)
    if kind == "accepted":
        return ev.HandoffAccepted(accepted_at=at, **common)
    if kind == "declined":
        return ev.HandoffDeclined(declined_at=at, **common, **kw)
    return ev.ConsultResult(completed_at=at, **common, **kw)


def worker_json(worker, path):
    import urllib.request

    url = f"http://127.0.0.1:{worker.settings.worker.web_port}{path}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def test_team_path_accept_dispatch_on_scene_cleared_with_latencies(bus_settings, start_worker, tmp_path):
    worker = start_worker("--policy", str(policy_file(tmp_path)))
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=50)
    send(bus_settings, catalogue.UNIT_STATUS)  # nothing: every unit available
    call = new_call("H1", "welfare_check", received_at=t0)
    with TopicWatcher(bus_settings, catalogue.HANDOFF_RESPONDERS) as requests:
        send(bus_settings, catalogue.CAD_CALLS, call)
        [handoff] = requests.wait(lambda h: h.call_id == "H1")
    assert handoff.team == "CRT"
    # live: the deadline counts from the moment the handoff was sent, not from the call's own time
    assert handoff.requested_at >= t0 + timedelta(seconds=50)
    assert handoff.deadline_at == handoff.requested_at + timedelta(seconds=120)
    raw = requests.records[0].value
    assert b"SYNTHETIC" not in raw, "the narrative never leaves the bus"

    def at(s):
        return t0 + timedelta(seconds=s)

    unit = f"{handoff.team}-1"
    send(bus_settings, catalogue.HANDOFF_REPLIES, reply("accepted", handoff, at(30)))
    send(
        bus_settings, catalogue.RESPONDER_ACTIVITY,
        ev.DispatchAssigned(event_id=uuid.uuid4(), call_id="H1", unit_id=unit, team=handoff.team,
                            agency_type="community_responder", assigned_at=at(60)),
        ev.UnitEnRoute(event_id=uuid.uuid4(), call_id="H1", unit_id=unit, occurred_at=at(90)),
        ev.UnitOnScene(event_id=uuid.uuid4(), call_id="H1", unit_id=unit, occurred_at=at(660)),
        ev.UnitCleared(event_id=uuid.uuid4(), call_id="H1", unit_id=unit, cleared_at=at(2460),
                       outcome=ev.Outcome(category="referred_to_services")),
    )
    view = wait_for(lambda: (v := worker_json(worker, "/calls/H1"))["status"] == "cleared" and v,
                    what="call H1 cleared")
    assert view["outcome"] == "referred_to_services" and view["holder"] == "community_responder"
    assert [h["kind"] for h in view["hops"]] == [
        "received", "decided", "handoff_requested", "accepted", "dispatched", "en_route", "on_scene", "cleared"
    ]
    assert "narrative" not in json.dumps(view) and "SYNTHETIC" not in json.dumps(view)

    text = worker.metrics_text()
    expected = {
        "decided_to_accepted": 30, "decided_to_dispatched": 60, "dispatched_to_on_scene": 600,
        "received_to_on_scene": 660, "on_scene_to_cleared": 1800,
    }
    for hop, seconds in expected.items():
        labels = dict(hop=hop, model="911-led")
        assert metric_value(text, "dispatchbus_hop_latency_seconds_count", **labels) == 1, hop
        assert metric_value(text, "dispatchbus_hop_latency_seconds_sum", **labels) == seconds, hop
    # bucket placement: 600 s falls in (300, 600], 660 s in (600, 900]
    assert metric_value(text, "dispatchbus_hop_latency_seconds_bucket", hop="dispatched_to_on_scene", le="300.0") == 0
    assert metric_value(text, "dispatchbus_hop_latency_seconds_bucket", hop="dispatched_to_on_scene", le="600.0") == 1
    assert metric_value(text, "dispatchbus_hop_latency_seconds_bucket", hop="received_to_on_scene", le="600.0") == 0
    assert metric_value(text, "dispatchbus_hop_latency_seconds_count", hop="received_to_decided") == 1


def test_clinician_resolves_by_phone(bus_settings, start_worker):
    bus_settings.worker.policy_model = "embedded-professional"
    worker = start_worker()
    now = datetime.now(timezone.utc)
    with TopicWatcher(bus_settings, catalogue.HANDOFF_EMBEDDED) as console:
        send(bus_settings, catalogue.CAD_CALLS, new_call("P1", "suicidal_ideation", received_at=now))
        [handoff] = console.wait(lambda h: h.call_id == "P1")
    send(bus_settings, catalogue.HANDOFF_REPLIES, reply("accepted", handoff, now + timedelta(seconds=10)),
         reply("result", handoff, now + timedelta(seconds=250), result="resolved_by_phone"))
    view = wait_for(lambda: (v := worker_json(worker, "/calls/P1"))["status"] == "resolved_by_phone" and v,
                    what="resolved by phone")
    assert view["outcome"] == "resolved_by_phone" and len(view["decisions"]) == 1
    text = worker.metrics_text()
    assert metric_value(text, "dispatchbus_resolved_by_phone_total", agency="embedded_professional") == 1
    assert metric_value(text, "dispatchbus_hop_latency_seconds_sum", hop="accepted_to_consult_result") == 240


def test_clinician_asks_for_police_and_duplicates_are_dropped(bus_settings, start_worker):
    bus_settings.worker.policy_model = "embedded-professional"
    start_worker()
    now = datetime.now(timezone.utc)
    with TopicWatcher(bus_settings, catalogue.HANDOFF_EMBEDDED) as console, \
            TopicWatcher(bus_settings, catalogue.HANDOFF_CAD) as cad, \
            TopicWatcher(bus_settings, catalogue.DECISIONS) as decisions:
        send(bus_settings, catalogue.CAD_CALLS, new_call("P2", "disturbance", received_at=now))
        [handoff] = console.wait(lambda h: h.call_id == "P2")
        result = reply("result", handoff, now + timedelta(seconds=20), result="dispatch_police")
        send(bus_settings, catalogue.HANDOFF_REPLIES, result, result)  # delivered twice
        [police] = cad.wait(lambda h: h.call_id == "P2")
        assert police.agency == "police" and police.location is not None
        chain = decisions.wait(lambda d: d.call_id == "P2", count=2)
        assert chain[1].reasons[0].startswith("consult.dispatch_police") and chain[1].supersedes == chain[0].event_id
        # the duplicate changed nothing: at most an identical copy of the last outputs (same event ids,
        # offered again in case the first send was lost), never a new decision
        send(bus_settings, catalogue.CAD_CALLS, new_call("P3", "theft", received_at=now))
        decisions.wait(lambda d: d.call_id == "P3")
        p2 = [d for d in decisions.events if d.call_id == "P2"]
        assert {d.event_id for d in p2} == {chain[0].event_id, chain[1].event_id}
        assert all(d == chain[1] for d in p2[2:])


def test_hotline_decline_reroutes_with_911_led_rule(bus_settings, start_worker, tmp_path):
    worker = start_worker("--policy", str(policy_file(tmp_path, "external-hotline")))
    now = datetime.now(timezone.utc)
    with TopicWatcher(bus_settings, catalogue.HANDOFF_HOTLINE) as hotline, \
            TopicWatcher(bus_settings, catalogue.DECISIONS) as decisions:
        send(bus_settings, catalogue.CAD_CALLS, new_call("D1", "substance_use", received_at=now))
        first = decisions.wait(lambda d: d.call_id == "D1")[0]
        assert first.target == "external_hotline"
        [handoff] = hotline.wait(lambda h: h.call_id == "D1")
        assert handoff.location is None and handoff.zone == "Z4"
        send(bus_settings, catalogue.HANDOFF_REPLIES,
             reply("declined", handoff, now + timedelta(seconds=5), reason="no_capacity"))
        [_, second] = decisions.wait(lambda d: d.call_id == "D1", count=2)
    assert second.fallback and second.reasons[0].startswith("fallback.declined")
    assert (second.target, second.team) == ("community_responder", "CRT")
    assert metric_value(worker.metrics_text(), "dispatchbus_handoff_declines_total",
                        agency="external_hotline", reason="no_capacity") == 1


def test_unanswered_handoff_times_out_and_falls_back_to_police(bus_settings, start_worker, tmp_path):
    worker = start_worker("--policy", str(policy_file(tmp_path, community_responder=2, police=600)))
    now = datetime.now(timezone.utc)
    with TopicWatcher(bus_settings, catalogue.ESCALATIONS) as escalations, \
            TopicWatcher(bus_settings, catalogue.DECISIONS) as decisions:
        send(bus_settings, catalogue.CAD_CALLS, new_call("T1", "homelessness", received_at=now))
        first = decisions.wait(lambda d: d.call_id == "T1")[0]
        assert first.target == "community_responder"
        [timeout] = escalations.wait(lambda e: e.call_id == "T1", timeout=30)
        [_, second] = decisions.wait(lambda d: d.call_id == "T1", count=2)
    assert timeout.agency == "community_responder" and timeout.waited_seconds == 2
    assert (second.target, second.fallback) == ("police", True)
    assert second.reasons[0].startswith("fallback.timed_out")
    view = worker_json(worker, "/calls?status=waiting")
    assert [c["call_id"] for c in view["calls"]] == ["T1"] and view["calls"][0]["holder"] == "police"
    text = worker.metrics_text()
    assert metric_value(text, "dispatchbus_handoff_timeouts_total", agency="community_responder") == 1
    wait_for(lambda: metric_value(worker.metrics_text(), "dispatchbus_calls_waiting", agency="police") == 1,
             what="the waiting gauge (refreshed by the deadline timer)")


def test_pending_handoffs_survive_a_restart_and_are_escalated_at_once(bus_settings, start_worker, tmp_path):
    policy = policy_file(tmp_path, community_responder=6, police=6, fire=6, ems=6)
    first = start_worker("--policy", str(policy))
    now = datetime.now(timezone.utc)
    calls = [new_call(f"S{i}", ct, received_at=now) for i, ct in enumerate(["theft", "fire", "assault", "robbery"])]
    with TopicWatcher(bus_settings, catalogue.HANDOFF_CAD) as cad:
        send(bus_settings, catalogue.CAD_CALLS, *calls)
        cad.wait(count=len(calls), what="handoffs to the CAD")
    first.stop()  # before any deadline passes
    wait_for(lambda: datetime.now(timezone.utc) > now + timedelta(seconds=7), interval=0.2, what="deadlines to pass")

    second = start_worker("--policy", str(policy))
    with TopicWatcher(bus_settings, catalogue.ESCALATIONS) as escalations:
        # (a re-escalated request can time out again before all are seen; wait for every call)
        wait_for(lambda: {e.call_id for e in escalations.drain()} == {c.call_id for c in calls},
                 timeout=30, what="an escalation for every call after restart")
    # nothing lost: every call is again waiting on a fresh request to the CAD (attempt 1)
    view = wait_for(lambda: (v := worker_json(second, "/calls?status=waiting"))["calls"]
                    and len(v["calls"]) == len(calls)
                    and all(any(h["kind"] == "timed_out" for h in c["hops"]) for c in v["calls"]) and v,
                    what="recovered timelines")
    assert {c["call_id"] for c in view["calls"]} == {c.call_id for c in calls}


def test_an_ended_call_leaves_the_calls_table_after_its_retention(bus_settings, start_worker):
    import urllib.error

    from dispatchbus.app import create_app
    from dispatchbus.lifecycle.expiry import key_partition

    bus_settings.worker.ended_retention_s = 2
    bus_settings.worker.timer_interval_s = 0.2
    worker = start_worker()
    now = datetime.now(timezone.utc)
    send(bus_settings, catalogue.CAD_CALLS, new_call("E1", received_at=now), new_call("E2", received_at=now))
    wait_for(lambda: len(worker_json(worker, "/calls")["calls"]) == 2, what="both calls in the table")
    wait_for(lambda: metric_value(worker.metrics_text(), "dispatchbus_calls_held") == 2, what="2 calls held")
    send(bus_settings, catalogue.CAD_CALLS, ev.CallClosed(event_id=uuid.uuid4(), call_id="E1",
                                                          closed_at=now, disposition="gone_on_arrival"))
    # a reply for a call the bus never received: an orphan timeline, which expires too (counted when deleted)
    send(bus_settings, catalogue.HANDOFF_REPLIES, ev.HandoffAccepted(
        event_id=uuid.uuid4(), call_id="ORPHAN1", handoff_id=uuid.uuid4(), agency="community_responder",
        accepted_at=now))

    def gone(call_id):
        try:
            worker_json(worker, f"/calls/{call_id}")
        except urllib.error.HTTPError as err:
            return err.code == 404
        return False

    wait_for(lambda: gone("E1"), timeout=30, what="the ended call to expire")
    wait_for(lambda: metric_value(worker.metrics_text(), "dispatchbus_calls_expired_total") == 2, timeout=30,
             what="the orphan held, then expired")
    assert gone("ORPHAN1")
    assert worker_json(worker, "/calls/E2")["status"] == "waiting"  # not ended: kept
    wait_for(lambda: metric_value(worker.metrics_text(), "dispatchbus_calls_held") == 1, what="1 call held")

    # the deletion is in the changelog, so a restarted worker does not bring the call back
    changelog = create_app(bus_settings).calls_table.changelog_topic.get_topic_name()
    records = read_partition(
        bus_settings, changelog, key_partition("E1", catalogue.CALL_PARTITIONS),
        lambda got: any(json.loads(r.key()) == "E1" and r.value() is None for r in got),
        what="E1's tombstone in its changelog partition",
    )
    values = [r.value() for r in records if json.loads(r.key()) == "E1"]
    assert len(values) >= 3 and values[-1] is None  # received, closed, deleted
