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


class DeadlineScan:
    """One deadline-timer tick over the pending timelines, added one at a time.

    Adding a timeline only counts it and notes its earliest request, so a
    tick over tens of thousands of waiting calls costs a few milliseconds.
    Listed ``agencies`` are reported even when nothing waits for them.
    """

    def __init__(self, now: datetime, agencies: Iterable[str], *, handoff_ids: bool = False) -> None:
        self.now = now
        self._counts: dict[str, int] = {a: 0 for a in agencies}
        self._earliest: dict[str, datetime] = {}
        self._due: list[Timeline] = []
        self.handoff_ids: set[str] = set()
        self._ids = handoff_ids

    def add(self, timeline: Timeline) -> None:
        pending = timeline.pending
        if pending is None:
            return
        agency = pending.agency
        self._counts[agency] = self._counts.get(agency, 0) + 1
        earliest = self._earliest.get(agency)
        if earliest is None or pending.requested_at < earliest:
            self._earliest[agency] = pending.requested_at
        if pending.deadline_at is not None and pending.deadline_at <= self.now:
            self._due.append(timeline)
        if self._ids:
            self.handoff_ids.add(str(pending.handoff_id))

    def waiting(self) -> dict[str, Waiting]:
        """Per agency: how many handoffs wait and the oldest one's age in seconds."""
        out = {}
        for agency, count in self._counts.items():
            earliest = self._earliest.get(agency)
            oldest = 0.0 if earliest is None else max(0.0, (self.now - earliest).total_seconds())
            out[agency] = Waiting(agency, count, oldest)
        return out

    def overdue(self) -> list[HandoffTimedOut]:
        """A timeout event for every added handoff whose deadline has passed, in the order added."""
        return overdue(self._due, self.now)
