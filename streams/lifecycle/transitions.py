"""Pure transitions of a call's timeline: (timeline, event, policy, units) -> (timeline, effects).

No wall clock and no Kafka here. Duplicates (same ``event_id``) change nothing;
replies that do not match the pending handoff are recorded as late and change
nothing else; events for a call not yet received are kept on its timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from ..contract import events as ev
from ..policy.compiled import CompiledPolicy
from ..policy.engine import UnitStatusLookup, decide, reroute
from ..policy.consult import consult_decision
from ..sharing.agencies import handoff_request
from .timeline import ENDED, Hop, PendingHandoff, Timeline

_STATUS_RANK = {
    "unrouted": 0,
    "waiting": 1,
    "accepted": 2,
    "dispatched": 3,
    "en_route": 4,
    "on_scene": 5,
}

CONSULT_AGENCIES = frozenset({"embedded_professional", "external_hotline"})


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
    latencies: list[Latency] = field(default_factory=list)
    declines: list[tuple[str, str]] = field(default_factory=list)  # (agency, reason)
    timeouts: list[str] = field(default_factory=list)  # agency
    resolved_by_phone: list[str] = field(default_factory=list)  # agency
    duplicate: bool = False
    resend: bool = False  # a redelivered last event: send its outputs again, count nothing
    late: bool = False
    ended: bool = False


@dataclass(frozen=True)
class Context:
    """The policy and unit statuses a transition may consult."""

    policy: CompiledPolicy
    units: UnitStatusLookup


def _seconds(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else max(0.0, (end - start).total_seconds())


def _hop(tl: Timeline, event: ev.Event, kind: str, **kw: object) -> Hop:
    hop = Hop(kind=kind, at=event.event_time, event_id=event.event_id, **kw)
    tl.hops.append(hop)
    return hop


def _advance(tl: Timeline, status: str) -> None:
    if tl.status in ENDED:
        return
    if _STATUS_RANK.get(status, 99) >= _STATUS_RANK.get(tl.status, 0):
        tl.status = status  # type: ignore[assignment]


def _adopt(tl: Timeline, decision: ev.RoutingDecision, ctx: Context, fx: Effects, attempt: int = 0) -> None:
    """Make ``decision`` the one that stands and ask its agency to take the call."""
    assert tl.call is not None
    timeout = ctx.policy.timeouts.get(decision.target)
    request = handoff_request(
        tl.call,
        decision,
        requested_at=decision.decided_at,
        timeout_seconds=timeout.seconds if timeout else None,
        attempt=attempt,
    )
    if attempt == 0:
        tl.decisions.append(decision)
        fx.decisions.append(decision)
        # Hops by position (kind, at, agency, team, unit_id, detail, event_id): keywords cost twice as much.
        code = decision.reasons[0].partition(":")[0] if decision.reasons else None
        tl.hops.append(Hop("decided", decision.decided_at, decision.target, decision.team, None, code,
                           decision.event_id))
    fx.handoffs.append(request)
    tl.hops.append(Hop("handoff_requested", request.requested_at, request.agency, request.team, None,
                       f"attempt {attempt}" if attempt else None, request.event_id))
    tl.pending = PendingHandoff(
        handoff_id=request.event_id,
        decision_id=decision.event_id,
        agency=decision.target,
        team=decision.team,
        requested_at=request.requested_at,
        deadline_at=request.deadline_at,
        attempt=attempt,
    )
    tl.status = "waiting"
    tl.holder, tl.holder_team = decision.target, decision.team
    if decision.target == "police" and len(tl.decisions) > 1 and decision.eligible:
        tl.police_needed = True


def _fail_pending(
    tl: Timeline, event: ev.HandoffDeclined | ev.HandoffTimedOut, cause: str, ctx: Context, fx: Effects
) -> None:
    """The pending handoff was declined or timed out: follow the fallback chain."""
    assert tl.call is not None and tl.pending is not None
    previous = tl.last_decision
    assert previous is not None
    nxt = reroute(
        ctx.policy, tl.call, ctx.units, previous,
        cause=cause, trigger_event_id=event.event_id, trigger_time=event.event_time,  # type: ignore[arg-type]
    )
    if nxt is not None:
        _adopt(tl, nxt, ctx, fx)
        return
    # police, EMS or fire did not answer: ask the CAD again, so the call always has a holder.
    attempt = tl.pending.attempt + 1
    again = previous.model_copy(update={"decided_at": event.event_time})
    _adopt(tl, again, ctx, fx, attempt=attempt)


def _matches_pending(tl: Timeline, handoff_id: object) -> bool:
    return tl.pending is not None and tl.pending.handoff_id == handoff_id


def _late(tl: Timeline, event: ev.Event, kind: str, fx: Effects, **kw: object) -> None:
    _hop(tl, event, kind, late=True, **kw)
    fx.late = True


def _on_call_received(tl: Timeline, e: ev.CallReceived, ctx: Context, fx: Effects) -> None:
    if tl.call is not None:
        _late(tl, e, "received", fx, detail="call already received")
        return
    tl.call = e.trusted_copy(narrative=None)  # model_copy costs twice as much
    tl.hops.append(Hop("received", e.received_at, None, None, None, e.call_type, e.event_id))
    _adopt(tl, decide(ctx.policy, tl.call, ctx.units), ctx, fx)


def _on_call_updated(tl: Timeline, e: ev.CallUpdated, ctx: Context, fx: Effects) -> None:
    _hop(tl, e, "updated")
    if tl.call is not None:
        changes = {k: v for k in ("call_type", "screening", "priority") if (v := getattr(e, k)) is not None}
        tl.call = tl.call.model_copy(update=changes)


def _on_call_closed(tl: Timeline, e: ev.CallClosed, ctx: Context, fx: Effects) -> None:
    _hop(tl, e, "closed", detail=e.disposition if e.disposition.isidentifier() else None)
    if tl.status in ENDED:
        return
    tl.status = "closed"
    tl.pending = None
    tl.ended_at = e.closed_at
    tl.outcome = tl.outcome or "other"
    fx.ended = True


def _on_accepted(tl: Timeline, e: ev.HandoffAccepted, ctx: Context, fx: Effects) -> None:
    if not _matches_pending(tl, e.handoff_id):
        _late(tl, e, "accepted", fx, agency=e.agency)
        return
    pending = tl.pending
    assert pending is not None
    _hop(tl, e, "accepted", agency=e.agency, team=pending.team)
    decision = tl.last_decision
    decided_at = decision.decided_at if decision else pending.requested_at
    fx.latencies.append(Latency("decided_to_accepted", _seconds(decided_at, e.accepted_at) or 0.0,
                                pending.agency, pending.team or ""))
    tl.pending = None
    tl.accepted_at = e.accepted_at
    tl.accepted_handoff = pending.handoff_id
    tl.holder, tl.holder_team = pending.agency, pending.team
    _advance(tl, "accepted")


def _on_declined(tl: Timeline, e: ev.HandoffDeclined, ctx: Context, fx: Effects) -> None:
    if not _matches_pending(tl, e.handoff_id):
        _late(tl, e, "declined", fx, agency=e.agency, detail=e.reason)
        return
    _hop(tl, e, "declined", agency=e.agency, detail=e.reason)
    fx.declines.append((e.agency, e.reason))
    _fail_pending(tl, e, "declined", ctx, fx)


def _on_timed_out(tl: Timeline, e: ev.HandoffTimedOut, ctx: Context, fx: Effects) -> None:
    if not _matches_pending(tl, e.handoff_id):
        return  # answered before the timer fired: nothing to escalate
    _hop(tl, e, "timed_out", agency=e.agency)
    fx.timeouts.append(e.agency)
    _fail_pending(tl, e, "timed_out", ctx, fx)


def _on_consult_result(tl: Timeline, e: ev.ConsultResult, ctx: Context, fx: Effects) -> None:
    last = tl.last_decision
    answers_pending = _matches_pending(tl, e.handoff_id)
    answers_accepted = tl.status == "accepted" and tl.accepted_handoff == e.handoff_id
    if tl.call is None or last is None or last.target not in CONSULT_AGENCIES or not (
        answers_pending or answers_accepted
    ):
        _late(tl, e, "consult_result", fx, agency=e.agency, detail=e.result)
        return
    _hop(tl, e, "consult_result", agency=e.agency, detail=e.result)
    if answers_pending:  # a result without an explicit accept implies one
        tl.pending = None
        tl.accepted_handoff = e.handoff_id
        tl.accepted_at = tl.accepted_at or e.completed_at
    fx.latencies.append(Latency("accepted_to_consult_result", _seconds(tl.accepted_at, e.completed_at) or 0.0,
                                e.agency, ""))
    if e.result == "resolved_by_phone":
        tl.status = "resolved_by_phone"
        tl.ended_at = e.completed_at
        tl.outcome = "resolved_by_phone"
        tl.holder = e.agency
        fx.resolved_by_phone.append(e.agency)
        fx.ended = True
        return
    decision = consult_decision(ctx.policy, tl.call, ctx.units, last, result=e.result,
                                trigger_event_id=e.event_id, trigger_time=e.completed_at)
    _adopt(tl, decision, ctx, fx)
    if decision.target == "police":
        tl.police_needed = True


def _on_dispatch(tl: Timeline, e: ev.DispatchAssigned, ctx: Context, fx: Effects) -> None:
    _hop(tl, e, "dispatched", agency=e.agency_type, team=e.team, unit_id=e.unit_id)
    if tl.pending is not None:  # a dispatch answers the request implicitly
        tl.accepted_at = tl.accepted_at or e.assigned_at
        tl.pending = None
    if tl.dispatched_at is None:
        tl.dispatched_at = e.assigned_at
        last = tl.last_decision
        if last is not None:
            fx.latencies.append(Latency("decided_to_dispatched", _seconds(last.decided_at, e.assigned_at) or 0.0,
                                        e.agency_type, e.team or ""))
    if e.agency_type == "police" and tl.call is not None and tl.call.call_type in ctx.policy.eligible:
        tl.police_needed = True
    tl.holder, tl.holder_team = e.agency_type, e.team
    _advance(tl, "dispatched")


def _on_en_route(tl: Timeline, e: ev.UnitEnRoute, ctx: Context, fx: Effects) -> None:
    _hop(tl, e, "en_route", unit_id=e.unit_id)
    _advance(tl, "en_route")


def _on_scene(tl: Timeline, e: ev.UnitOnScene, ctx: Context, fx: Effects) -> None:
    _hop(tl, e, "on_scene", unit_id=e.unit_id)
    if tl.on_scene_at is None:
        tl.on_scene_at = e.occurred_at
        agency, team = tl.holder or "", tl.holder_team or ""
        if (s := _seconds(tl.dispatched_at, e.occurred_at)) is not None:
            fx.latencies.append(Latency("dispatched_to_on_scene", s, agency, team))
        if tl.call is not None and (s := _seconds(tl.call.received_at, e.occurred_at)) is not None:
            fx.latencies.append(Latency("received_to_on_scene", s, agency, team))
    _advance(tl, "on_scene")


def _on_cleared(tl: Timeline, e: ev.UnitCleared, ctx: Context, fx: Effects) -> None:
    _hop(tl, e, "cleared", unit_id=e.unit_id, detail=e.outcome.category)
    if e.outcome.police_backup_requested or e.outcome.category == "police_backup_requested":
        tl.police_needed = True
    if tl.status in ENDED:
        return
    if (s := _seconds(tl.on_scene_at, e.cleared_at)) is not None:
        fx.latencies.append(Latency("on_scene_to_cleared", s, tl.holder or "", tl.holder_team or ""))
    tl.status = "cleared"
    tl.ended_at = e.cleared_at
    tl.outcome = e.outcome.category
    tl.pending = None
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
            fx.ended = tl.last_ended
        return tl, fx
    tl.mark_seen(event_key)
    if tl.call is None and not isinstance(event, ev.CallReceived):
        _late(tl, event, "before_call", fx, detail=type(event).__name__)
    else:
        _HANDLERS[type(event)](tl, event, ctx, fx)
    tl.last_event_id = event_key
    tl.last_decisions, tl.last_handoffs, tl.last_ended = list(fx.decisions), list(fx.handoffs), fx.ended
    return tl, fx
