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

from ..contract.events import (
    CallReceived,
    HandoffRequested,
    HandoffUpdated,
    HandoffWithdrawn,
    RoutingDecision,
    Screening,
    utc_millis,
)
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
        # The CAD's own supervisors, reviewing a call the bus would not dispatch automatically.
        "cad_review": frozenset({"call_type", "priority", "location", "zone", "caution_flags"}),
    }
)
"""Call fields each receiving agency may get; everything else stays on the bus."""


UNKNOWN_SUFFIX = "_unknown"
"""Appended to a screening flag whose answer is unknown (``weapon_present_unknown``): responders should ask."""


def caution_flags(screening: Screening) -> list[str]:
    """Names of the screening flags answered yes, then ``<flag>_unknown`` for those not known."""
    yes = [flag for flag in CAUTION_FLAGS if getattr(screening, flag) is True]
    return yes + [flag + UNKNOWN_SUFFIX for flag in CAUTION_FLAGS if getattr(screening, flag) is None]


def handoff_id(decision_id: uuid.UUID, attempt: int = 0, agency: str | None = None) -> uuid.UUID:
    """Deterministic id of the ``attempt``-th handoff request made for a decision (``agency``: a co-responder's)."""
    if agency is None:
        return uuid5(_HANDOFF_NAMESPACE, f"{decision_id}:handoff:{attempt}")
    return uuid5(_HANDOFF_NAMESPACE, f"{decision_id}:handoff:{attempt}:{agency}")


def shared_view(call: CallReceived, agency: str) -> tuple[str, int, tuple[str, ...]]:
    """``(call_type, priority, caution flags)`` as ``agency`` may see them: what an update tells it."""
    flags = caution_flags(call.screening) if "caution_flags" in SHARED_FIELDS[agency] else []
    return call.call_type, call.priority, tuple(flags)


def _notice(call: CallReceived, kind: str, handoff: uuid.UUID, agency: str, team: str | None,
            trigger: uuid.UUID) -> dict:
    """The fields every notice about a held handoff shares; its id is fixed by the trigger and the handoff."""
    return {
        "event_id": uuid5(_HANDOFF_NAMESPACE, f"{trigger}:{kind}:{handoff}"),
        "correlation_id": call.call_id,
        "causation_id": trigger,
        "call_id": call.call_id,
        "handoff_id": handoff,
        "agency": agency,
        "team": team,
        "caution_flags": list(shared_view(call, agency)[2]),
    }


def handoff_update(
    call: CallReceived, *, handoff: uuid.UUID, agency: str, team: str | None, trigger: uuid.UUID, at: datetime
) -> HandoffUpdated:
    """New facts for an agency holding ``handoff``, holding only what that agency may see."""
    return HandoffUpdated(
        **_notice(call, "update", handoff, agency, team, trigger),
        updated_at=at, call_type=call.call_type, priority=call.priority,
    )


def handoff_withdrawal(
    call: CallReceived,
    *,
    handoff: uuid.UUID,
    agency: str,
    team: str | None,
    trigger: uuid.UUID,
    at: datetime,
    reason: str,
    code: str | None,
    decision_id: uuid.UUID | None,
) -> HandoffWithdrawn:
    """The stand-down for an agency's handoff, with the caution flags it may see."""
    return HandoffWithdrawn(
        **_notice(call, "withdraw", handoff, agency, team, trigger),
        withdrawn_at=at, reason=reason, code=code, decision_id=decision_id,
    )


def handoff_request(
    call: CallReceived,
    decision: RoutingDecision,
    *,
    requested_at: datetime,
    timeout_seconds: float | None,
    attempt: int = 0,
    agency: str | None = None,
) -> HandoffRequested:
    """The request sent to ``decision.target`` (or a co-responder ``agency``), holding only what it may see."""
    co_responder = agency is not None and agency != decision.target
    agency = agency or decision.target
    allowed = SHARED_FIELDS[agency]
    requested_at = utc_millis(requested_at)
    # Built without validating again: every value comes from the validated call and decision.
    return HandoffRequested.trusted(
        event_id=handoff_id(decision.event_id, attempt, agency if co_responder else None),
        correlation_id=call.call_id,
        causation_id=decision.event_id,
        call_id=call.call_id,
        decision_id=decision.event_id,
        agency=agency,
        team=None if co_responder else decision.team,
        requested_at=requested_at,
        deadline_at=utc_millis(requested_at + timedelta(seconds=timeout_seconds)) if timeout_seconds else None,
        call_type=call.call_type,
        priority=call.priority,
        location=call.location if "location" in allowed else None,
        zone=call.location.zone if "zone" in allowed else None,
        caution_flags=caution_flags(call.screening) if "caution_flags" in allowed else [],
    )
