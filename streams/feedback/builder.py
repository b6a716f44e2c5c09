"""Build a call's OutcomeFeedback from its timeline when it ends: a pure function.

The feedback's ``event_id`` is a UUIDv5 of the event that ended the call, so a
call processed again after a crash yields the identical feedback and every
consumer (the digests included) can drop the copy.
"""

from __future__ import annotations

import typing
import uuid
from datetime import datetime

from ..contract.events import CallClosed, Event, OutcomeCategory, OutcomeFeedback
from ..contract.ids import uuid5
from ..lifecycle.timeline import Timeline
from ..sharing.call_centers import for_call_center, route_hop

FEEDBACK_NAMESPACE = uuid.UUID("6a0f5f2e-3f57-4c1e-9a3c-2f1d8b7e4c11")

DIVERTED_TARGETS: frozenset[str] = frozenset({"community_responder", "embedded_professional", "external_hotline"})
"""First targets that count as a diversion from police."""

_CATEGORIES = frozenset(typing.get_args(OutcomeCategory))


def feedback_id(closing_event_id: uuid.UUID) -> uuid.UUID:
    """Deterministic id of the feedback sent when the event ``closing_event_id`` ended a call."""
    return uuid5(FEEDBACK_NAMESPACE, f"{closing_event_id}:feedback")


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def outcome_category(timeline: Timeline, closing: Event) -> str:
    """The outcome category: the timeline's, or the CAD's disposition when that is a category."""
    outcome = timeline.outcome if timeline.outcome in _CATEGORIES else "other"
    if outcome == "other" and isinstance(closing, CallClosed) and closing.disposition in _CATEGORIES:
        return closing.disposition
    return outcome


def route(timeline: Timeline) -> list:
    """The call's route as a call center may see it: decisions, answers, dispatches, on scene, cleared."""
    units: dict[str, tuple[str | None, str | None]] = {}
    hops = []
    for h in timeline.hops:
        if h.late:
            continue
        agency, team = h.agency, h.team
        if h.kind == "dispatched" and h.unit_id:
            units[h.unit_id] = (agency, team)
        elif h.kind in ("on_scene", "cleared"):
            agency, team = units.get(h.unit_id or "", (timeline.holder, timeline.holder_team))
        hop = route_hop(h.kind, agency, team, h.at, h.detail)
        if hop is not None:
            hops.append(hop)
    return hops


def build_feedback(timeline: Timeline, closing: Event) -> OutcomeFeedback | None:
    """The feedback for a call that ``closing`` ended; None when the bus never saw the call itself."""
    call = timeline.call
    if call is None:
        return None
    closed_at = timeline.ended_at or closing.event_time
    first = timeline.decisions[0] if timeline.decisions else None
    last = timeline.last_decision
    candidate = {
        "event_id": feedback_id(closing.event_id),
        "correlation_id": call.call_id,
        "causation_id": closing.event_id,
        "call_id": call.call_id,
        "psap_id": call.psap_id,
        "call_taker_id": call.call_taker_id,
        "call_type": call.call_type,
        "received_at": call.received_at,
        "model": last.model if last else None,
        "first_target": first.target if first else None,
        "diverted": bool(first and first.target in DIVERTED_TARGETS),
        "route": route(timeline),
        "outcome_category": outcome_category(timeline, closing),
        "police_needed": timeline.police_needed,
        "police_after_no_answer": timeline.police_after_no_answer,
        "closed_at": closed_at,
        "seconds_to_on_scene": _seconds(call.received_at, timeline.on_scene_at),
        "seconds_to_close": _seconds(call.received_at, closed_at),
    }
    return OutcomeFeedback(**for_call_center(candidate))
