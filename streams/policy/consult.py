"""Decisions that follow a clinician's or the hotline's consult result."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from dispatchbus.contract.events import CallReceived, RoutingDecision

from . import reasons as rc
from .compiled import CompiledPolicy
from .engine import UnitStatusLookup, Verdict, evaluate, new_decision

_WHO = {"embedded_professional": "the clinician", "external_hotline": "the hotline"}


def consult_decision(
    policy: CompiledPolicy,
    call: CallReceived,
    units: UnitStatusLookup,
    previous: RoutingDecision,
    *,
    result: str,
    trigger_event_id: UUID,
    trigger_time: datetime,
) -> RoutingDecision:
    """The decision that carries out a consult result other than ``resolved_by_phone``.

    ``dispatch_community_responder`` applies the team rule (teams in order, else
    police with ``fallback=True``); ``dispatch_police`` / ``dispatch_ems`` send
    that service; ``refer_hotline`` goes to the hotline when this policy has one
    open for the call type, else the team rule.
    """
    who = _WHO.get(previous.target, previous.target)
    eligible = call.call_type in policy.eligible
    if result == "dispatch_police":
        verdict = Verdict("police", None, (f"{rc.CONSULT_DISPATCH_POLICE}: {who} asked for police",), False, eligible)
    elif result == "dispatch_ems":
        verdict = Verdict("ems", None, (f"{rc.CONSULT_DISPATCH_EMS}: {who} asked for EMS",), False, eligible)
    elif result in ("dispatch_community_responder", "refer_hotline"):
        hotline = policy.option is not None and policy.option.target == "external_hotline"
        use_hotline = result == "refer_hotline" and hotline and previous.target != "external_hotline"
        inner = evaluate(
            policy, call.call_type, call.screening, trigger_time, units,
            exclude={previous.target} if previous.target != "community_responder" else set(),
            skip_option=not use_hotline,
        )
        if result == "refer_hotline":
            first = f"{rc.CONSULT_REFER_HOTLINE}: {who} referred the call to the hotline"
            if inner.target != "external_hotline":
                first += "; the hotline cannot take it, so the team rule applies"
        else:
            first = f"{rc.CONSULT_TEAM_REQUESTED}: {who} asked for a community responder team"
        verdict = Verdict(inner.target, inner.team, (first, *inner.reasons), inner.fallback, inner.eligible)
    else:
        raise ValueError(f"consult result {result!r} needs no new decision")
    return new_decision(
        policy, call, verdict, previous=previous, trigger_event_id=trigger_event_id, trigger_time=trigger_time
    )
