"""Build lifecycle events with known timestamps for tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from dispatchbus.contract import events as ev
from dispatchbus.lifecycle.timeline import Timeline
from dispatchbus.lifecycle.timers import overdue
from tests.support.samples import screened

# Monday 2026-05-04 14:00 America/New_York: every team and the hotline are open.
T0 = datetime(2026, 5, 4, 18, 0, tzinfo=timezone.utc)


class Script:
    """Events of one call, with ids from a counter and times as offsets from ``start``."""

    def __init__(self, call_id: str = "C1", start: datetime = T0, seed: int = 0) -> None:
        self.call_id = call_id
        self.start = start
        self._n = seed * 1000

    def _id(self) -> uuid.UUID:
        self._n += 1
        return uuid.UUID(int=self._n)

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)

    def call(self, call_type: str = "mental_health", **screening: bool) -> ev.CallReceived:
        return ev.CallReceived(
            event_id=self._id(), call_id=self.call_id, psap_id="PSAP-1", received_at=self.start,
            call_type=call_type, screening=screened(**screening),
            location=ev.Location(lat=40.7, lon=-74.0, zone="Z1"), priority=3, narrative="synthetic secret",
        )

    def accepted(self, handoff: ev.HandoffRequested, t: float) -> ev.HandoffAccepted:
        return ev.HandoffAccepted(event_id=self._id(), call_id=self.call_id, handoff_id=handoff.event_id,
                                  agency=handoff.agency, accepted_at=self.at(t))

    def declined(self, handoff: ev.HandoffRequested, t: float, reason: str = "closed") -> ev.HandoffDeclined:
        return ev.HandoffDeclined(event_id=self._id(), call_id=self.call_id, handoff_id=handoff.event_id,
                                  agency=handoff.agency, declined_at=self.at(t), reason=reason)

    def consult(self, handoff: ev.HandoffRequested, t: float, result: str) -> ev.ConsultResult:
        return ev.ConsultResult(event_id=self._id(), call_id=self.call_id, handoff_id=handoff.event_id,
                                agency=handoff.agency, result=result, completed_at=self.at(t))

    def dispatched(self, t: float, unit: str = "CRT-1", team: str | None = "CRT",
                   agency: str = "community_responder") -> ev.DispatchAssigned:
        return ev.DispatchAssigned(event_id=self._id(), call_id=self.call_id, unit_id=unit, team=team,
                                   agency_type=agency, assigned_at=self.at(t))

    def en_route(self, t: float, unit: str = "CRT-1") -> ev.UnitEnRoute:
        return ev.UnitEnRoute(event_id=self._id(), call_id=self.call_id, unit_id=unit, occurred_at=self.at(t))

    def on_scene(self, t: float, unit: str = "CRT-1") -> ev.UnitOnScene:
        return ev.UnitOnScene(event_id=self._id(), call_id=self.call_id, unit_id=unit, occurred_at=self.at(t))

    def cleared(self, t: float, category: str = "resolved_on_scene", unit: str = "CRT-1",
                backup: bool = False) -> ev.UnitCleared:
        return ev.UnitCleared(event_id=self._id(), call_id=self.call_id, unit_id=unit, cleared_at=self.at(t),
                              outcome=ev.Outcome(category=category, police_backup_requested=backup,
                                                 notes="sensitive notes"))

    def closed(self, t: float) -> ev.CallClosed:
        return ev.CallClosed(event_id=self._id(), call_id=self.call_id, closed_at=self.at(t), disposition="done")


MODELS = ["911-led", "embedded-professional", "external-hotline"]
CALL_TYPES = ["mental_health", "noise_complaint", "substance_use", "welfare_check", "theft", "fire", "trespass"]
KINDS = ["accept", "decline", "timeout", "phone", "team", "police", "dispatch", "scene", "clear", "duplicate"]
"""What may happen next to a call, for property tests (see :func:`next_event`)."""


def next_event(tl: Timeline, kind: str, s: Script, t: float, last: ev.Event | None) -> ev.Event | None:
    """The event of ``kind`` for the call at ``t`` seconds, or None when it cannot happen now."""
    pending = tl.pending
    if kind == "duplicate":
        return last
    if kind in ("accept", "decline", "phone", "team", "police") and pending is not None:
        handoff = type("H", (), {"event_id": pending.handoff_id, "agency": pending.agency})()
        return {
            "accept": lambda: s.accepted(handoff, t),
            "decline": lambda: s.declined(handoff, t, "no_capacity"),
            "phone": lambda: s.consult(handoff, t, "resolved_by_phone"),
            "team": lambda: s.consult(handoff, t, "dispatch_community_responder"),
            "police": lambda: s.consult(handoff, t, "dispatch_police"),
        }[kind]()
    if kind == "timeout" and pending is not None and pending.deadline_at is not None:
        return overdue([tl], pending.deadline_at + timedelta(seconds=1))[0]
    if kind == "dispatch":
        return s.dispatched(t)
    if kind == "scene":
        return s.on_scene(t)
    if kind == "clear":
        return s.cleared(t)
    return None
