"""Data-sharing rules: what each receiving agency may see of a call.

Every field that leaves the bus for another agency passes through here. The
rules follow the usual split: the 911 CAD (police, EMS, fire) gets location
and caution flags; clinicians, the hotline and community responders get the
call type, priority, location and caution flags; nobody gets the narrative.
Handoff requests are built only by :func:`handoff_request`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from types import MappingProxyType

from ..contract.events import CallReceived, HandoffRequested, RoutingDecision, Screening, utc_millis
from ..contract.ids import uuid5

_HANDOFF_NAMESPACE = uuid.UUID("0c6f3f0e-8f0a-4a8e-9a55-3b1d7c2e4a90")

CAUTION_FLAGS = tuple(Screening.model_fields)
"""Screening answers that travel as caution flags (responder safety), never as free text."""

SHARED_FIELDS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "police": frozenset({"call_type", "priority", "location", "zone", "caution_flags"}),
        "ems": frozenset({"call_type", "priority", "location", "zone", "caution_flags"}),
        "fire": frozenset({"call_type", "priority", "location", "zone", "caution_flags"}),
        "community_responder": frozenset({"call_type", "priority", "location", "zone", "caution_flags"}),
        "embedded_professional": frozenset({"call_type", "priority", "location", "zone", "caution_flags"}),
        # The hotline calls back; it needs the dispatch zone, not the exact position.
        "external_hotline": frozenset({"call_type", "priority", "zone", "caution_flags"}),
    }
)
"""Call fields each receiving agency may get; everything else stays on the bus."""


def caution_flags(screening: Screening) -> list[str]:
    """Names of the screening flags that are set."""
    return [flag for flag in CAUTION_FLAGS if getattr(screening, flag)]


def handoff_id(decision_id: uuid.UUID, attempt: int = 0) -> uuid.UUID:
    """Deterministic id of the ``attempt``-th handoff request made for a decision."""
    return uuid5(_HANDOFF_NAMESPACE, f"{decision_id}:handoff:{attempt}")


def handoff_request(
    call: CallReceived,
    decision: RoutingDecision,
    *,
    requested_at: datetime,
    timeout_seconds: float | None,
    attempt: int = 0,
) -> HandoffRequested:
    """The request sent to ``decision.target``, holding only what that agency may see."""
    allowed = SHARED_FIELDS[decision.target]
    requested_at = utc_millis(requested_at)
    # Built without validating again: every value comes from the validated call and decision.
    return HandoffRequested.trusted(
        event_id=handoff_id(decision.event_id, attempt),
        correlation_id=call.call_id,
        causation_id=decision.event_id,
        call_id=call.call_id,
        decision_id=decision.event_id,
        agency=decision.target,
        team=decision.team,
        requested_at=requested_at,
        deadline_at=utc_millis(requested_at + timedelta(seconds=timeout_seconds)) if timeout_seconds else None,
        call_type=call.call_type,
        priority=call.priority,
        location=call.location if "location" in allowed else None,
        zone=call.location.zone if "zone" in allowed else None,
        caution_flags=caution_flags(call.screening) if "caution_flags" in allowed else [],
    )
