"""Ended calls leave the calls table after a retention period, so the table does not grow with every call.

The worker keeps an index of its ended calls by the time they may go; its
timer deletes them, which writes a tombstone to the table's changelog. Until
then an ended call stays visible in the views and keeps dropping redelivered
copies of its events.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from datetime import datetime, timedelta

from aiokafka.partitioner import murmur2

from .timeline import Timeline


def key_partition(call_id: str, partitions: int) -> int:
    """The partition of a call's records: the Java client's partitioner, which every producer must use."""
    return (murmur2(call_id.encode()) & 0x7FFFFFFF) % partitions


class ExpiryIndex:
    """Ended calls, and orphans, by the time they may be deleted; each is handed out once.

    An orphan is a timeline of events for a call the bus never received (a
    reply or unit activity with a wrong or unknown call id): it goes a
    retention period after its first event (or after the bus first saw it,
    when that event claims a later time), unless its call arrives meanwhile.
    """

    def __init__(self, retention: timedelta, partitions: int) -> None:
        self.retention = retention
        self._partitions = partitions
        self._heap: list[tuple[datetime, int, str]] = []  # (due, entry number, call_id)
        self._partition: dict[str, tuple[int, int]] = {}  # call_id -> (partition of its record, entry number)
        self._orphans: set[str] = set()  # indexed call ids that had no call when indexed
        self._entries = itertools.count()

    def __len__(self) -> int:
        return len(self._partition)

    def update(self, timeline: Timeline, partition: int | None = None, now: datetime | None = None) -> None:
        """Note ``timeline`` as stored; ``partition`` is where its record went (computed from the key if None)."""
        if not self.retention:
            return
        call_id = timeline.call_id
        if call_id in self._orphans and timeline.call is not None:  # its call arrived: no longer an orphan
            self._orphans.discard(call_id)
            del self._partition[call_id]
        if call_id in self._partition:  # an ended call's end does not move, nor an orphan's start
            return
        if timeline.ended and timeline.ended_at is not None:
            due = timeline.ended_at + self.retention
        elif timeline.call is None and timeline.hops:
            first = min(h.at for h in timeline.hops)
            due = (min(first, now) if now is not None else first) + self.retention
            self._orphans.add(call_id)
        else:
            return
        entry = next(self._entries)
        self._partition[call_id] = (key_partition(call_id, self._partitions) if partition is None else partition, entry)
        heapq.heappush(self._heap, (due, entry, call_id))

    def rebuild(self, timelines: Iterable[Timeline | None], now: datetime | None = None) -> None:
        """Start again from every timeline in the table (after a recovery)."""
        self._heap.clear()
        self._partition.clear()
        self._orphans.clear()
        for timeline in timelines:
            if timeline is not None:
                self.update(timeline, now=now)

    def take_expired(self, now: datetime) -> list[tuple[str, int]]:
        """``(call_id, partition)`` of every ended call or orphan whose retention is over at ``now``."""
        due = []
        while self._heap and self._heap[0][0] <= now:
            _, entry, call_id = heapq.heappop(self._heap)
            indexed = self._partition.get(call_id)
            if indexed is None or indexed[1] != entry:  # an orphan whose call arrived: a stale entry
                continue
            del self._partition[call_id]
            self._orphans.discard(call_id)
            due.append((call_id, indexed[0]))
        return due
