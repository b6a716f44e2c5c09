"""Data-minimisation rule: what a call center may learn about how one of its calls ended.

The same style as :mod:`dispatchbus.sharing.agencies` (what each agency may see of a call),
for the way back. Every :class:`~dispatchbus.contract.events.OutcomeFeedback` is
built by :func:`for_call_center` from a candidate mapping: fields not in
:data:`CALL_CENTER_FIELDS` are dropped, route hops keep only
:data:`ROUTE_HOP_FIELDS`, and a hop's ``code`` travels only when it belongs to the
closed set of its step (:data:`ROUTE_STEP_CODES`), so no free text can ride along.

Never shared (:data:`NEVER_SHARED`): the responder's clinical notes, the caller's
narrative, who and where the subject is, the responders' unit ids and the
screening answers. A test fails when :class:`OutcomeFeedback` gains a field this
module has not classified.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ..contract.events import ConsultResolution, DeclineReason, OutcomeCategory, RouteHop, Target, WithdrawReason
from ..policy.reasons import REASON_CODES

CALL_CENTER_FIELDS: frozenset[str] = frozenset(
    {
        # envelope
        "event_id",
        "correlation_id",
        "causation_id",
        # the call, as the call center itself reported it
        "call_id",
        "psap_id",
        "call_taker_id",
        "call_type",
        "received_at",
        # what the bus and the agencies did, as codes and times
        "model",
        "first_target",
        "diverted",
        "route",
        "outcome_category",
        "police_needed",
        "police_after_no_answer",
        "closed_at",
        "seconds_to_on_scene",
        "seconds_to_close",
    }
)
"""OutcomeFeedback fields a call center may receive (everything else is dropped)."""

ROUTE_HOP_FIELDS: frozenset[str] = frozenset({"agency", "team", "at", "kind", "code"})
"""RouteHop fields a call center may receive: who, when, what happened, and a code."""

ROUTE_STEP_CODES: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "decided": frozenset(REASON_CODES),
        "accepted": frozenset(),
        "declined": frozenset(typing.get_args(DeclineReason)),
        "timed_out": frozenset(),
        "consult_result": frozenset(typing.get_args(ConsultResolution)),
        "dispatched": frozenset(),
        "on_scene": frozenset(),
        "cleared": frozenset(typing.get_args(OutcomeCategory)),
        "withdrawn": frozenset(REASON_CODES) | frozenset(typing.get_args(WithdrawReason)),
    }
)
"""The steps of a call's route a call center sees, and the closed set of codes each may carry."""

NEVER_SHARED: MappingProxyType[str, str] = MappingProxyType(
    {
        "notes": "the responder's clinical notes (Outcome.notes) never leave the responder agency",
        "narrative": "the caller's free text never leaves the bus",
        "location": "the subject's whereabouts",
        "lat": "the subject's whereabouts",
        "lon": "the subject's whereabouts",
        "zone": "with call type and time, narrows down who the subject is",
        "unit_id": "identifies the responders on scene",
        "screening": "answers about the subject (weapons, violence, medical state)",
        "caution_flags": "answers about the subject (weapons, violence, medical state)",
        "disposition": "the CAD's own free-text disposition",
        "detail": "timeline details other than the closed codes above",
    }
)
"""Facts the bus holds about a call that no call center receives in feedback, and why."""

_TARGETS = frozenset(typing.get_args(Target))


def route_hop(kind: str, agency: str | None, team: str | None, at: datetime, code: str | None) -> RouteHop | None:
    """One hop as a call center may see it; None for a step or agency it does not see."""
    allowed = ROUTE_STEP_CODES.get(kind)
    if allowed is None or agency not in _TARGETS:
        return None
    hop = {"agency": agency, "team": team, "at": at, "kind": kind, "code": code if code in allowed else None}
    return RouteHop(**{k: v for k, v in hop.items() if k in ROUTE_HOP_FIELDS})


def _minimise_hop(hop: RouteHop | Mapping[str, Any]) -> RouteHop | None:
    data = hop.model_dump() if isinstance(hop, RouteHop) else dict(hop)
    kind = data.get("kind")
    if kind is None:  # a hop from an older producer: agency, team and time only
        return RouteHop(**{k: data.get(k) for k in ("agency", "team", "at")})
    return route_hop(kind, data.get("agency"), data.get("team"), data["at"], data.get("code"))


def for_call_center(candidate: Mapping[str, Any]) -> dict[str, Any]:
    """The allow-listed part of ``candidate``, route hops minimised: the fields of an OutcomeFeedback."""
    shared = {k: v for k, v in candidate.items() if k in CALL_CENTER_FIELDS}
    if "route" in shared:
        shared["route"] = [h for h in (_minimise_hop(x) for x in shared["route"] or []) if h is not None]
    return shared
