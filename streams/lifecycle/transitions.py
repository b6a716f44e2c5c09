"""Pure transitions of a call's timeline: (timeline, event, context) -> (timeline, effects).

No Kafka here, and no clock but the one the context hands in. Duplicates (same
``event_id``) change nothing; replies to a handoff that is no longer open are
recorded as late and change nothing else; replies and unit activity from an
agency or unit the call was not handed to are recorded as rejected and change
nothing else; events for a call not yet received are kept on its timeline.

A call is held by one or more *legs* (see :class:`~.timeline.Leg`): one per
agency it was handed to. Every new fact about the call (``CallUpdated``) runs
the safety gate and eligibility again at once; when the answer changes, the
bus decides again, hands the call to whoever is missing and tells whoever must
leave to stand down (``HandoffWithdrawn``); whoever stays is told the new
caution flags (``HandoffUpdated``). See docs/lifecycle.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable
from uuid import UUID

from ..contract import events as ev
from ..policy import reasons as rc
from ..policy.compiled import CAD_REVIEW, DIVERSIONS, CompiledPolicy
from ..policy.consult import consult_decision
from ..policy.engine import (
    UnitStatusLookup,
    Verdict,
    clock_review,
    decide,
    evaluate,
    gate,
    new_decision,
    reroute,
    unknown_restrictions,
)
from ..sharing.agencies import handoff_request, handoff_update, handoff_withdrawal, shared_view
from .timeline import ENDED, LEG_RANK, Hop, Leg, Timeline

CONSULT_AGENCIES = frozenset({"embedded_professional", "external_hotline"})

REJECTIONS: tuple[tuple[str, str], ...] = (
    *((t, "wrong_agency") for t in ("HandoffAccepted", "HandoffDeclined", "HandoffTimedOut", "ConsultResult")),
    ("DispatchAssigned", "not_addressed"),
    ("DispatchAssigned", "unit_not_in_team"),
    *((t, "unit_not_assigned") for t in ("UnitEnRoute", "UnitOnScene", "UnitCleared")),
)
"""Every (event type, reason) an event can be refused for: a bounded set of metrics labels."""


@dataclass(frozen=True)
class Latency:
    """One hop's duration in seconds, from event times."""

    hop: str
    seconds: float
    agency: str
    team: str


@dataclass
class Effects:
    """What a transition asks the outside world to do or count."""

    decisions: list[ev.RoutingDecision] = field(default_factory=list)
    handoffs: list[ev.HandoffRequested] = field(default_factory=list)
    updates: list[ev.HandoffUpdated] = field(default_factory=list)
    withdrawals: list[ev.HandoffWithdrawn] = field(default_factory=list)
    latencies: list[Latency] = field(default_factory=list)
    declines: list[tuple[str, str]] = field(default_factory=list)  # (agency, reason)
    timeouts: list[str] = field(default_factory=list)  # agency
    resolved_by_phone: list[str] = field(default_factory=list)  # agency
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (event type, reason)
    duplicate: bool = False
    resend: bool = False  # a redelivered last event: send its outputs again, count nothing
    late: bool = False
    ended: bool = False


@dataclass(frozen=True)
class Context:
    """The policy and unit statuses a transition may consult, and the bus's clock.

    ``now`` is the wall clock in live mode: handoff deadlines count from it
    (the moment of sending) and the clock rules for a call's own time apply.
    None (event-time mode: simulations, replays, the offline router) counts
    deadlines from the triggering event's time and applies no clock rule.
    """

    policy: CompiledPolicy
    units: UnitStatusLookup
    now: datetime | None = None


def _seconds(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else max(0.0, (end - start).total_seconds())


def _hop(tl: Timeline, event: ev.Event, kind: str, **kw: object) -> Hop:
    hop = Hop(kind=kind, at=event.event_time, event_id=event.event_id, **kw)
    tl.hops.append(hop)
    return hop


def _late(tl: Timeline, event: ev.Event, kind: str, fx: Effects, **kw: object) -> None:
    _hop(tl, event, kind, late=True, **kw)
    fx.late = True


def _reject(tl: Timeline, event: ev.Event, kind: str, reason: str, fx: Effects, **kw: object) -> None:
    """Keep an event from the wrong agency or unit on the timeline; it changes nothing else."""
    _hop(tl, event, kind, late=True, rejected=reason, **kw)
    fx.rejected.append((type(event).__name__, reason))


def _settle(tl: Timeline) -> None:
    """Derive the call's status and holder from its legs."""
    if tl.status in ENDED:
        return
    if tl.legs:
        tl.status = max((leg.state for leg in tl.legs), key=LEG_RANK.__getitem__)  # type: ignore[assignment]
        first = tl.legs[0]
        tl.holder, tl.holder_team = first.agency, first.team


def _replace_leg(tl: Timeline, old: Leg, new: Leg | None) -> None:
    i = tl.legs.index(old)
    if new is None:
        del tl.legs[i]
    else:
        tl.legs[i] = new


def _sent_at(ctx: Context, trigger_time: datetime) -> datetime:
    """When a handoff leaves the bus: now (live), or the trigger's event time (event-time mode)."""
    return ctx.now if ctx.now is not None else trigger_time


def _request(tl: Timeline, decision: ev.RoutingDecision, agency: str, ctx: Context, fx: Effects,
             *, attempt: int = 0, sent_at: datetime) -> Leg:
    """Send ``agency`` a handoff request for ``decision``; returns its new leg."""
    assert tl.call is not None
    timeout = ctx.policy.timeouts.get(agency)
    request = handoff_request(
        tl.call, decision, requested_at=sent_at, timeout_seconds=timeout.seconds if timeout else None,
        attempt=attempt, agency=agency,
    )
    fx.handoffs.append(request)
    tl.hops.append(Hop("handoff_requested", request.requested_at, request.agency, request.team, None,
                       f"attempt {attempt}" if attempt else None, request.event_id))
    return Leg(request.event_id, decision.event_id, agency, request.requested_at, request.team,
               request.deadline_at, attempt)


def _adopt(tl: Timeline, decision: ev.RoutingDecision, ctx: Context, fx: Effects) -> None:
    """Make ``decision`` the one that stands and hand the call to each of its agencies not yet holding it."""
    tl.decisions.append(decision)
    fx.decisions.append(decision)
    # Hops by position (kind, at, agency, team, unit_id, detail, event_id): keywords cost twice as much.
    code = decision.reasons[0].partition(":")[0] if decision.reasons else None
    tl.hops.append(Hop("decided", decision.decided_at, decision.target, decision.team, None, code,
                       decision.event_id))
    sent_at = _sent_at(ctx, decision.decided_at)
    held = {leg.agency for leg in tl.legs}
    for agency in (decision.target, *decision.co_responders):
        if agency not in held:
            tl.legs.append(_request(tl, decision, agency, ctx, fx, sent_at=sent_at))
            held.add(agency)
    if decision.fallback and decision.target == "police" and decision.sequence > 0:
        tl.police_after_no_answer = tl.police_after_no_answer or _fell_for_no_answer(decision)
    _settle(tl)


def _fell_for_no_answer(decision: ev.RoutingDecision) -> bool:
    code = rc.primary_reason_code(decision)
    return code in (rc.FALLBACK_DECLINED, rc.FALLBACK_TIMED_OUT)


def _withdraw(tl: Timeline, leg: Leg, event: ev.Event, fx: Effects, *, reason: str, code: str | None,
              decision: ev.RoutingDecision | None) -> None:
    """Tell ``leg``'s agency to stand down, with the caution flags it may see; the leg ends."""
    assert tl.call is not None
    notice = handoff_withdrawal(
        tl.call, handoff=leg.handoff_id, agency=leg.agency, team=leg.team, trigger=event.event_id,
        at=event.event_time, reason=reason, code=code, decision_id=decision.event_id if decision else None,
    )
    fx.withdrawals.append(notice)
    tl.hops.append(Hop("withdrawn", notice.withdrawn_at, leg.agency, leg.team, None, code or reason,
                       notice.event_id))
    _replace_leg(tl, leg, None)


def _chain_previous(tl: Timeline, leg: Leg) -> ev.RoutingDecision:
    """The last decision of the chain, as seen from ``leg``: the fallback supersedes it, from that leg's hop."""
    last = tl.last_decision
    assert last is not None
    if last.target == leg.agency and last.team == leg.team:
        return last
    return last.trusted_copy(target=leg.agency, team=leg.team)


def _fail_leg(tl: Timeline, leg: Leg, event: ev.HandoffDeclined | ev.HandoffTimedOut, cause: str,
              ctx: Context, fx: Effects) -> None:
    """``leg`` declined or timed out: follow the fallback chain (the next team first), else ask again."""
    assert tl.call is not None
    previous = _chain_previous(tl, leg)
    nxt = reroute(
        ctx.policy, tl.call, ctx.units, previous,
        cause=cause, trigger_event_id=event.event_id, trigger_time=event.event_time,  # type: ignore[arg-type]
        failed_teams=tl.failed_teams(),
    )
    if nxt is not None:
        _replace_leg(tl, leg, None)
        _adopt(tl, nxt, ctx, fx)
        return
    # police, EMS, fire or the CAD's review did not answer: ask again, so the call always has a holder.
    decision = next((d for d in reversed(tl.decisions) if d.event_id == leg.decision_id), tl.last_decision)
    assert decision is not None
    again = _request(tl, decision, leg.agency, ctx, fx, attempt=leg.attempt + 1,
                     sent_at=_sent_at(ctx, event.event_time))
    _replace_leg(tl, leg, again)
    _settle(tl)


def _open_leg(tl: Timeline, event: ev.Event, kind: str, fx: Effects, handoff_id: UUID, agency: str,
              detail: str | None = None, states: tuple[str, ...] = ("waiting",)) -> Leg | None:
    """The leg a reply answers, or None after recording it as late (no such open leg) or rejected."""
    leg = tl.leg_by_handoff(handoff_id)
    if leg is None or leg.state not in states:
        _late(tl, event, kind, fx, agency=agency, detail=detail)
        return None
    if leg.agency != agency:
        _reject(tl, event, kind, "wrong_agency", fx, agency=agency, detail=detail)
        return None
    return leg


def _on_call_received(tl: Timeline, e: ev.CallReceived, ctx: Context, fx: Effects) -> None:
    if tl.call is not None:
        _late(tl, e, "received", fx, detail="call already received")
        return
    tl.call = e.trusted_copy(narrative=None)  # model_copy costs twice as much
    tl.hops.append(Hop("received", e.received_at, None, None, None, e.call_type, e.event_id))
    review = clock_review(ctx.policy, tl.call, ctx.now) if ctx.now is not None else None
    if review is not None:
        tl.clock_suspect = True
        _adopt(tl, review, ctx, fx)
        return
    _adopt(tl, decide(ctx.policy, tl.call, ctx.units), ctx, fx)


def _on_call_updated(tl: Timeline, e: ev.CallUpdated, ctx: Context, fx: Effects) -> None:
    _hop(tl, e, "updated")
    if tl.call is None:
        return
    before = tl.call
    changes = {k: v for k in ("call_type", "screening", "priority") if (v := getattr(e, k)) is not None}
    tl.call = before.model_copy(update=changes)
    if tl.status in ENDED:
        return
    if tl.call.call_type != before.call_type or tl.call.screening != before.screening:
        _reassess(tl, e, ctx, fx)
    _tell_holders(tl, before, e, fx)


def _fits(tl: Timeline, leg: Leg, policy: CompiledPolicy) -> bool:
    """Whether a diversion leg may keep the call as it now stands (no gate firing)."""
    call = tl.call
    assert call is not None
    if call.call_type not in policy.eligible:
        return False
    if leg.agency == "community_responder":
        teams = {t.name for t in policy.teams_by_call_type.get(call.call_type, ())}
        return leg.team in teams and not unknown_restrictions(policy, call.call_type, call.screening)
    option = policy.option
    return option is not None and option.target == leg.agency and call.call_type in option.call_types


def _reassess(tl: Timeline, e: ev.CallUpdated, ctx: Context, fx: Effects) -> None:
    """Run the gate and eligibility again on the updated call; move it at once when the answer changes.

    A gate that now matches hands the call to each of its targets not yet
    holding it. Diversions still waiting for an answer stand down; one already
    engaged (accepted, dispatched, en route, on scene) stands down too unless
    every matching rule says ``engaged: co_respond``. Without a gate, a
    diversion that no longer fits the call (call type no longer eligible, or
    no longer taken by its team or option) stands down while waiting; when no
    leg fits any more, the policy decides again. The bus never sends a call
    back from police, EMS or fire on its own: a human decides that.
    """
    call, policy = tl.call, ctx.policy
    assert call is not None
    last = tl.last_decision
    if last is None:
        return
    gated = gate(policy, call.call_type, call.screening)
    if gated.rules:
        stand_down = any(rule.engaged == "stand_down" for rule in gated.rules)
        leaving = [leg for leg in tl.legs if leg.agency in DIVERSIONS and (leg.waiting or stand_down)]
        held = {leg.agency for leg in tl.legs if leg not in leaving}
        missing = tuple(t for t in gated.targets if t not in held)
        verdict = Verdict(missing[0], None, gated.reasons, False, False, missing[1:]) if missing else None
        code = gated.rules[0].code
    else:
        no_fit = [leg for leg in tl.legs if leg.agency in DIVERSIONS and not _fits(tl, leg, policy)]
        leaving = [leg for leg in no_fit if leg.waiting]  # an engaged one stays: it is there already
        staying = [leg for leg in tl.legs if leg not in leaving]
        anyone_fits = any(leg.agency not in DIVERSIONS or _fits(tl, leg, policy) for leg in staying)
        if not leaving and anyone_fits:
            return
        verdict = None
        if not anyone_fits:
            verdict = evaluate(policy, call.call_type, call.screening, e.updated_at, ctx.units,
                               exclude_teams=tl.failed_teams())
            if all(t in {leg.agency for leg in staying} for t in verdict.targets):
                verdict = None
        code = rc.primary_reason_code(list(verdict.reasons)) if verdict else None
    decision = None
    if verdict is not None:
        decision = new_decision(policy, call, verdict, previous=last, trigger_event_id=e.event_id,
                                trigger_time=e.updated_at)
    for leg in leaving:
        _withdraw(tl, leg, e, fx, reason="superseded", code=code, decision=decision)
    if decision is not None:
        if gated.rules and "police" in (decision.target, *decision.co_responders):
            tl.police_needed = True  # new facts of danger, not an unanswered handoff
        _adopt(tl, decision, ctx, fx)
    _settle(tl)


def _tell_holders(tl: Timeline, before: ev.CallReceived, e: ev.CallUpdated, fx: Effects) -> None:
    """Each leg that was already holding the call hears what changed, as far as its sharing rule allows."""
    call = tl.call
    assert call is not None
    new_handoffs = {h.event_id for h in fx.handoffs}
    for leg in tl.legs:
        if leg.handoff_id in new_handoffs:
            continue
        if shared_view(call, leg.agency) != shared_view(before, leg.agency):
            fx.updates.append(handoff_update(call, handoff=leg.handoff_id, agency=leg.agency, team=leg.team,
                                             trigger=e.event_id, at=e.updated_at))


def _on_call_closed(tl: Timeline, e: ev.CallClosed, ctx: Context, fx: Effects) -> None:
    _hop(tl, e, "closed", detail=e.disposition if e.disposition.isidentifier() else None)
    if tl.status in ENDED:
        return
    if tl.call is not None:
        for leg in list(tl.legs):
            _withdraw(tl, leg, e, fx, reason="call_closed", code=None, decision=None)
    tl.legs = []
    tl.status = "closed"
    tl.ended_at = e.closed_at
    tl.outcome = tl.outcome or "other"
    fx.ended = True


def _on_accepted(tl: Timeline, e: ev.HandoffAccepted, ctx: Context, fx: Effects) -> None:
    leg = _open_leg(tl, e, "accepted", fx, e.handoff_id, e.agency)
    if leg is None:
        return
    _hop(tl, e, "accepted", agency=e.agency, team=leg.team)
    decision = tl.last_decision
    decided_at = decision.decided_at if decision else leg.requested_at
    fx.latencies.append(Latency("decided_to_accepted", _seconds(decided_at, e.accepted_at) or 0.0,
                                leg.agency, leg.team or ""))
    tl.accepted_at = tl.accepted_at or e.accepted_at
    _replace_leg(tl, leg, leg._replace(state="accepted", accepted_at=e.accepted_at))
    _settle(tl)


def _on_declined(tl: Timeline, e: ev.HandoffDeclined, ctx: Context, fx: Effects) -> None:
    leg = _open_leg(tl, e, "declined", fx, e.handoff_id, e.agency, e.reason, states=("waiting", "accepted"))
    if leg is None:
        return
    _hop(tl, e, "declined", agency=e.agency, team=leg.team, detail=e.reason)
    fx.declines.append((e.agency, e.reason))
    _fail_leg(tl, leg, e, "declined", ctx, fx)


def _on_timed_out(tl: Timeline, e: ev.HandoffTimedOut, ctx: Context, fx: Effects) -> None:
    leg = tl.leg_by_handoff(e.handoff_id)
    if leg is None or not leg.waiting:
        return  # answered before the timer fired: nothing to escalate
    if leg.agency != e.agency:
        _reject(tl, e, "timed_out", "wrong_agency", fx, agency=e.agency)
        return
    _hop(tl, e, "timed_out", agency=e.agency, team=leg.team)
    fx.timeouts.append(e.agency)
    _fail_leg(tl, leg, e, "timed_out", ctx, fx)


def _on_consult_result(tl: Timeline, e: ev.ConsultResult, ctx: Context, fx: Effects) -> None:
    leg = _open_leg(tl, e, "consult_result", fx, e.handoff_id, e.agency, e.result, states=("waiting", "accepted"))
    if leg is None:
        return
    if leg.agency not in CONSULT_AGENCIES:
        _reject(tl, e, "consult_result", "wrong_agency", fx, agency=e.agency, detail=e.result)
        return
    assert tl.call is not None
    _hop(tl, e, "consult_result", agency=e.agency, detail=e.result)
    accepted_at = leg.accepted_at or e.completed_at  # a result without an explicit accept implies one
    tl.accepted_at = tl.accepted_at or accepted_at
    fx.latencies.append(Latency("accepted_to_consult_result", _seconds(accepted_at, e.completed_at) or 0.0,
                                e.agency, ""))
    _replace_leg(tl, leg, None)
    if e.result == "resolved_by_phone":
        fx.resolved_by_phone.append(e.agency)
        if not tl.legs:
            tl.status = "resolved_by_phone"
            tl.ended_at = e.completed_at
            tl.outcome = "resolved_by_phone"
            tl.holder, tl.holder_team = e.agency, None
            fx.ended = True
        _settle(tl)
        return
    previous = _chain_previous(tl, leg)
    decision = consult_decision(ctx.policy, tl.call, ctx.units, previous, result=e.result,
                                trigger_event_id=e.event_id, trigger_time=e.completed_at)
    _adopt(tl, decision, ctx, fx)
    if decision.target == "police" and e.result == "dispatch_police":
        tl.police_needed = True


def _on_dispatch(tl: Timeline, e: ev.DispatchAssigned, ctx: Context, fx: Effects) -> None:
    kw = {"agency": e.agency_type, "team": e.team, "unit_id": e.unit_id}
    if tl.status in ENDED:
        _late(tl, e, "dispatched", fx, **kw)
        return
    leg = _leg_for_dispatch(tl, e)
    if leg is None:
        _reject(tl, e, "dispatched", "not_addressed", fx, **kw)
        return
    if leg.team is not None:
        team = next((t for t in ctx.policy.teams if t.name == leg.team), None)
        if (e.team is not None and e.team != leg.team) or (team is not None and e.unit_id not in team.units):
            _reject(tl, e, "dispatched", "unit_not_in_team", fx, **kw)
            return
    _hop(tl, e, "dispatched", **kw)
    tl.accepted_at = tl.accepted_at or e.assigned_at  # a dispatch answers the request implicitly
    if tl.dispatched_at is None:
        tl.dispatched_at = e.assigned_at
        last = tl.last_decision
        if last is not None:
            # the policy's team, never the agency-supplied one: metric labels stay a bounded set
            fx.latencies.append(Latency("decided_to_dispatched", _seconds(last.decided_at, e.assigned_at) or 0.0,
                                        e.agency_type, leg.team or ""))
    state = leg.state if LEG_RANK[leg.state] > LEG_RANK["dispatched"] else "dispatched"
    units = leg.units if e.unit_id in leg.units else (*leg.units, e.unit_id)
    # The CAD's review decides by hand: the leg becomes whatever the CAD dispatched.
    agency = e.agency_type if leg.agency == CAD_REVIEW else leg.agency
    _replace_leg(tl, leg, leg._replace(state=state, units=units, agency=agency,
                                       accepted_at=leg.accepted_at or e.assigned_at))
    _settle(tl)


def _leg_for_dispatch(tl: Timeline, e: ev.DispatchAssigned) -> Leg | None:
    for leg in tl.legs:
        if leg.agency == e.agency_type:
            return leg
    for leg in tl.legs:
        if leg.agency == CAD_REVIEW and e.agency_type != "community_responder":
            return leg
    return None


def _unit_leg(tl: Timeline, e: ev.UnitEnRoute | ev.UnitOnScene | ev.UnitCleared, kind: str,
              fx: Effects, **kw: object) -> Leg | None:
    if tl.status in ENDED:  # units report after the CAD closed the call
        _late(tl, e, kind, fx, unit_id=e.unit_id, **kw)
        return None
    leg = tl.leg_of_unit(e.unit_id)
    if leg is None:
        _reject(tl, e, kind, "unit_not_assigned", fx, unit_id=e.unit_id, **kw)
    return leg


def _advance_leg(tl: Timeline, leg: Leg, state: str) -> None:
    if LEG_RANK[state] > LEG_RANK[leg.state]:
        _replace_leg(tl, leg, leg._replace(state=state))
    _settle(tl)


def _on_en_route(tl: Timeline, e: ev.UnitEnRoute, ctx: Context, fx: Effects) -> None:
    leg = _unit_leg(tl, e, "en_route", fx)
    if leg is None:
        return
    _hop(tl, e, "en_route", unit_id=e.unit_id)
    _advance_leg(tl, leg, "en_route")


def _on_scene(tl: Timeline, e: ev.UnitOnScene, ctx: Context, fx: Effects) -> None:
    leg = _unit_leg(tl, e, "on_scene", fx)
    if leg is None:
        return
    _hop(tl, e, "on_scene", unit_id=e.unit_id)
    if tl.on_scene_at is None:
        tl.on_scene_at = e.occurred_at
        agency, team = leg.agency, leg.team or ""
        if (s := _seconds(tl.dispatched_at, e.occurred_at)) is not None:
            fx.latencies.append(Latency("dispatched_to_on_scene", s, agency, team))
        if tl.call is not None and (s := _seconds(tl.call.received_at, e.occurred_at)) is not None:
            fx.latencies.append(Latency("received_to_on_scene", s, agency, team))
    _advance_leg(tl, leg, "on_scene")


def _on_cleared(tl: Timeline, e: ev.UnitCleared, ctx: Context, fx: Effects) -> None:
    leg = _unit_leg(tl, e, "cleared", fx, detail=e.outcome.category)
    if leg is None:
        return
    _hop(tl, e, "cleared", unit_id=e.unit_id, detail=e.outcome.category)
    backup = e.outcome.police_backup_requested or e.outcome.category == "police_backup_requested"
    if backup:
        tl.police_needed = True
    units = tuple(u for u in leg.units if u != e.unit_id)
    _replace_leg(tl, leg, leg._replace(units=units) if units else None)
    tl.outcome = e.outcome.category
    if backup and leg.agency != "police" and not any(other.agency == "police" for other in tl.legs):
        assert tl.call is not None and tl.last_decision is not None
        verdict = Verdict("police", None, (f"{rc.BACKUP_REQUESTED}: unit {e.unit_id} asked for police backup",),
                          False, tl.call.call_type in ctx.policy.eligible)
        _adopt(tl, new_decision(ctx.policy, tl.call, verdict, previous=tl.last_decision,
                                trigger_event_id=e.event_id, trigger_time=e.cleared_at), ctx, fx)
    if units or tl.legs:
        _settle(tl)
        return
    if (s := _seconds(tl.on_scene_at, e.cleared_at)) is not None:
        fx.latencies.append(Latency("on_scene_to_cleared", s, leg.agency, leg.team or ""))
    tl.holder, tl.holder_team = leg.agency, leg.team
    tl.status = "cleared"
    tl.ended_at = e.cleared_at
    fx.ended = True


_HANDLERS: dict[type, Callable[[Timeline, ev.Event, Context, Effects], None]] = {
    ev.CallReceived: _on_call_received,
    ev.CallUpdated: _on_call_updated,
    ev.CallClosed: _on_call_closed,
    ev.HandoffAccepted: _on_accepted,
    ev.HandoffDeclined: _on_declined,
    ev.HandoffTimedOut: _on_timed_out,
    ev.ConsultResult: _on_consult_result,
    ev.DispatchAssigned: _on_dispatch,
    ev.UnitEnRoute: _on_en_route,
    ev.UnitOnScene: _on_scene,
    ev.UnitCleared: _on_cleared,
}

HANDLED_TYPES: tuple[type[ev.Event], ...] = tuple(_HANDLERS)


def apply(timeline: Timeline | None, event: ev.Event, ctx: Context) -> tuple[Timeline, Effects]:
    """Apply one call event to its timeline; returns the new timeline and the effects to carry out."""
    call_id = getattr(event, "call_id")
    if timeline is None:
        tl = Timeline(call_id=call_id)
    else:
        tl = timeline.evolve()
    fx = Effects()
    event_key = str(event.event_id)
    if tl.has_seen(event_key):
        fx.duplicate = True
        if tl.last_event_id == event_key:
            fx.resend = True
            fx.decisions, fx.handoffs = list(tl.last_decisions), list(tl.last_handoffs)
            fx.updates, fx.withdrawals = list(tl.last_updates), list(tl.last_withdrawals)
            fx.ended = tl.last_ended
        return tl, fx
    tl.mark_seen(event_key)
    if tl.call is None and not isinstance(event, ev.CallReceived):
        _late(tl, event, "before_call", fx, detail=type(event).__name__)
    else:
        _HANDLERS[type(event)](tl, event, ctx, fx)
    tl.last_event_id = event_key
    tl.last_decisions, tl.last_handoffs, tl.last_ended = list(fx.decisions), list(fx.handoffs), fx.ended
    tl.last_updates, tl.last_withdrawals = list(fx.updates), list(fx.withdrawals)
    return tl, fx


def decision_chain(
    policy: CompiledPolicy,
) -> Callable[[ev.CallReceived, list[ev.CallUpdated], UnitStatusLookup], list[ev.RoutingDecision]]:
    """Every decision a call gets from its own event and the updates that follow, in event-time mode.

    The offline router (``dispatchbus route``) uses it for calls with new facts
    in its input, so it makes the decisions the live worker makes of the same
    events.
    """

    def chain(call: ev.CallReceived, updates: list[ev.CallUpdated], units: UnitStatusLookup) -> list[ev.RoutingDecision]:
        ctx = Context(policy, units)
        tl, fx = apply(None, call, ctx)
        decisions = list(fx.decisions)
        for update in updates:
            tl, fx = apply(tl, update, ctx)
            decisions += fx.decisions
        return decisions

    return chain


def orphan_age(tl: Timeline, now: datetime) -> timedelta | None:
    """How long a timeline without its call has existed by its first event's time (None: it has its call)."""
    if tl.call is not None or not tl.hops:
        return None
    return now - min(h.at for h in tl.hops)
