"""The external crisis hotline simulator: hours and scope on the request's own time."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from .sim_helpers import ny, request

from dispatchbus import catalogue
from dispatchbus.connectors.simulators import HotlineSimulator, load_config
from dispatchbus.contract.events import ConsultResult, HandoffAccepted, HandoffDeclined


def hotline(**changes) -> HotlineSimulator:
    base = {"no_answer_probability": 0.0, "decline_probability": 0.0}
    return HotlineSimulator(load_config().with_overrides(hotline={**base, **changes}))


def only_decline(emits) -> str:
    assert len(emits) == 1
    event = emits[0].event
    assert isinstance(event, HandoffDeclined) and emits[0].topic is catalogue.HANDOFF_REPLIES
    return event.reason


@pytest.mark.parametrize("call_type", ["noise_complaint", "welfare_check", "assault", "medical"])
def test_declines_out_of_scope_calls_while_open(call_type):
    sim = hotline()
    req = request("external_hotline", call_type=call_type, when=ny(2026, 5, 4, 12))
    emits = sim.handle(req, req.requested_at)
    assert only_decline(emits) == "out_of_scope"
    declined = emits[0].event
    assert declined.handoff_id == req.event_id == declined.causation_id
    assert declined.agency == "external_hotline"
    assert declined.declined_at >= req.requested_at


@pytest.mark.parametrize("hour, minute", [(22, 0), (23, 30), (3, 0), (7, 59)])
def test_declines_in_scope_calls_when_closed(hour, minute):
    sim = hotline()
    req = request("external_hotline", call_type="suicidal_ideation", when=ny(2026, 5, 4, hour, minute))
    assert only_decline(sim.handle(req, req.requested_at)) == "closed"


def test_closed_wins_over_out_of_scope():
    sim = hotline()
    req = request("external_hotline", call_type="noise_complaint", when=ny(2026, 5, 4, 23))
    assert only_decline(sim.handle(req, req.requested_at)) == "closed"


@pytest.mark.parametrize("hour, minute", [(8, 0), (12, 0), (21, 59)])
@pytest.mark.parametrize("call_type", ["mental_health", "suicidal_ideation", "substance_use"])
def test_accepts_in_scope_calls_while_open(hour, minute, call_type):
    sim = hotline()
    req = request("external_hotline", call_type=call_type, when=ny(2026, 5, 4, hour, minute))
    emits = sim.handle(req, req.requested_at)
    assert [type(e.event) for e in emits] == [HandoffAccepted, ConsultResult]
    assert emits[0].event.accepted_at <= emits[1].event.completed_at
    assert all(e.event.handoff_id == req.event_id for e in emits)
    assert emits[1].event.result in {"resolved_by_phone", "dispatch_community_responder", "dispatch_ems", "dispatch_police"}


def test_hours_are_judged_on_the_request_time_not_the_simulators_clock():
    sim = hotline()
    req = request("external_hotline", when=ny(2026, 5, 4, 23))
    # the simulator's own clock says noon, the request says 23:00: closed
    assert only_decline(sim.handle(req, ny(2026, 5, 4, 12))) == "closed"


def test_hours_follow_daylight_saving_time():
    sim = hotline()
    # 02:30 UTC is 22:30 EDT in July (closed) but 21:30 EST in January (open)
    july = request("external_hotline", when=datetime(2026, 7, 1, 2, 30, tzinfo=timezone.utc))
    january = request("external_hotline", when=datetime(2026, 1, 15, 2, 30, tzinfo=timezone.utc))
    assert only_decline(sim.handle(july, july.requested_at)) == "closed"
    assert isinstance(sim.handle(january, january.requested_at)[0].event, HandoffAccepted)


def test_hours_may_pass_midnight():
    sim = hotline(opens="20:00", closes="02:00")
    assert sim.is_open(ny(2026, 5, 4, 23)) and sim.is_open(ny(2026, 5, 5, 1, 59))
    assert not sim.is_open(ny(2026, 5, 5, 2)) and not sim.is_open(ny(2026, 5, 4, 12))


def test_declines_for_capacity_or_leaves_unanswered():
    req = request("external_hotline", when=ny(2026, 5, 4, 12))
    assert only_decline(hotline(decline_probability=1.0).handle(req, req.requested_at)) == "no_capacity"
    assert hotline(no_answer_probability=1.0).handle(req, req.requested_at) == []


def test_a_request_for_another_agency_is_declined():
    req = request("embedded_professional", when=ny(2026, 5, 4, 12))
    assert only_decline(hotline().handle(req, req.requested_at)) == "out_of_scope"
