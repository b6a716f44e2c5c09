"""Weekly opening hours on local wall time: parsing ``"09:00-21:00"`` and lookups.

Hours are given per weekday as ``HH:MM-HH:MM`` ranges, start inclusive, end
exclusive (``24:00`` is allowed as an end). A day may hold several ranges; a
missing day is closed. ``daily``, ``weekdays`` and ``weekends`` name groups of
days.
"""

from __future__ import annotations

from dataclasses import dataclass

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday keys, Monday first (``datetime.weekday()`` order)."""

DAY_GROUPS: dict[str, tuple[str, ...]] = {
    "daily": WEEKDAYS,
    "weekdays": WEEKDAYS[:5],
    "weekends": WEEKDAYS[5:],
}
"""Shorthand keys accepted where a weekday is expected."""

DAY_KEYS: tuple[str, ...] = WEEKDAYS + tuple(DAY_GROUPS)


class HoursError(ValueError):
    """A malformed hours entry; ``key`` is the offending day key, ``index`` the range's position if a list."""

    def __init__(self, message: str, key: str | None = None, index: int | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.index = index


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """Open ranges per weekday as (start minute, end minute) pairs, Monday = 0."""

    days: tuple[tuple[tuple[int, int], ...], ...]

    def is_open(self, weekday: int, minute: int) -> bool:
        """Whether ``minute`` (0..1439 local) of ``weekday`` (Monday = 0) falls in a range."""
        for start, end in self.days[weekday]:
            if start <= minute < end:
                return True
        return False

    @property
    def always_open(self) -> bool:
        """Open around the clock every day."""
        return all(day == ((0, 1440),) for day in self.days)

    def describe(self) -> str:
        """A compact human summary, e.g. ``mon-fri 09:00-21:00``."""
        if not any(self.days):
            return "closed"
        parts: list[str] = []
        i = 0
        while i < 7:
            j = i
            while j + 1 < 7 and self.days[j + 1] == self.days[i]:
                j += 1
            if self.days[i]:
                label = WEEKDAYS[i] if i == j else f"{WEEKDAYS[i]}-{WEEKDAYS[j]}"
                if i == 0 and j == 6:
                    label = "daily"
                ranges = ", ".join(f"{format_minute(s)}-{format_minute(e)}" for s, e in self.days[i])
                parts.append(f"{label} {ranges}")
            i = j + 1
        return "; ".join(parts)


def format_minute(minute: int) -> str:
    """``HH:MM`` for a minute of the day (1440 prints as ``24:00``)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_time(text: str, *, what: str) -> int:
    """Minutes since midnight of ``HH:MM`` (``24:00`` allowed); ``what`` names it in errors."""
    hh, sep, mm = text.strip().partition(":")
    if not sep or not hh.isdigit() or not mm.isdigit() or len(mm) != 2 or not 1 <= len(hh) <= 2:
        raise ValueError(f"{what} {text.strip()!r} is not a valid time (expected HH:MM)")
    hours, minutes = int(hh), int(mm)
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{what} {text.strip()} is not a valid time")
    return hours * 60 + minutes


def parse_range(text: object) -> tuple[int, int]:
    """``(start, end)`` minutes of one ``HH:MM-HH:MM`` range."""
    if not isinstance(text, str):
        raise ValueError(f"expected a time range like 09:00-21:00, got {type(text).__name__}")
    start_text, sep, end_text = text.partition("-")
    if not sep:
        raise ValueError(f"{text!r} is not a time range (expected HH:MM-HH:MM)")
    start = parse_time(start_text, what="start")
    end = parse_time(end_text, what="end")
    if start == 1440:
        raise ValueError("start 24:00 is not a valid time")
    if start >= end:
        raise ValueError(
            f"start {format_minute(start)} is not before end {format_minute(end)} "
            "(split overnight hours across two days)"
        )
    return start, end


def parse_weekly_hours(spec: object) -> WeeklyHours:
    """Parse a ``{day key: range or [ranges]}`` mapping; raises :class:`HoursError`."""
    if not isinstance(spec, dict):
        raise HoursError(f"expected a mapping of weekday to hours, got {type(spec).__name__}")
    days: list[list[tuple[int, int]]] = [[] for _ in WEEKDAYS]
    given_by: dict[str, str] = {}
    for key, value in spec.items():
        if not isinstance(key, str) or key not in DAY_KEYS:
            raise HoursError(
                f"unknown weekday {key!r} (expected one of {', '.join(DAY_KEYS)})", key=str(key)
            )
        covered = DAY_GROUPS.get(key, (key,))
        for day in covered:
            if day in given_by:
                raise HoursError(f"{day} is given twice ({given_by[day]} and {key})", key=key)
            given_by[day] = key
        items = value if isinstance(value, list) else [value]
        ranges: list[tuple[int, int]] = []
        for index, item in enumerate(items):
            where = index if isinstance(value, list) else None
            try:
                ranges.append(parse_range(item))
            except ValueError as exc:
                raise HoursError(str(exc), key=key, index=where) from None
        ranges.sort()
        for (s1, e1), (s2, e2) in zip(ranges, ranges[1:]):
            if s2 < e1:
                raise HoursError(
                    f"ranges {format_minute(s1)}-{format_minute(e1)} and "
                    f"{format_minute(s2)}-{format_minute(e2)} overlap",
                    key=key,
                )
        for day in covered:
            days[WEEKDAYS.index(day)] = list(ranges)
    return WeeklyHours(tuple(tuple(d) for d in days))
