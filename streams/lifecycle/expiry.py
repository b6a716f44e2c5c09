"""Ended calls leave the calls table after a retention period, so the table does not grow with every call.

The worker keeps an index of its ended calls by the time they may go; its
timer deletes them, which writes a tombstone to the table's changelog. Until
then an ended call stays visible in the views and keeps dropping redelivered
copies of its events.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime, timedelta

from aiokafka.partitioner import murmur2

from .timeline import Timeline


def key_partition(call_id: str, partitions: int) -> int:
    """The partition of a call's records: the Java client's partitioner, which every producer must use."""
    return (murmur2(call_id.encode()) & 0x7FFFFFFF) % partitions


class ExpiryIndex:
    """Ended calls by the time they may be deleted; each is handed out once."""

    def __init__(self, retention: timedelta, partitions: int) -> None:
        self.retention = retention
        self._partitions = partitions
        self._heap: list[tuple[datetime, str]] = []
        self._partition: dict[str, int] = {}  # call_id -> partition of its table record, while indexed

    def __len__(self) -> int:
        return len(self._partition)

    def update(self, timeline: Timeline, partition: int | None = None) -> None:
        """Note ``timeline`` as stored; ``partition`` is where its record went (computed from the key if None)."""
        if not self.retention or not timeline.ended or timeline.ended_at is None:
            return
        if timeline.call_id in self._partition:  # an ended call's end does not move
            return
        self._partition[timeline.call_id] = (
            key_partition(timeline.call_id, self._partitions) if partition is None else partition
        )
        heapq.heappush(self._heap, (timeline.ended_at + self.retention, timeline.call_id))

    def rebuild(self, timelines: Iterable[Timeline | None]) -> None:
        """Start again from every timeline in the table (after a recovery)."""
        self._heap.clear()
        self._partition.clear()
        for timeline in timelines:
            if timeline is not None:
                self.update(timeline)

    def take_expired(self, now: datetime) -> list[tuple[str, int]]:
        """``(call_id, partition)`` of every ended call whose retention is over at ``now``."""
        due = []
        while self._heap and self._heap[0][0] <= now:
            _, call_id = heapq.heappop(self._heap)
            due.append((call_id, self._partition.pop(call_id)))
        return due
