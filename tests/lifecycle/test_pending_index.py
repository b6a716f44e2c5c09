"""The deadline timer's index under churn: stale heap entries are dropped and never reported."""

from __future__ import annotations

import dataclasses
import sys
import uuid
from datetime import datetime, timedelta, timezone

from dispatchbus.lifecycle.timeline import PendingHandoff, Timeline
from dispatchbus.lifecycle.timers import PendingIndex

T0 = datetime(2026, 5, 4, 18, 0, tzinfo=timezone.utc)


def waiting(call_id: str, at: datetime, agency: str = "community_responder", wait: int = 120) -> Timeline:
    pending = PendingHandoff(
        handoff_id=uuid.uuid4(), decision_id=uuid.uuid4(), agency=agency,
        requested_at=at, deadline_at=at + timedelta(seconds=wait),
    )
    return Timeline(call_id=call_id, status="waiting", legs=[pending])


def test_heaps_stay_bounded_while_one_old_call_keeps_waiting():
    index = PendingIndex(["community_responder"])
    index.update(waiting("old", T0, wait=86_400))
    for n in range(5000):  # handoffs that are answered right away
        tl = waiting(f"C{n}", T0 + timedelta(seconds=n))
        index.update(tl)
        index.update(dataclasses.replace(tl, legs=[], status="accepted"))
    assert len(index) == 1
    assert len(index._by_request["community_responder"]) <= 2048
    assert len(index._by_deadline) <= 2048
    w = index.waiting(T0 + timedelta(hours=1))["community_responder"]
    assert (w.count, w.oldest_seconds) == (1, 3600.0)
    assert index.take_overdue(T0 + timedelta(hours=2)) == []


def test_a_replaced_handoff_is_reported_by_its_new_deadline_only():
    index = PendingIndex([])
    first = waiting("C1", T0, wait=60)
    index.update(first)
    second = waiting("C1", T0 + timedelta(seconds=30), agency="police", wait=300)
    index.update(second)
    assert index.take_overdue(T0 + timedelta(seconds=100)) == []
    [timeout] = index.take_overdue(T0 + timedelta(seconds=330))
    assert timeout.handoff_id == second.pending.handoff_id and timeout.agency == "police"
    assert index.take_overdue(T0 + timedelta(seconds=400)) == []  # once
    assert index.waiting(T0)["police"].count == 1  # still pending until the timeout comes back


def test_the_index_keeps_the_pending_handoff_not_the_timeline():
    index = PendingIndex([])
    tl = waiting("C1", T0)
    before = sys.getrefcount(tl)
    index.update(tl)
    assert sys.getrefcount(tl) == before, "the index must not keep a call's whole timeline alive"
    [timeout] = index.take_overdue(T0 + timedelta(seconds=120))
    assert (timeout.call_id, timeout.handoff_id) == ("C1", tl.pending.handoff_id)


def test_handoffs_due_at_the_same_instant_escalate_in_the_order_they_were_requested():
    # A burst shares milliseconds; ties are broken by arrival, never by the random handoff ids.
    index = PendingIndex([])
    calls = [f"C{n}" for n in range(200)]
    for call_id in calls:
        index.update(waiting(call_id, T0))
    assert [t.call_id for t in index.take_overdue(T0 + timedelta(seconds=120))] == calls
