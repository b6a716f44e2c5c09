"""Call safety: new facts act at once, only the addressed agency moves a call, clocks cannot be trusted blindly."""

from __future__ import annotations

import uuid
from datetime import timedelta

from dispatchbus.contract import events as ev
from dispatchbus.lifecycle.expiry import ExpiryIndex
from dispatchbus.lifecycle.timers import overdue
from dispatchbus.lifecycle.transitions import REJECTIONS, Context, apply
from dispatchbus.policy import AvailabilityBook, load_reference_policy
from dispatchbus.policy.reasons import primary_reason_code
from tests.support.policies import reference
from tests.support.samples import screened

from .scenario import Script


def ctx(model: str = "911-led", **kw) -> Context:
    return Context(reference(model), AvailabilityBook(), **kw)


def run(events, c):
    tl, out = None, []
    for e in events:
        tl, fx = apply(tl, e, c)
        out.append(fx)
    return tl, out


def updated(s: Script, t: float, **kw) -> ev.CallUpdated:
    return ev.CallUpdated(event_id=s._id(), call_id=s.call_id, updated_at=s.at(t), **kw)


def test_a_weapon_reported_while_the_team_is_asked_sends_police_at_once_and_stands_the_team_down():
    s, c = Script(), ctx()
    tl, [fx] = run([s.call("mental_health")], c)
    crt = fx.handoffs[0]
    assert crt.agency == "community_responder"
    tl, fx = apply(tl, updated(s, 20, screening=screened(weapon_present=True)), c)
    [decision] = fx.decisions
    assert decision.target == "police" and primary_reason_code(decision) == "gate.weapon"
    assert decision.supersedes == tl.decisions[0].event_id and decision.sequence == 1
    assert [h.agency for h in fx.handoffs] == ["police"]
    [stand_down] = fx.withdrawals
    assert stand_down.handoff_id == crt.event_id and stand_down.agency == "community_responder"
    assert stand_down.code == "gate.weapon" and "weapon_present" in stand_down.caution_flags
    assert tl.holder == "police" and [leg.agency for leg in tl.legs] == ["police"] and tl.police_needed
    # the team's late acceptance of the withdrawn handoff changes nothing
    tl, fx = apply(tl, s.accepted(crt, 30), c)
    assert fx.late and tl.holder == "police" and tl.pending.agency == "police"


def test_a_weapon_reported_while_the_team_is_en_route_stands_it_down_and_sends_police():
    s, c = Script(), ctx()
    tl, fxs = run([s.call("mental_health")], c)
    crt = fxs[0].handoffs[0]
    tl, _ = run_on(tl, [s.accepted(crt, 10), s.dispatched(20), s.en_route(30)], c)
    assert tl.status == "en_route"
    tl, fx = apply(tl, updated(s, 40, screening=screened(weapon_present=True)), c)
    assert [h.agency for h in fx.handoffs] == ["police"]
    [stand_down] = fx.withdrawals
    assert stand_down.team == "CRT" and "weapon_present" in stand_down.caution_flags
    assert tl.status == "waiting" and tl.holder == "police"
    # the team's unit is no longer on the call: its reports are refused
    tl, fx = apply(tl, s.on_scene(50), c)
    assert fx.rejected == [("UnitOnScene", "unit_not_assigned")] and tl.on_scene_at is None


def test_a_medical_emergency_on_scene_brings_ems_to_the_team_which_stays_and_hears_of_it():
    s, c = Script(), ctx()
    tl, fxs = run([s.call("mental_health")], c)
    crt = fxs[0].handoffs[0]
    tl, _ = run_on(tl, [s.accepted(crt, 10), s.dispatched(20), s.on_scene(300)], c)
    tl, fx = apply(tl, updated(s, 400, screening=screened(medical_emergency=True)), c)
    assert [h.agency for h in fx.handoffs] == ["ems"] and not fx.withdrawals
    [update] = fx.updates
    assert update.handoff_id == crt.event_id and "medical_emergency" in update.caution_flags
    assert sorted(leg.agency for leg in tl.legs) == ["community_responder", "ems"]
    tl, fx = apply(tl, s.cleared(600), c)  # the team leaves; EMS still holds the call
    assert not fx.ended and tl.holder == "ems"
    tl, fx = apply(tl, s.dispatched(610, unit="M-1", team=None, agency="ems"), c)
    tl, fx = apply(tl, s.cleared(900, "transported_to_care", unit="M-1"), c)
    assert fx.ended and tl.outcome == "transported_to_care"


def test_a_call_type_changed_to_fire_goes_to_fire():
    s, c = Script(), ctx()
    tl, _ = run([s.call("welfare_check")], c)
    tl, fx = apply(tl, updated(s, 20, call_type="fire"), c)
    assert [h.agency for h in fx.handoffs] == ["fire"] and fx.withdrawals[0].code == "gate.fire"


def test_an_update_that_changes_no_decision_still_reaches_the_holder():
    s, c = Script(), ctx()
    tl, fxs = run([s.call("mental_health")], c)
    tl, fx = apply(tl, updated(s, 20, priority=1), c)
    assert not fx.decisions and not fx.handoffs and not fx.withdrawals
    [update] = fx.updates
    assert update.priority == 1 and update.handoff_id == fxs[0].handoffs[0].event_id
    tl, fx = apply(tl, updated(s, 30, narrative="the caller's own words"), c)
    assert not fx.updates, "nothing the holder may see changed"


def test_police_are_never_sent_back_by_the_bus_when_the_danger_is_withdrawn():
    s, c = Script(), ctx()
    tl, _ = run([s.call("mental_health", weapon_present=True)], c)
    assert tl.holder == "police"
    tl, fx = apply(tl, updated(s, 20, screening=screened()), c)
    assert not fx.decisions and not fx.withdrawals and tl.holder == "police"


def test_only_the_agency_addressed_can_answer_a_handoff():
    s, c = Script(), ctx()
    tl, fxs = run([s.call("mental_health")], c)
    crt = fxs[0].handoffs[0]
    forged = ev.HandoffAccepted(event_id=s._id(), call_id="C1", handoff_id=crt.event_id, agency="external_hotline",
                                accepted_at=s.at(5))
    before = tl
    tl, fx = apply(tl, forged, c)
    assert fx.rejected == [("HandoffAccepted", "wrong_agency")] and not fx.decisions
    assert tl.legs == before.legs and tl.status == "waiting" and tl.hops[-1].rejected == "wrong_agency"
    assert ("HandoffAccepted", "wrong_agency") in REJECTIONS


def test_a_unit_not_on_the_call_cannot_end_it():
    s, c = Script(), ctx()
    tl, fxs = run([s.call("mental_health")], c)
    tl, _ = run_on(tl, [s.accepted(fxs[0].handoffs[0], 10), s.dispatched(20)], c)
    tl, fx = apply(tl, s.cleared(30, unit="CRT-2"), c)
    assert fx.rejected == [("UnitCleared", "unit_not_assigned")] and not fx.ended and tl.status == "dispatched"
    tl, fx = apply(tl, s.dispatched(40, unit="MRU-1", team="MRU"), c)
    assert fx.rejected == [("DispatchAssigned", "unit_not_in_team")]


def test_a_backup_request_sends_police_instead_of_ending_the_call():
    s, c = Script(), ctx()
    tl, fxs = run([s.call("mental_health")], c)
    tl, _ = run_on(tl, [s.accepted(fxs[0].handoffs[0], 10), s.dispatched(20), s.on_scene(300)], c)
    tl, fx = apply(tl, s.cleared(600, "police_backup_requested", backup=True), c)
    assert not fx.ended and [h.agency for h in fx.handoffs] == ["police"]
    assert primary_reason_code(fx.decisions[0]) == "backup.requested" and tl.police_needed


def test_a_late_dispatch_from_a_team_that_declined_does_not_clear_the_police_deadline():
    s, c = Script(), ctx()
    tl, fxs = run([s.call("mental_health")], c)
    tl, fx = apply(tl, s.declined(fxs[0].handoffs[0], 10, "no_capacity"), c)
    police = fx.handoffs[0]
    assert police.agency == "police"
    tl, fx = apply(tl, s.dispatched(20), c)
    assert fx.rejected == [("DispatchAssigned", "not_addressed")]
    assert tl.pending.handoff_id == police.event_id and tl.pending.deadline_at == police.deadline_at


def test_live_deadlines_count_from_the_moment_of_sending():
    s = Script()
    now = s.at(300)  # the worker sees the call five minutes late (a backlog)
    tl, [fx] = run([s.call("mental_health")], ctx(now=now))
    [request] = fx.handoffs
    assert request.requested_at == now and request.deadline_at == now + timedelta(seconds=120)
    assert overdue([tl], s.at(121)) == [] and overdue([tl], s.at(419)) == []
    [timeout] = overdue([tl], s.at(421))
    assert timeout.waited_seconds == 120.0
    assert tl.decisions[0].decided_at == s.at(0), "the decision stays a function of the events"


def test_a_future_dated_call_goes_to_the_cads_review_and_the_cad_decides():
    s = Script()
    tl, [fx] = run([s.call("mental_health")], ctx(now=s.at(-365 * 86_400)))
    [decision] = fx.decisions
    assert decision.target == "cad_review" and primary_reason_code(decision) == "clock.future_dated"
    assert fx.handoffs[0].agency == "cad_review" and fx.handoffs[0].deadline_at is not None
    assert tl.clock_suspect and not decision.eligible
    tl, fx = apply(tl, s.dispatched(60, unit="P-3", team=None, agency="police"), ctx())
    assert not fx.rejected and tl.holder == "police" and tl.status == "dispatched"


def test_a_call_older_than_the_policy_allows_when_first_seen_is_not_dispatched_again():
    s = Script()
    tl, [fx] = run([s.call("mental_health")], ctx(now=s.at(2 * 3600)))
    assert fx.decisions[0].target == "cad_review" and primary_reason_code(fx.decisions[0]) == "clock.too_old"


def test_an_overdose_with_a_weapon_goes_to_ems_and_police_each_with_its_own_hop():
    s, c = Script(), ctx()
    tl, [fx] = run([s.call("overdose", weapon_present=True)], c)
    [decision] = fx.decisions
    assert (decision.target, decision.co_responders) == ("ems", ["police"])
    assert [h.agency for h in fx.handoffs] == ["ems", "police"]
    assert len({h.event_id for h in fx.handoffs}) == 2 and all(h.deadline_at for h in fx.handoffs)
    tl, f = apply(tl, s.dispatched(30, unit="M-1", team=None, agency="ems"), c)
    tl, f = apply(tl, s.dispatched(35, unit="P-1", team=None, agency="police"), c)
    tl, f = apply(tl, s.cleared(600, "transported_to_care", unit="M-1"), c)
    assert not f.ended, "the call ends when every hop has ended"
    tl, f = apply(tl, s.cleared(700, "other", unit="P-1"), c)
    assert f.ended


def test_unknown_is_not_no():
    s, c = Script(), ctx()
    unknown = ev.Screening(medical_emergency=False, violence_in_progress=False, imminent_danger=False)
    call = s.call("mental_health").model_copy(update={"screening": unknown})
    tl, [fx] = run([call], c)
    assert fx.decisions[0].target == "police" and primary_reason_code(fx.decisions[0]) == "gate.unknown_screening"
    low_risk = Script("C2").call("noise_complaint").model_copy(update={"screening": unknown})
    tl, [fx] = run([low_risk], c)
    assert fx.decisions[0].target == "community_responder"
    assert "weapon_present_unknown" in fx.handoffs[0].caution_flags
    # a clinician, who talks to the caller first, still takes the call
    phone = Script("C3").call("suicidal_ideation").model_copy(update={"screening": unknown})
    tl, [fx] = run([phone], ctx("embedded-professional"))
    assert fx.decisions[0].target == "embedded_professional"


def test_a_declined_team_hands_the_call_to_the_next_team_before_police():
    s = Script(start=s_weekday_noon())
    c = ctx()
    tl, [fx] = run([s.call("noise_complaint")], c)
    assert fx.handoffs[0].team == "MRU"
    tl, fx = apply(tl, s.declined(fx.handoffs[0], 10, "no_capacity"), c)
    [decision] = fx.decisions
    assert (decision.target, decision.team) == ("community_responder", "CRT")
    assert primary_reason_code(decision) == "fallback.declined" and decision.fallback
    tl, fx = apply(tl, s.declined(fx.handoffs[0], 20, "no_capacity"), c)
    assert fx.decisions[0].target == "police" and tl.police_after_no_answer and not tl.police_needed


def test_a_unit_never_heard_from_or_silent_too_long_is_not_available():
    s = Script()
    shipped = load_reference_policy("911-led")
    book = AvailabilityBook()
    book.record(ev.UnitStatus(event_id=uuid.uuid4(), unit_id="CRT-1", team="CRT", agency_type="community_responder",
                              status="available", occurred_at=s.at(-13 * 3600)))
    tl, [fx] = run([s.call("mental_health")], Context(shipped, book))
    reasons = fx.decisions[0].reasons
    assert fx.decisions[0].target == "police"
    assert "skip.CRT: no unit available (CRT-1 status older than 43200 s, CRT-2 no status reported)" in reasons
    book.record(ev.UnitStatus(event_id=uuid.uuid4(), unit_id="CRT-2", team="CRT", agency_type="community_responder",
                              status="available", occurred_at=s.at(-60)))
    tl, [fx] = run([Script("C2").call("mental_health")], Context(shipped, book))
    assert (fx.decisions[0].target, fx.decisions[0].team) == ("community_responder", "CRT")


def test_the_cads_close_stands_down_whoever_still_holds_the_call():
    s, c = Script(), ctx()
    tl, fxs = run([s.call("mental_health")], c)
    tl, fx = apply(tl, s.closed(60), c)
    assert fx.ended and [(w.agency, w.reason) for w in fx.withdrawals] == [("community_responder", "call_closed")]


def test_an_orphan_timeline_expires_like_an_ended_call():
    s, c = Script("ORPHAN"), ctx()
    handoff = type("H", (), {"event_id": uuid.uuid4(), "agency": "community_responder"})()
    tl, _ = run([s.accepted(handoff, 0)], c)
    assert tl.call is None
    index = ExpiryIndex(timedelta(hours=1), 6)
    index.update(tl, 2, now=s.at(10))
    assert index.take_expired(s.at(3500)) == [] and index.take_expired(s.at(3601)) == [("ORPHAN", 2)]
    # an orphan whose call arrives is no longer one
    index.update(tl, 2, now=s.at(10))
    tl, _ = apply(tl, s.call(), c)
    index.update(tl, 2, now=s.at(20))
    assert index.take_expired(s.at(7200)) == []


def test_the_offline_router_and_the_transitions_agree_on_co_response():
    from dispatchbus.contract.jsonlines import to_json_line
    from dispatchbus.policy.offline import route_bytes

    s, c = Script(), ctx()
    call = s.call("overdose", weapon_present=True)
    _, [fx] = run([call], c)
    out: list[str] = []
    route_bytes(c.policy, (to_json_line(call) + "\n").encode(), source="in", write=out.append, report=print)
    assert "".join(out).strip() == to_json_line(fx.decisions[0])


def s_weekday_noon():
    from datetime import datetime, timezone

    return datetime(2026, 5, 4, 16, 0, tzinfo=timezone.utc)  # Monday noon in New York: MRU is in service


def run_on(tl, events, c):
    for e in events:
        tl, _ = apply(tl, e, c)
    return tl, None


def test_a_dispatch_names_the_policys_team_in_its_latency_never_the_agencys():
    s, c = Script(), ctx()
    tl, _ = run([s.call("theft")], c)  # police hold it: any unit of theirs may be dispatched
    tl, fx = apply(tl, s.dispatched(30, unit="P-7", team="made-up-team-" + "x" * 40, agency="police"), c)
    assert not fx.rejected and [(lat.hop, lat.team) for lat in fx.latencies] == [("decided_to_dispatched", "")]
