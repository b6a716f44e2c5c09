"""Tumbling day and week windows in a PSAP's local time, assigned by event time.

A call belongs to the window holding the moment it was *received* (the event
time carried in its feedback), however late its outcome arrives. Days are
local calendar days (DST-aware: 23 or 25 hours on the change days) and weeks
start on Monday 00:00 local time, so a digest reads like the call center's
own calendar rather than like epoch-aligned UTC buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

WINDOWS = ("day", "week")


@dataclass(frozen=True)
class Window:
    """One tumbling window: ``kind`` day or week, starting on local date ``first_day``."""

    kind: str
    first_day: date
    start: datetime  # UTC
    end: datetime  # UTC, exclusive

    @property
    def label(self) -> str:
        return self.first_day.isoformat()


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def local_date(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def window_starting(kind: str, first_day: date, tz: ZoneInfo) -> Window:
    """The ``kind`` window that starts on local date ``first_day``."""
    length = 1 if kind == "day" else 7
    return Window(kind, first_day, _midnight(first_day, tz), _midnight(first_day + timedelta(days=length), tz))


def window_of(kind: str, at: datetime, tz: ZoneInfo) -> Window:
    """The ``kind`` window holding the instant ``at``."""
    day = local_date(at, tz)
    if kind == "week":
        day -= timedelta(days=day.weekday())
    return window_starting(kind, day, tz)


def window_on(kind: str, day: date, tz: ZoneInfo) -> Window:
    """The ``kind`` window holding local date ``day``."""
    if kind == "week":
        day -= timedelta(days=day.weekday())
    return window_starting(kind, day, tz)
