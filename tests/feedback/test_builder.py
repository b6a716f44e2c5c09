"""Building a call's OutcomeFeedback from its timeline when it ends."""

from __future__ import annotations

from dispatchbus.contract import events as ev
from dispatchbus.feedback.builder import build_feedback, feedback_id
from dispatchbus.lifecycle.timeline import Timeline

from .calls import UNIT, Call, at, phone_call, responder_call


def hop(kind, agency, s, team=None, code=None):
    return ev.RouteHop(agency=agency, team=team, at=at(s), kind=kind, code=code)


def test_community_responder_call_reports_route_outcome_and_times():
    c = responder_call()
    fb = build_feedback(c.timeline, c.ended_by)
    assert fb == ev.OutcomeFeedback(
        event_id=feedback_id(c.ended_by.event_id),
        correlation_id="C1",
        causation_id=c.ended_by.event_id,
        call_id="C1",
        psap_id="PSAP-1",
        call_taker_id="CT-1",
        call_type="welfare_check",
        received_at=at(0),
        model="911-led",
        first_target="community_responder",
        diverted=True,
        route=[
            hop("decided", "community_responder", 0, "CRT", "team.assigned"),
            hop("accepted", "community_responder", 30, "CRT"),
            hop("dispatched", "community_responder", 60, "CRT"),
            hop("on_scene", "community_responder", 660, "CRT"),
            hop("cleared", "community_responder", 2460, "CRT", "resolved_on_scene"),
        ],
        outcome_category="resolved_on_scene",
        police_needed=False,
        closed_at=at(2460),
        seconds_to_on_scene=660.0,
        seconds_to_close=2460.0,
    )


def test_clinician_resolves_by_phone():
    c = phone_call()
    fb = build_feedback(c.timeline, c.ended_by)
    assert (fb.outcome_category, fb.model, fb.first_target, fb.diverted) == (
        "resolved_by_phone", "embedded-professional", "embedded_professional", True)
    assert fb.route == [
        hop("decided", "embedded_professional", 0, code="clinician.consult"),
        hop("accepted", "embedded_professional", 10),
        hop("consult_result", "embedded_professional", 250, code="resolved_by_phone"),
    ]
    assert fb.seconds_to_on_scene is None and fb.seconds_to_close == 250.0 and not fb.police_needed


def test_backup_requested_means_police_were_needed():
    c = responder_call(category="resolved_on_scene", backup=True)
    assert c.handoff.agency == "police" and c.ended_by.unit_id == "P-1", "the backup request sent police"
    fb = build_feedback(c.timeline, c.ended_by)
    assert fb.police_needed and fb.outcome_category == "resolved_on_scene"


def test_declined_then_police_shows_every_hop():
    c = Call("D1")
    c.feed(c.call("mental_health"))
    c.feed(c.declined(c.handoff, 20, "no_capacity"))
    police = c.handoff
    assert police.agency == "police"
    c.feed(c.dispatched(40, unit="P-9", team=None, agency="police"), c.on_scene(400, unit="P-9"),
           c.cleared(900, "referred_to_services", unit="P-9"))
    fb = build_feedback(c.timeline, c.ended_by)
    assert [(h.kind, h.agency, h.code) for h in fb.route] == [
        ("decided", "community_responder", "team.assigned"),
        ("declined", "community_responder", "no_capacity"),
        ("decided", "police", "fallback.declined"),
        ("dispatched", "police", None),
        ("on_scene", "police", None),
        ("cleared", "police", "referred_to_services"),
    ]
    # police took the call because the team declined: not a call that needed police
    assert fb.first_target == "community_responder" and fb.diverted and not fb.police_needed
    assert fb.police_after_no_answer


def test_a_cad_close_uses_its_disposition_only_when_it_is_a_category():
    for disposition, expected in (("no_contact", "no_contact"), ("done", "other"), ("Gone on arrival", "other")):
        c = Call("K1")
        c.feed(c.call())
        closing = ev.CallClosed(event_id=c._id(), call_id="K1", closed_at=at(300), disposition=disposition)
        c.feed(closing)
        fb = build_feedback(c.timeline, closing)
        assert fb.outcome_category == expected
        assert fb.seconds_to_close == 300.0 and fb.closed_at == at(300)
        assert [(h.kind, h.code) for h in fb.route] == [("decided", "team.assigned"), ("withdrawn", "call_closed")]


def test_the_feedback_id_is_deterministic_per_closing_event():
    a, b = responder_call(), responder_call()
    assert build_feedback(a.timeline, a.ended_by) == build_feedback(b.timeline, b.ended_by)
    other = responder_call(seed=5)
    assert build_feedback(other.timeline, other.ended_by).event_id != build_feedback(a.timeline, a.ended_by).event_id


def test_no_call_no_feedback():
    c = responder_call()
    assert build_feedback(Timeline(call_id="C1"), c.ended_by) is None


def test_unit_ids_are_not_in_the_route():
    c = responder_call()
    fb = build_feedback(c.timeline, c.ended_by)
    assert UNIT not in fb.model_dump_json()
