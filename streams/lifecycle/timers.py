"""Handoff deadlines: which pending handoffs are overdue, and who is waiting how long.

Pure functions of the timelines and ``now``; the worker passes the wall clock,
tests pass any instant they like.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..contract.events import HandoffTimedOut
from .timeline import Timeline

_TIMEOUT_NAMESPACE = uuid.UUID("a3e4b1f2-6c1d-4f7e-8b0a-5d2c9e1f3b47")


def timed_out_event(tl: Timeline) -> HandoffTimedOut:
    """The ``HandoffTimedOut`` for a timeline's pending handoff (same id however often it is built)."""
    pending = tl.pending
    assert pending is not None and pending.deadline_at is not None
    return HandoffTimedOut(
        event_id=uuid.uuid5(_TIMEOUT_NAMESPACE, str(pending.handoff_id)),
        correlation_id=tl.call_id,
        causation_id=pending.handoff_id,
        call_id=tl.call_id,
        handoff_id=pending.handoff_id,
        agency=pending.agency,  # type: ignore[arg-type]
        timed_out_at=pending.deadline_at,
        waited_seconds=max(0.0, (pending.deadline_at - pending.requested_at).total_seconds()),
    )


def overdue(timelines: Iterable[Timeline], now: datetime) -> list[HandoffTimedOut]:
    """A timeout event for every pending handoff whose deadline is at or before ``now``."""
    return [
        timed_out_event(tl)
        for tl in timelines
        if tl.pending is not None and tl.pending.deadline_at is not None and tl.pending.deadline_at <= now
    ]


@dataclass(frozen=True)
class Waiting:
    """Calls waiting for one agency's answer, and the age of the oldest."""

    agency: str
    count: int
    oldest_seconds: float


def waiting_by_agency(timelines: Iterable[Timeline], now: datetime, agencies: Iterable[str] = ()) -> dict[str, Waiting]:
    """Per agency: how many handoffs wait and the oldest one's age (agencies listed get zeros)."""
    counts: dict[str, int] = {a: 0 for a in agencies}
    oldest: dict[str, float] = {a: 0.0 for a in agencies}
    for tl in timelines:
        waited = tl.waited_seconds(now)
        if waited is None:
            continue
        agency = tl.pending.agency  # type: ignore[union-attr]
        counts[agency] = counts.get(agency, 0) + 1
        oldest[agency] = max(oldest.get(agency, 0.0), waited)
    return {a: Waiting(a, counts[a], oldest[a]) for a in counts}
