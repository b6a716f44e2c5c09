"""Call safety on the broker: new facts move a call at once, only the addressed agency answers, clocks are checked."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from dispatchbus import catalogue
from dispatchbus.contract import events as ev
from tests.support.samples import screened

from ..support.policies import policy_file
from ..support.topics import TopicWatcher, metric_value
from ..support.waiting import wait_for
from .test_handoffs_live import new_call, reply, send, worker_json

pytestmark = pytest.mark.broker

LONG = 600
"""Every deadline far beyond the test: nothing here may move because a timer fired."""


def long_deadlines(tmp_path):
    return policy_file(tmp_path, community_responder=LONG, police=LONG, ems=LONG, fire=LONG)


def update(call_id, **kw):
    return ev.CallUpdated(event_id=uuid.uuid4(), call_id=call_id, updated_at=datetime.now(timezone.utc), **kw)


def unit_event(kind, call_id, unit="CRT-1", **kw):
    now = datetime.now(timezone.utc)
    if kind == "dispatched":
        return ev.DispatchAssigned(event_id=uuid.uuid4(), call_id=call_id, unit_id=unit, team="CRT",
                                   agency_type="community_responder", assigned_at=now)
    return ev.UnitEnRoute(event_id=uuid.uuid4(), call_id=call_id, unit_id=unit, occurred_at=now)


def test_a_weapon_reported_while_waiting_for_crt_or_while_crt_is_en_route_sends_police_and_stands_crt_down(
    bus_settings, start_worker, tmp_path
):
    worker = start_worker("--policy", str(long_deadlines(tmp_path)))
    with TopicWatcher(bus_settings, catalogue.HANDOFF_RESPONDERS) as responders, \
            TopicWatcher(bus_settings, catalogue.HANDOFF_CAD) as cad, \
            TopicWatcher(bus_settings, catalogue.DECISIONS) as decisions, \
            TopicWatcher(bus_settings, catalogue.ESCALATIONS) as escalations:
        send(bus_settings, catalogue.CAD_CALLS, new_call("WAIT1"), new_call("ROUTE1"))
        requests = {r.call_id: r for r in responders.wait(lambda r: isinstance(r, ev.HandoffRequested), count=2)}
        assert set(requests) == {"WAIT1", "ROUTE1"}
        # ROUTE1's team accepts and drives out; WAIT1's has not answered yet
        send(bus_settings, catalogue.HANDOFF_REPLIES, reply("accepted", requests["ROUTE1"], datetime.now(timezone.utc)))
        send(bus_settings, catalogue.RESPONDER_ACTIVITY, unit_event("dispatched", "ROUTE1"),
             unit_event("en_route", "ROUTE1"))
        wait_for(lambda: worker_json(worker, "/calls/ROUTE1")["status"] == "en_route", what="ROUTE1 en route")

        weapon = {c: update(c, screening=screened(weapon_present=True)) for c in ("WAIT1", "ROUTE1")}
        send(bus_settings, catalogue.CAD_CALLS, *weapon.values())
        police = {r.call_id: r for r in cad.wait(lambda r: isinstance(r, ev.HandoffRequested), count=2)}
        stand_downs = {w.call_id: w for w in responders.wait(lambda r: isinstance(r, ev.HandoffWithdrawn), count=2)}
        moved = {d.call_id: d for d in decisions.wait(lambda d: d.sequence == 1, count=2)}
        assert escalations.drain() == []
    assert set(police) == set(stand_downs) == set(moved) == {"WAIT1", "ROUTE1"}
    for call_id in ("WAIT1", "ROUTE1"):
        assert police[call_id].agency == "police" and "weapon_present" in police[call_id].caution_flags
        assert stand_downs[call_id].handoff_id == requests[call_id].event_id
        assert "weapon_present" in stand_downs[call_id].caution_flags and stand_downs[call_id].code == "gate.weapon"
        # moved by the fact itself, not by a deadline (every deadline is minutes away)
        assert moved[call_id].causation_id == weapon[call_id].event_id
        assert moved[call_id].reasons[0].startswith("gate.weapon")
    view = worker_json(worker, "/calls/ROUTE1")
    assert view["holder"] == "police" and [leg["agency"] for leg in view["legs"]] == ["police"]
    assert metric_value(worker.metrics_text(), "dispatchbus_handoffs_withdrawn_total",
                        agency="community_responder", reason="superseded") == 2


def test_a_reply_from_an_agency_the_call_was_not_handed_to_changes_nothing_and_is_counted(
    bus_settings, start_worker, tmp_path
):
    worker = start_worker("--policy", str(long_deadlines(tmp_path)))
    assert metric_value(worker.metrics_text(), "dispatchbus_events_rejected_total",
                        event_type="HandoffAccepted", reason="wrong_agency") == 0
    with TopicWatcher(bus_settings, catalogue.HANDOFF_RESPONDERS) as responders:
        send(bus_settings, catalogue.CAD_CALLS, new_call("FORGE1"))
        [request] = responders.wait()
    forged = ev.HandoffAccepted(event_id=uuid.uuid4(), call_id="FORGE1", handoff_id=request.event_id,
                                agency="external_hotline", accepted_at=datetime.now(timezone.utc))
    send(bus_settings, catalogue.HANDOFF_REPLIES, forged)
    wait_for(lambda: metric_value(worker.metrics_text(), "dispatchbus_events_rejected_total",
                                  event_type="HandoffAccepted", reason="wrong_agency") == 1,
             what="the refused reply counted")
    view = worker_json(worker, "/calls/FORGE1")
    assert view["status"] == "waiting" and view["holder"] == "community_responder"
    assert view["hops"][-1]["rejected"] == "wrong_agency"


def test_a_backlog_of_five_minutes_before_the_worker_starts_does_not_time_out_fresh_handoffs(
    bus_settings, start_worker, tmp_path
):
    received = datetime.now(timezone.utc) - timedelta(seconds=300)
    calls = [new_call(f"LATE{i}", received_at=received) for i in range(3)]
    send(bus_settings, catalogue.CAD_CALLS, *calls)  # waiting on the topic before any worker runs
    with TopicWatcher(bus_settings, catalogue.HANDOFF_RESPONDERS) as responders, \
            TopicWatcher(bus_settings, catalogue.ESCALATIONS) as escalations:
        started = datetime.now(timezone.utc)
        worker = start_worker("--policy", str(policy_file(tmp_path, community_responder=120)))
        requests = responders.wait(count=len(calls))
        # the deadline timer has looked at them (the gauge it refreshes), and found nothing overdue
        wait_for(lambda: metric_value(worker.metrics_text(), "dispatchbus_calls_waiting",
                                      agency="community_responder") == len(calls),
                 what="the deadline timer's count of waiting calls")
        assert escalations.drain() == []
    for request in requests:
        assert request.requested_at >= started - timedelta(seconds=1)
        assert request.deadline_at == request.requested_at + timedelta(seconds=120)


def test_a_future_dated_call_goes_to_the_cad_for_review_and_leaves_the_digests_intact(
    bus_settings, start_worker, tmp_path
):
    worker = start_worker("--policy", str(long_deadlines(tmp_path)))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    ahead = new_call("FUTURE1", received_at=now + timedelta(days=365))
    with TopicWatcher(bus_settings, catalogue.DECISIONS) as decisions, \
            TopicWatcher(bus_settings, catalogue.HANDOFF_CAD) as cad, \
            TopicWatcher(bus_settings, catalogue.FEEDBACK_DIGESTS) as digests:
        send(bus_settings, catalogue.CAD_CALLS, ahead)
        [decision] = decisions.wait(lambda d: d.call_id == "FUTURE1")
        [review] = cad.wait(lambda r: r.call_id == "FUTURE1")
        assert decision.target == review.agency == "cad_review"
        assert decision.reasons[0].startswith("clock.future_dated")
        closed = lambda call_id, at: ev.CallClosed(event_id=uuid.uuid4(), call_id=call_id, closed_at=at,  # noqa: E731
                                                   disposition="other")
        send(bus_settings, catalogue.CAD_CALLS, closed("FUTURE1", now + timedelta(days=365, minutes=5)))
        wait_for(lambda: metric_value(worker.metrics_text(), "dispatchbus_feedback_dropped_total",
                                      psap="unlisted", reason="future_dated") == 1,
                 what="the future-dated outcome left out of the digests")
        # a call of today still counts in today's window afterwards
        send(bus_settings, catalogue.CAD_CALLS, new_call("TODAY1", received_at=now))
        send(bus_settings, catalogue.CAD_CALLS, closed("TODAY1", now + timedelta(minutes=1)))
        [day] = digests.wait(lambda d: d.window == "day" and d.call_taker_id is None)
    assert day.window_start <= now < day.window_end and day.calls == 1
