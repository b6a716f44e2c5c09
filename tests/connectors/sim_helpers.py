"""Shared helpers of the simulator tests (no Kafka)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from dispatchbus.contract.events import HandoffRequested, Location

NY = ZoneInfo("America/New_York")


def ny(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A New York wall-clock time as an aware datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=NY)


def request(
    agency: str,
    *,
    call_type: str = "mental_health",
    team: str | None = None,
    when: datetime | None = None,
    n: int = 0,
) -> HandoffRequested:
    """A HandoffRequested as the bus would send it."""
    when = when or datetime(2026, 5, 4, 16, 0, tzinfo=timezone.utc)
    return HandoffRequested(
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"test-request-{agency}-{n}"),
        call_id=f"TEST-{n:05d}",
        decision_id=uuid.uuid5(uuid.NAMESPACE_URL, f"test-decision-{n}"),
        agency=agency,
        team=team,
        requested_at=when,
        call_type=call_type,
        priority=3,
        location=Location(lat=39.76, lon=-84.19, zone="Z1-CENTRAL"),
    )


def times(emits) -> list[datetime]:
    return [e.event.event_time for e in emits]
