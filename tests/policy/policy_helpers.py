"""Helpers for the routing-policy tests: calls and unit statuses at New York wall times."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from uuid import UUID
from zoneinfo import ZoneInfo

from dispatchbus.contract.events import CallReceived, Screening, UnitStatus
from dispatchbus.policy import AvailabilityBook

NEW_YORK = ZoneInfo("America/New_York")
_ids = itertools.count(1)


def utc(text: str) -> datetime:
    """``2026-05-04T14:00:00`` read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def local(text: str) -> datetime:
    """``2026-05-04T10:00`` read as New York wall time (first occurrence if ambiguous)."""
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK).astimezone(timezone.utc)


def make_call(
    call_type: str,
    when: datetime,
    *,
    call_id: str | None = None,
    narrative: str | None = "caller says the neighbour is Jane Doe at 12 Elm St",
    **screening: bool,
) -> CallReceived:
    """A valid call of ``call_type`` received at ``when`` with the given screening flags."""
    number = next(_ids)
    return CallReceived(
        event_id=UUID(int=number, version=4),
        call_id=call_id or f"T-{number:06d}",
        psap_id="PSAP-1",
        received_at=when,
        call_type=call_type,
        screening={**{flag: False for flag in Screening.model_fields}, **screening},
        location={"lat": 40.7, "lon": -74.0, "zone": "Z01"},
        priority=3,
        narrative=narrative,
    )


def make_status(unit: str, status: str, when: datetime, team: str | None = None) -> UnitStatus:
    """A community responder unit status event."""
    number = next(_ids)
    return UnitStatus(
        event_id=UUID(int=number, version=4),
        unit_id=unit,
        team=team or unit.split("-")[0],
        agency_type="community_responder",
        status=status,
        occurred_at=when,
    )


def book_of(*statuses: UnitStatus) -> AvailabilityBook:
    """A book with these statuses recorded in the given order."""
    book = AvailabilityBook()
    for status in statuses:
        book.record(status)
    return book
