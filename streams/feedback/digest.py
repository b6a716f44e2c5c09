"""Outcome digests per PSAP and per call taker, over tumbling day and week windows.

:class:`DigestBook` keeps its state in a mapping: a plain ``dict`` in unit tests,
the worker's changelogged Faust table in production (keyed by strings that all
start with the PSAP id, and written only while processing that PSAP's
partition of the re-keyed feedback stream, so each key lives in one changelog
partition). Per PSAP it holds:

* ``<psap>|meta``: the PSAP's watermark (latest received time seen: event time,
  never the wall clock) and the day its old windows were last pruned;
* ``<psap>|day|<date>`` and ``<psap>|week|<monday>``, with ``|<call taker>`` for a
  call taker's: counters and response-time sketches of that window, and the id
  of the feedback it counted last;
* ``<psap>|seen|<local date>T<hour>|<feedback id>``: one key per feedback event
  counted for a call received in that local hour, so a redelivered copy is never
  counted twice. It is written after the windows: a worker killed in between
  leaves windows that name the feedback as their last, which its redelivery
  skips (see :meth:`DigestBook.apply`). (Earlier versions kept a list of ids per hour under
  ``<psap>|seen|<local date>T<hour>``; such lists are still honoured. Rewriting
  that list for every feedback made each hour's cost grow with the square of
  its calls, in CPU and in changelog bytes.)

A feedback counts in the windows holding its call's *received* time, so an
outcome cleared hours later still lands in the right day. Windows (and their
seen ids) ending more than ``retention_days`` before the watermark are deleted;
an outcome for a call received before them is reported as too late and not
counted anywhere, rather than reviving half a window.
"""

from __future__ import annotations

import typing
import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from ..contract.events import FeedbackDigest, OutcomeCategory, OutcomeFeedback, Target, iso_utc
from ..contract.ids import uuid5
from . import sketch
from .builder import DIVERTED_TARGETS
from .windows import WINDOWS, Window, local_date, window_of, window_on, window_starting

DIGEST_NAMESPACE = uuid.UUID("b7d7e0a4-6c1f-4f7e-8d0e-5e2a9c3b1f42")

RESOLVED_CATEGORIES: frozenset[str] = frozenset(
    {"resolved_on_scene", "resolved_by_phone", "transported_to_care", "referred_to_services"}
)
"""Outcome categories that count as resolved (when police were never needed or involved)."""

_CATEGORY_ORDER = typing.get_args(OutcomeCategory)
_TARGET_ORDER = typing.get_args(Target)


# --- one call ---------------------------------------------------------------------


@dataclass(frozen=True)
class Counted:
    """What one feedback contributes to a digest."""

    first_target: str | None
    category: str
    diverted: bool
    resolved_without_police: bool
    police_backup: bool
    seconds_to_on_scene: float | None
    closed_at: datetime


def classify(fb: OutcomeFeedback) -> Counted:
    """Resolved without police: a resolved category and police never needed nor on the route.

    Police backup: police were needed after all (backup requested, a clinician or a
    fallback handed the call to police, or police were dispatched to it).
    """
    first = fb.first_target or (fb.route[0].agency if fb.route else None)
    diverted = fb.diverted or first in DIVERTED_TARGETS
    police_involved = fb.police_needed or any(h.agency == "police" for h in fb.route)
    return Counted(
        first_target=first,
        category=fb.outcome_category,
        diverted=diverted,
        resolved_without_police=fb.outcome_category in RESOLVED_CATEGORIES and not police_involved,
        police_backup=fb.police_needed or fb.outcome_category == "police_backup_requested",
        seconds_to_on_scene=fb.seconds_to_on_scene,
        closed_at=fb.closed_at,
    )


# --- one window's state (JSON) -----------------------------------------------------


def new_state(window: Window, tz_name: str) -> dict[str, Any]:
    return {
        "window": window.kind,
        "first_day": window.label,
        "start": iso_utc(window.start),
        "end": iso_utc(window.end),
        "tz": tz_name,
        "revision": 0,
        "as_of": None,
        "calls": 0,
        "diverted": 0,
        "resolved_without_police": 0,
        "police_backup": 0,
        "outcomes": {},
        "on_scene": sketch.empty(),
        "routes": {},
    }


def _route_state() -> dict[str, Any]:
    return {"calls": 0, "outcomes": {}, "resolved_without_police": 0, "police_backup": 0, "on_scene": sketch.empty()}


def add(state: dict[str, Any], c: Counted) -> None:
    """Count one call in a window's state (in place)."""
    state["revision"] += 1
    closed = iso_utc(c.closed_at)
    state["as_of"] = closed if state["as_of"] is None else max(state["as_of"], closed)
    state["calls"] += 1
    state["outcomes"][c.category] = state["outcomes"].get(c.category, 0) + 1
    if c.seconds_to_on_scene is not None:
        sketch.add(state["on_scene"], c.seconds_to_on_scene)
    if c.diverted:
        state["diverted"] += 1
        state["resolved_without_police"] += c.resolved_without_police
        state["police_backup"] += c.police_backup
    if c.first_target is not None:
        route = state["routes"].setdefault(c.first_target, _route_state())
        route["calls"] += 1
        route["outcomes"][c.category] = route["outcomes"].get(c.category, 0) + 1
        route["resolved_without_police"] += c.resolved_without_police
        route["police_backup"] += c.police_backup
        if c.seconds_to_on_scene is not None:
            sketch.add(route["on_scene"], c.seconds_to_on_scene)


def share(part: int, whole: int) -> float | None:
    """``part / whole`` to four decimals; None when ``whole`` is 0."""
    return round(part / whole, 4) if whole else None


def _outcomes(counts: dict[str, int]) -> list[dict[str, Any]]:
    return [{"category": c, "calls": counts[c]} for c in _CATEGORY_ORDER if counts.get(c)]


def digest_id(psap_id: str, window: str, first_day: str, call_taker_id: str | None = None) -> str:
    base = f"{psap_id}/{window}/{first_day}"
    return f"{base}/taker/{call_taker_id}" if call_taker_id is not None else base


def to_digest(state: dict[str, Any], psap_id: str, call_taker_id: str | None,
              cause: uuid.UUID | None = None) -> FeedbackDigest:
    """The FeedbackDigest of a window's state; its id is a UUIDv5 of (digest_id, revision)."""
    did = digest_id(psap_id, state["window"], state["first_day"], call_taker_id)
    diverted = state["diverted"]
    routes = [
        {
            "first_target": target,
            "calls": r["calls"],
            "outcomes": _outcomes(r["outcomes"]),
            "resolved_without_police": r["resolved_without_police"],
            "police_backup": r["police_backup"],
            "on_scene_calls": r["on_scene"]["n"],
            "median_seconds_to_on_scene": sketch.quantile(r["on_scene"], 0.5),
            "p90_seconds_to_on_scene": sketch.quantile(r["on_scene"], 0.9),
        }
        for target in _TARGET_ORDER
        if (r := state["routes"].get(target))
    ]
    return FeedbackDigest(
        event_id=uuid5(DIGEST_NAMESPACE, f"{did}:{state['revision']}"),
        causation_id=cause,
        digest_id=did,
        psap_id=psap_id,
        call_taker_id=call_taker_id,
        window=state["window"],
        window_start=state["start"],
        window_end=state["end"],
        timezone=state["tz"],
        revision=state["revision"],
        as_of=state["as_of"],
        calls=state["calls"],
        diverted_calls=diverted,
        resolved_without_police=state["resolved_without_police"],
        share_resolved_without_police=share(state["resolved_without_police"], diverted),
        police_backup=state["police_backup"],
        police_backup_rate=share(state["police_backup"], diverted),
        on_scene_calls=state["on_scene"]["n"],
        median_seconds_to_on_scene=sketch.quantile(state["on_scene"], 0.5),
        p90_seconds_to_on_scene=sketch.quantile(state["on_scene"], 0.9),
        outcomes=_outcomes(state["outcomes"]),
        routes=routes,
    )


ENVELOPE = {"event_id", "correlation_id", "causation_id"}


def digest_view(digest: FeedbackDigest) -> dict[str, Any]:
    """A digest as JSON for the web views and the CLI."""
    return digest.model_dump(mode="json", exclude=ENVELOPE)


# --- the book: every PSAP's windows in one mapping ------------------------------------


_SEEN = "seen"
"""The key part that marks a counted feedback id (and, in earlier versions, an hour's list of them)."""
_SEEN_PART = f"|{_SEEN}|"  # parts are quoted, so no PSAP or call taker id contains it


def _key(*parts: str) -> str:
    return "|".join(quote(p, safe="") for p in parts)


def _parts(key: str) -> list[str]:
    return [unquote(p) for p in key.split("|")]


def _copy_state(value: Any) -> Any:
    """A copy of a window's JSON-shaped state (dicts, lists, scalars), several times cheaper than deepcopy."""
    if isinstance(value, dict):
        return {k: _copy_state(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_state(v) for v in value]
    return value


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Applied:
    """What counting one feedback did."""

    status: typing.Literal["counted", "duplicate", "too_late", "future_dated"]
    digests: list[FeedbackDigest] = field(default_factory=list)
    current: dict[str, FeedbackDigest] = field(default_factory=dict)
    """The PSAP's digests of the windows holding its watermark (today, this week), when they changed."""
    pruned: int = 0


class DigestBook:
    """Count feedback into day and week windows of ``store``, and read digests back."""

    FUTURE_SKEW = timedelta(minutes=5)
    """How far ahead of the clock a call may claim to have been received and still count."""

    def __init__(self, store: MutableMapping[str, Any], tz_name: str = "UTC", retention_days: int = 35) -> None:
        self.store = store
        self.tz_name = tz_name
        self.tz = ZoneInfo(tz_name)
        self.retention = timedelta(days=retention_days)

    # writing

    def apply(self, fb: OutcomeFeedback, now: datetime | None = None) -> Applied:
        """Count one feedback (once per event_id) and return the digests it changed.

        With ``now`` (the wall clock, live), a call stamped more than
        :attr:`FUTURE_SKEW` ahead of it is not counted: one bad clock must not
        move the PSAP's watermark, and with it every later outcome out of its windows.
        """
        psap = fb.psap_id
        received = fb.received_at or fb.closed_at  # feedback from before received_at existed: its close time
        if now is not None and received > now + self.FUTURE_SKEW:
            return Applied("future_dated")
        meta_key = _key(psap, "meta")
        meta = dict(self.store.get(meta_key) or {"watermark": None, "pruned_on": None})
        previous = _parse(meta["watermark"]) if meta["watermark"] else None
        watermark = max(previous, received) if previous else received
        horizon = watermark - self.retention
        if window_of("day", received, self.tz).end <= horizon:
            return Applied("too_late")
        hour = received.astimezone(self.tz).strftime("%Y-%m-%dT%H")
        feedback_id = str(fb.event_id)
        seen_key = _key(psap, _SEEN, hour, feedback_id)
        if seen_key in self.store or feedback_id in (self.store.get(_key(psap, _SEEN, hour)) or ()):
            return Applied("duplicate")

        # The store's writes reach the changelog in order, and a worker killed meanwhile leaves only
        # the first of them: the windows are written first, each marking the feedback it counted
        # last ("last"), and the counted marker after them all. A feedback handled again after such
        # a crash skips the windows that counted it already and counts it in the others.
        counted = classify(fb)
        result = Applied("counted")
        for kind in WINDOWS:
            window = window_of(kind, received, self.tz)
            current = window == window_of(kind, watermark, self.tz)
            for taker in (None, fb.call_taker_id) if fb.call_taker_id else (None,):
                key = _key(psap, kind, window.label, *((taker,) if taker is not None else ()))
                state = self.store.get(key)
                if state is None or state.get("last") != feedback_id:
                    state = _copy_state(state) or new_state(window, self.tz_name)
                    add(state, counted)
                    state["last"] = feedback_id
                    self.store[key] = state
                digest = to_digest(state, psap, taker, fb.event_id)
                result.digests.append(digest)
                if taker is None and current:
                    result.current[kind] = digest

        meta["watermark"] = iso_utc(watermark)
        today = local_date(watermark, self.tz).isoformat()
        if meta["pruned_on"] != today:
            result.pruned = self._prune(psap, horizon)
            meta["pruned_on"] = today
        self.store[meta_key] = meta
        self.store[seen_key] = 1  # last: see above
        return result

    def _window_end(self, kind: str, label: str) -> datetime | None:
        try:
            first_day = date.fromisoformat(label[:10])
        except ValueError:
            return None
        if kind == _SEEN:
            kind = "day"
        return window_starting(kind, first_day, self.tz).end

    def _prune(self, psap: str, horizon: datetime) -> int:
        """Delete the PSAP's windows and seen ids that ended before ``horizon``."""
        doomed = []
        for key in list(self.store.keys()):
            parts = _parts(key)
            if len(parts) < 3 or parts[0] != psap or parts[1] not in (*WINDOWS, _SEEN):
                continue
            end = self._window_end(parts[1], parts[2])
            if end is not None and end <= horizon:
                doomed.append(key)
        for key in doomed:
            del self.store[key]
        return len(doomed)

    # reading

    def psaps(self) -> list[str]:
        """Every PSAP with counted feedback, sorted."""
        out = []
        for key in list(self.store.keys()):
            if _SEEN_PART in key:  # most keys: skipped without parsing
                continue
            parts = _parts(key)
            if len(parts) == 2 and parts[1] == "meta":
                out.append(parts[0])
        return sorted(out)

    def _digest(self, psap: str, kind: str, label: str, taker: str | None = None) -> FeedbackDigest | None:
        state = self.store.get(_key(psap, kind, label, *((taker,) if taker is not None else ())))
        return to_digest(state, psap, taker) if state else None

    def psap_view(self, psap: str, on: date | None = None) -> dict[str, Any] | None:
        """The PSAP's day and week digests (the windows holding ``on``, default its watermark's
        local date) and those of its call takers; None for an unknown PSAP."""
        meta = self.store.get(_key(psap, "meta"))
        if not meta:
            return None
        watermark = _parse(meta["watermark"])
        day = on or local_date(watermark, self.tz)
        windows = {kind: window_on(kind, day, self.tz) for kind in WINDOWS}
        takers: set[str] = set()
        days: set[str] = set()
        for key in list(self.store.keys()):
            if _SEEN_PART in key:
                continue
            parts = _parts(key)
            if len(parts) < 3 or parts[0] != psap:
                continue
            if parts[1] == "day" and len(parts) == 3:
                days.add(parts[2])
            if parts[1] in windows and len(parts) == 4 and parts[2] == windows[parts[1]].label:
                takers.add(parts[3])

        def view(kind: str, taker: str | None = None) -> dict[str, Any] | None:
            digest = self._digest(psap, kind, windows[kind].label, taker)
            return digest_view(digest) if digest else None

        return {
            "psap_id": psap,
            "timezone": self.tz_name,
            "date": day.isoformat(),
            "watermark": meta["watermark"],
            "day": view("day"),
            "week": view("week"),
            "call_takers": [
                {"call_taker_id": t, "day": view("day", t), "week": view("week", t)} for t in sorted(takers)
            ],
            "days": sorted(days),
        }

    def summaries(self) -> list[dict[str, Any]]:
        """Every PSAP's current day and week digests (no call takers)."""
        out = []
        for psap in self.psaps():
            view = self.psap_view(psap)
            if view is None:
                continue
            out.extend(d for d in (view["day"], view["week"]) if d is not None)
        return out
