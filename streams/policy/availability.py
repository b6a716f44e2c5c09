"""Unit availability over event time: per-unit status histories and a book of all units.

A unit is available unless its latest status at or before a given instant is
``busy`` or ``out_of_service``; a unit with no status at all counts as
available here. A policy with ``unit_status.max_age_s`` is stricter: the
engine counts a unit never heard from, or silent longer than that, as
unavailable (:func:`dispatchbus.policy.engine.evaluate`). Histories are plain sorted lists so they serialise to JSON as
``[[epoch_ms, status], ...]`` (the live worker keeps one per unit in a
changelogged table).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone

from dispatchbus.contract.events import UnitStatus

STATES: tuple[str, ...] = ("available", "busy", "out_of_service")
UNAVAILABLE: frozenset[str] = frozenset({"busy", "out_of_service"})

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def to_epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime (exact, no float rounding)."""
    return (moment - _EPOCH) // _MS


def from_epoch_ms(epoch_ms: int) -> datetime:
    """The UTC datetime of an epoch-milliseconds value."""
    return _EPOCH + epoch_ms * _MS


class UnitHistory:
    """One unit's statuses as ``(epoch_ms, status)`` entries sorted by event time.

    Entries with the same instant keep their arrival order (the later one wins);
    recording a status already present at the same instant is a no-op, so
    replaying an event is harmless.
    """

    __slots__ = ("_times", "_states")

    def __init__(self, entries: Iterable[tuple[int, str]] = ()) -> None:
        self._times: list[int] = []
        self._states: list[str] = []
        for epoch_ms, status in entries:
            self.record(epoch_ms, status)

    def record(self, epoch_ms: int, status: str) -> bool:
        """Insert a status in event-time order; False if it was already recorded."""
        if status not in STATES:
            raise ValueError(f"unknown unit status {status!r}")
        times, states = self._times, self._states
        i = bisect_right(times, epoch_ms)
        j = i - 1
        while j >= 0 and times[j] == epoch_ms:
            if states[j] == status:
                return False
            j -= 1
        times.insert(i, epoch_ms)
        states.insert(i, status)
        return True

    def status_at(self, epoch_ms: int) -> str | None:
        """The latest status at or before ``epoch_ms``, or None if there is none yet."""
        i = bisect_right(self._times, epoch_ms)
        return self._states[i - 1] if i else None

    def latest_at(self, epoch_ms: int) -> tuple[int, str] | None:
        """``(epoch_ms, status)`` of the latest status at or before ``epoch_ms``, or None if there is none yet."""
        i = bisect_right(self._times, epoch_ms)
        return (self._times[i - 1], self._states[i - 1]) if i else None

    def is_available(self, epoch_ms: int) -> bool:
        """Available at ``epoch_ms`` (no status yet counts as available)."""
        return self.status_at(epoch_ms) not in UNAVAILABLE

    def prune(self, horizon_ms: int) -> int:
        """Drop entries older than ``horizon_ms``, keeping the latest one before it; returns how many went."""
        older = bisect_right(self._times, horizon_ms - 1)
        drop = older - 1
        if drop <= 0:
            return 0
        del self._times[:drop]
        del self._states[:drop]
        return drop

    @property
    def entries(self) -> list[tuple[int, str]]:
        """The ``(epoch_ms, status)`` entries, oldest first."""
        return list(zip(self._times, self._states))

    def to_json(self) -> list[list[int | str]]:
        """A JSON-able ``[[epoch_ms, status], ...]`` list."""
        return [[t, s] for t, s in zip(self._times, self._states)]

    @classmethod
    def from_json(cls, data: Iterable[Iterable[int | str]]) -> UnitHistory:
        """Rebuild from :meth:`to_json` output."""
        history = cls()
        for item in data:
            epoch_ms, status = item
            if not isinstance(epoch_ms, int) or isinstance(epoch_ms, bool) or not isinstance(status, str):
                raise ValueError(f"bad history entry {item!r}: expected [epoch_ms, status]")
            history.record(epoch_ms, status)
        return history

    def __len__(self) -> int:
        return len(self._times)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UnitHistory):
            return NotImplemented
        return self._times == other._times and self._states == other._states

    def __repr__(self) -> str:
        return f"UnitHistory({self.entries!r})"


class AvailabilityBook:
    """The status histories of every unit, keyed by unit id."""

    __slots__ = ("_units",)

    def __init__(self, histories: Mapping[str, UnitHistory] | None = None) -> None:
        self._units: dict[str, UnitHistory] = dict(histories or {})

    def record(self, event: UnitStatus) -> bool:
        """Apply a ``UnitStatus`` event in event-time order; False if already recorded."""
        return self.record_status(event.unit_id, to_epoch_ms(event.occurred_at), event.status)

    def record_status(self, unit_id: str, epoch_ms: int, status: str) -> bool:
        """Record ``status`` for ``unit_id`` at ``epoch_ms``; False if already recorded."""
        history = self._units.get(unit_id)
        if history is None:
            history = self._units[unit_id] = UnitHistory()
        return history.record(epoch_ms, status)

    def status_at(self, unit_id: str, epoch_ms: int) -> str | None:
        """The unit's latest status at or before ``epoch_ms`` (None: never reported)."""
        history = self._units.get(unit_id)
        return history.status_at(epoch_ms) if history is not None else None

    def latest_at(self, unit_id: str, epoch_ms: int) -> tuple[int, str] | None:
        """``(epoch_ms, status)`` of the unit's latest status at or before ``epoch_ms`` (None: never reported)."""
        history = self._units.get(unit_id)
        return history.latest_at(epoch_ms) if history is not None else None

    def is_available(self, unit_id: str, epoch_ms: int) -> bool:
        """Whether the unit is available at ``epoch_ms``."""
        return self.status_at(unit_id, epoch_ms) not in UNAVAILABLE

    def history(self, unit_id: str) -> UnitHistory | None:
        """The unit's history, if it ever reported a status."""
        return self._units.get(unit_id)

    def prune(self, horizon_ms: int) -> int:
        """Prune every unit's history at ``horizon_ms``; returns how many entries went."""
        return sum(history.prune(horizon_ms) for history in self._units.values())

    def to_json(self) -> dict[str, list[list[int | str]]]:
        """A JSON-able ``{unit_id: [[epoch_ms, status], ...]}`` dict."""
        return {unit: history.to_json() for unit, history in self._units.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Iterable[Iterable[int | str]]]) -> AvailabilityBook:
        """Rebuild from :meth:`to_json` output."""
        return cls({unit: UnitHistory.from_json(entries) for unit, entries in data.items()})

    def __contains__(self, unit_id: object) -> bool:
        return unit_id in self._units

    def __iter__(self) -> Iterator[str]:
        return iter(self._units)

    def __len__(self) -> int:
        return len(self._units)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AvailabilityBook):
            return NotImplemented
        return self._units == other._units
