from datetime import timedelta


from dispatchbus.lifecycle.timeline import Timeline
from dispatchbus.lifecycle.timers import PendingIndex, overdue, timed_out_event
from dispatchbus.lifecycle.transitions import Context, apply
from dispatchbus.policy.availability import AvailabilityBook
from tests.support.policies import reference as load_reference_policy

from .scenario import Script


def ctx(model: str = "911-led", book: AvailabilityBook | None = None) -> Context:
    return Context(load_reference_policy(model), book or AvailabilityBook())


def run(events, context):
    tl, all_fx = None, []
    for e in events:
        tl, fx = apply(tl, e, context)
        all_fx.append(fx)
    return tl, all_fx


def test_a_call_is_decided_and_handed_to_the_team_with_a_deadline():
    s = Script()
    tl, [fx] = run([s.call()], ctx())
    [decision] = fx.decisions
    [handoff] = fx.handoffs
    assert (decision.target, decision.team) == ("community_responder", "CRT")
    assert handoff.agency == "community_responder" and handoff.decision_id == decision.event_id
    assert handoff.deadline_at == s.start + timedelta(seconds=120)
    assert tl.status == "waiting" and tl.holder == "community_responder"
    assert tl.call is not None and tl.call.narrative is None, "the timeline never keeps the narrative"


def test_full_responder_path_records_every_hop_latency():
    s = Script()
    c = ctx()
    tl, fx = run([s.call()], c)
    handoff = fx[0].handoffs[0]
    events = [s.accepted(handoff, 30), s.dispatched(60), s.en_route(90), s.on_scene(660), s.cleared(2460)]
    for e in events:
        tl, f = apply(tl, e, c)
        fx.append(f)
    lat = {(l.hop): l.seconds for f in fx for l in f.latencies}
    assert lat == {
        "decided_to_accepted": 30.0,
        "decided_to_dispatched": 60.0,
        "dispatched_to_on_scene": 600.0,
        "received_to_on_scene": 660.0,
        "on_scene_to_cleared": 1800.0,
    }
    assert tl.status == "cleared" and tl.outcome == "resolved_on_scene" and fx[-1].ended
    assert not tl.police_needed
    assert [h.kind for h in tl.hops] == [
        "received", "decided", "handoff_requested", "accepted", "dispatched", "en_route", "on_scene", "cleared"
    ]


def test_clinician_resolves_by_phone_without_a_dispatch():
    s = Script()
    c = ctx("embedded-professional")
    tl, fx = run([s.call()], c)
    handoff = fx[0].handoffs[0]
    assert handoff.agency == "embedded_professional"
    for e in (s.accepted(handoff, 20), s.consult(handoff, 320, "resolved_by_phone")):
        tl, f = apply(tl, e, c)
    assert tl.status == "resolved_by_phone" and f.ended and f.resolved_by_phone == ["embedded_professional"]
    assert [l.hop for l in f.latencies] == ["accepted_to_consult_result"] and f.latencies[0].seconds == 300.0
    assert not f.decisions and not f.handoffs


def test_clinician_asks_for_a_team_and_the_team_rule_applies():
    s = Script()
    c = ctx("embedded-professional")
    tl, fx = run([s.call()], c)
    handoff = fx[0].handoffs[0]
    tl, _ = apply(tl, s.accepted(handoff, 10), c)
    tl, f = apply(tl, s.consult(handoff, 100, "dispatch_community_responder"), c)
    [d] = f.decisions
    assert (d.target, d.team, d.sequence) == ("community_responder", "CRT", 1)
    assert d.supersedes == tl.decisions[0].event_id and d.reasons[0].startswith("consult.team_requested:")
    assert d.decided_at == s.at(100)
    assert f.handoffs[0].agency == "community_responder" and tl.status == "waiting"


def test_hotline_decline_reroutes_with_the_911_led_rule():
    s = Script()
    c = ctx("external-hotline")
    tl, fx = run([s.call()], c)
    handoff = fx[0].handoffs[0]
    assert handoff.agency == "external_hotline"
    assert handoff.location is None and handoff.zone == "Z1", "the hotline gets the zone, not coordinates"
    tl, f = apply(tl, s.declined(handoff, 5, "no_capacity"), c)
    [d] = f.decisions
    assert d.target == "community_responder" and d.fallback and d.reasons[0].startswith("fallback.declined:")
    assert f.declines == [("external_hotline", "no_capacity")]
    assert tl.holder == "community_responder" and tl.status == "waiting"


def test_timeout_reroutes_along_the_fallback_chain_to_police():
    s = Script()
    c = ctx()
    tl, fx = run([s.call()], c)
    assert overdue([tl], s.at(119)) == []
    [timeout] = overdue([tl], s.at(121))
    assert timeout.timed_out_at == s.at(120) and timeout.waited_seconds == 120.0
    tl, f = apply(tl, timeout, c)
    [d] = f.decisions
    assert d.target == "police" and d.fallback and d.reasons[0].startswith("fallback.timed_out:")
    # police took it for want of an answer, not because police were needed
    assert f.timeouts == ["community_responder"] and not tl.police_needed and tl.police_after_no_answer
    # police do not answer either: the CAD is asked again, the call is never without a holder
    [again] = overdue([tl], s.at(241))
    tl, f = apply(tl, again, c)
    assert not f.decisions and len(f.handoffs) == 1 and f.handoffs[0].agency == "police"
    assert tl.pending is not None and tl.pending.attempt == 1 and tl.holder == "police"


def test_duplicates_change_nothing_and_late_replies_are_recorded():
    s = Script()
    c = ctx()
    call = s.call()
    tl, fx = run([call], c)
    handoff = fx[0].handoffs[0]
    same, f = apply(tl, call, c)
    # the last event redelivered (e.g. after a crash): its outputs are offered again, identical
    assert f.duplicate and f.resend and same.to_json() == tl.to_json()
    assert f.decisions == tl.decisions and f.handoffs == [handoff]
    tl, _ = apply(tl, overdue([tl], s.at(500))[0], c)  # timed out: police now pending
    again, f = apply(tl, call, c)
    assert f.duplicate and not f.resend and not f.decisions and not f.handoffs, "older duplicates emit nothing"
    assert again.to_json() == tl.to_json()
    tl, f = apply(tl, s.accepted(handoff, 600), c)  # the team answers too late
    assert f.late and tl.holder == "police" and tl.hops[-1].late


def test_events_before_the_call_are_kept_not_crashing():
    s = Script()
    c = ctx()
    tl, f = apply(None, s.on_scene(5), c)
    assert f.late and tl.status == "unrouted" and tl.hops[0].kind == "before_call"
    tl, f = apply(tl, s.call(), c)
    assert f.decisions and tl.status == "waiting"


def test_police_backup_marks_police_needed():
    s = Script()
    c = ctx()
    tl, fx = run([s.call()], c)
    for e in (s.dispatched(10), s.on_scene(100), s.cleared(200, "police_backup_requested", backup=True)):
        tl, f = apply(tl, e, c)
    assert tl.police_needed and tl.outcome == "police_backup_requested"


def test_waiting_gauges_count_per_agency():
    s1, s2 = Script("A"), Script("B", seed=1)
    c = ctx()
    a, _ = apply(None, s1.call(), c)
    b, _ = apply(None, s2.call("assault"), c)
    index = PendingIndex(["external_hotline"])
    index.update(a)
    index.update(b)
    w = index.waiting(s1.at(30))
    assert w["community_responder"].count == 1 and w["community_responder"].oldest_seconds == 30.0
    assert w["police"].count == 1 and w["external_hotline"].count == 0


def test_timeline_round_trips_through_json_and_view_has_no_narrative():
    s = Script()
    tl, _ = run([s.call()], ctx())
    again = Timeline.from_json(tl.to_json())
    assert again == tl
    view = again.view(s.at(10))
    assert "synthetic secret" not in str(view) and view["waiting_seconds"] == 10.0
    assert timed_out_event(tl).event_id == timed_out_event(again).event_id
