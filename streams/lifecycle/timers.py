"""Handoff deadlines: which pending handoffs are overdue, and who is waiting how long.

Pure functions of the timelines and ``now``, and an index of the pending
handoffs kept up to date by the agent; the worker passes the wall clock, tests
pass any instant they like.
"""

from __future__ import annotations

import heapq
import itertools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..contract.events import HandoffTimedOut
from ..contract.ids import uuid5
from .timeline import PendingHandoff, Timeline

_TIMEOUT_NAMESPACE = uuid.UUID("a3e4b1f2-6c1d-4f7e-8b0a-5d2c9e1f3b47")

_Entry = tuple[datetime, int, uuid.UUID, str]


def timed_out_event(tl: Timeline, leg: PendingHandoff | None = None) -> HandoffTimedOut:
    """The ``HandoffTimedOut`` for a waiting leg (default: the first); the same id however often it is built."""
    leg = leg or tl.pending
    assert leg is not None
    return _timed_out(tl.call_id, leg)


def _timed_out(call_id: str, pending: PendingHandoff) -> HandoffTimedOut:
    assert pending.deadline_at is not None
    return HandoffTimedOut(
        event_id=uuid5(_TIMEOUT_NAMESPACE, str(pending.handoff_id)),
        correlation_id=call_id,
        causation_id=pending.handoff_id,
        call_id=call_id,
        handoff_id=pending.handoff_id,
        agency=pending.agency,  # type: ignore[arg-type]
        timed_out_at=pending.deadline_at,
        waited_seconds=max(0.0, (pending.deadline_at - pending.requested_at).total_seconds()),
    )


def overdue(timelines: Iterable[Timeline], now: datetime) -> list[HandoffTimedOut]:
    """A timeout event for every waiting handoff whose deadline is at or before ``now``."""
    return [
        timed_out_event(tl, leg)
        for tl in timelines
        for leg in tl.waiting_legs
        if leg.deadline_at is not None and leg.deadline_at <= now
    ]


@dataclass(frozen=True)
class Waiting:
    """Calls waiting for one agency's answer, and the age of the oldest."""

    agency: str
    count: int
    oldest_seconds: float


class PendingIndex:
    """The pending handoffs of a calls table, indexed for the deadline timer.

    The agent passes every timeline it stores to :meth:`update`; after a
    rebalance, :meth:`rebuild` reads the recovered table. A timer tick then
    costs O(overdue + log n) instead of a scan of every call: counts per agency
    are kept as they change, and heaps ordered by deadline and by request time
    drop entries whose handoff is no longer pending when they reach the top.
    Listed ``agencies`` are reported even when nothing waits for them.
    """

    def __init__(self, agencies: Iterable[str]) -> None:
        self._agencies = tuple(dict.fromkeys(agencies))
        self._pending: dict[str, dict[uuid.UUID, PendingHandoff]] = {}  # call_id -> its waiting legs by handoff
        self._counts: dict[str, int] = {}
        # Entries (instant, sequence, handoff_id, call_id): the sequence breaks ties between equal
        # instants (a burst shares milliseconds), so heap order never falls back to comparing UUIDs.
        self._by_deadline: list[_Entry] = []
        self._by_request: dict[str, list[_Entry]] = {}
        self._sequence = itertools.count()

    def __len__(self) -> int:
        return sum(self._counts.values())

    def update(self, timeline: Timeline) -> None:
        """Note ``timeline`` as now stored for its call."""
        call_id = timeline.call_id
        new = {leg.handoff_id: leg for leg in timeline.legs if leg.waiting}
        old = self._pending.get(call_id, {})
        if new.keys() == old.keys():  # same handoffs, same deadlines
            return
        for handoff, leg in old.items():
            if handoff not in new:
                self._counts[leg.agency] -= 1
        if new:
            self._pending[call_id] = new
        else:
            self._pending.pop(call_id, None)
        for handoff, leg in new.items():
            if handoff in old:
                continue
            self._counts[leg.agency] = self._counts.get(leg.agency, 0) + 1
            heap = self._by_request.setdefault(leg.agency, [])
            sequence = next(self._sequence)
            heapq.heappush(heap, (leg.requested_at, sequence, leg.handoff_id, call_id))
            if leg.deadline_at is not None:
                heapq.heappush(self._by_deadline, (leg.deadline_at, sequence, leg.handoff_id, call_id))
            self._maybe_compact(heap, leg.agency)

    def rebuild(self, timelines: Iterable[Timeline | None]) -> None:
        """Start again from every timeline in the table (after a recovery)."""
        self._pending.clear()
        self._counts.clear()
        self._by_deadline.clear()
        self._by_request.clear()
        for timeline in timelines:
            if timeline is not None:
                self.update(timeline)

    def _live(self, handoff_id: uuid.UUID, call_id: str) -> PendingHandoff | None:
        return self._pending.get(call_id, {}).get(handoff_id)

    def _maybe_compact(self, heap: list[_Entry], agency: str) -> None:
        # A call waiting for hours keeps stale entries below it from reaching the top; rebuild
        # the heaps from the live entries when stale ones dominate.
        if len(heap) > 1024 and len(heap) > 2 * self._counts.get(agency, 0):
            heap[:] = [e for e in heap if self._live(e[2], e[3]) is not None]
            heapq.heapify(heap)
        if len(self._by_deadline) > 1024 and len(self._by_deadline) > 2 * len(self):
            self._by_deadline[:] = [e for e in self._by_deadline if self._live(e[2], e[3]) is not None]
            heapq.heapify(self._by_deadline)

    def waiting(self, now: datetime) -> dict[str, Waiting]:
        """Per agency: how many handoffs wait and the oldest one's age in seconds at ``now``."""
        out = {}
        for agency in (*self._agencies, *(a for a in self._counts if a not in self._agencies)):
            heap = self._by_request.get(agency, [])
            while heap and self._live(heap[0][2], heap[0][3]) is None:
                heapq.heappop(heap)
            oldest = max(0.0, (now - heap[0][0]).total_seconds()) if heap else 0.0
            out[agency] = Waiting(agency, self._counts.get(agency, 0), oldest)
        return out

    def take_overdue(self, now: datetime) -> list[HandoffTimedOut]:
        """A timeout event for each pending handoff whose deadline is at or before ``now``, once.

        A handoff taken here is not reported again unless :meth:`rebuild` runs
        (after a restart, reporting it again is safe: the event id is the same).
        """
        due = []
        heap = self._by_deadline
        while heap and heap[0][0] <= now:
            _, _, handoff_id, call_id = heapq.heappop(heap)
            pending = self._live(handoff_id, call_id)
            if pending is not None:
                due.append(_timed_out(call_id, pending))
        return due
