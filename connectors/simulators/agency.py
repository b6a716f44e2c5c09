"""Building blocks the agency simulators share: replies to a handoff and a unit's timeline."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from dispatchbus import catalogue
from dispatchbus.contract.events import (
    AgencyType,
    ConsultResult,
    DispatchAssigned,
    HandoffAccepted,
    HandoffDeclined,
    HandoffRequested,
    Outcome,
    UnitCleared,
    UnitEnRoute,
    UnitOnScene,
    UnitStatus,
)

from .config import DispatchTimeline, UnitConfig, choose
from .runtime import Emit, at, since

NewId = Callable[[], uuid.UUID]


def reply_base(request: HandoffRequested, now: datetime) -> datetime:
    """When an agency starts on a request: now, but never before the request itself.

    Replies are timed from this moment and so are their delays: a request
    stamped by a clock ahead of ours is answered after the usual delays, with
    event times that never precede it.
    """
    return max(now, request.requested_at)


def accepted(new_id: NewId, request: HandoffRequested, when: datetime, now: datetime) -> Emit:
    event = HandoffAccepted(
        event_id=new_id(),
        causation_id=request.event_id,
        call_id=request.call_id,
        handoff_id=request.event_id,
        agency=request.agency,
        accepted_at=when,
    )
    return Emit(since(when, now), event, catalogue.HANDOFF_REPLIES)


def declined(new_id: NewId, request: HandoffRequested, when: datetime, now: datetime, reason: str) -> Emit:
    event = HandoffDeclined(
        event_id=new_id(),
        causation_id=request.event_id,
        call_id=request.call_id,
        handoff_id=request.event_id,
        agency=request.agency,
        declined_at=when,
        reason=reason,
    )
    return Emit(since(when, now), event, catalogue.HANDOFF_REPLIES)


def consult_result(new_id: NewId, request: HandoffRequested, when: datetime, now: datetime, result: str) -> Emit:
    event = ConsultResult(
        event_id=new_id(),
        causation_id=request.event_id,
        call_id=request.call_id,
        handoff_id=request.event_id,
        agency=request.agency,
        result=result,
        completed_at=when,
    )
    return Emit(since(when, now), event, catalogue.HANDOFF_REPLIES)


def unit_status(
    new_id: NewId,
    unit_id: str,
    team: str,
    agency_type: AgencyType,
    status: str,
    when: datetime,
    now: datetime,
    causation_id: uuid.UUID | None = None,
) -> Emit:
    event = UnitStatus(
        event_id=new_id(),
        causation_id=causation_id,
        unit_id=unit_id,
        team=team,
        agency_type=agency_type,
        status=status,
        occurred_at=when,
    )
    return Emit(since(when, now), event, catalogue.UNIT_STATUS)


def announce_units(new_id: NewId, units: Iterable[UnitConfig], now: datetime) -> list[Emit]:
    """UnitStatus available for each community responder unit, now."""
    return [
        unit_status(new_id, unit.unit_id, unit.team, "community_responder", "available", now, now)
        for unit in units
    ]


class UnitPool:
    """Units and when each becomes free; planning reserves a unit until its planned clear time."""

    def __init__(self, unit_ids: Sequence[str]) -> None:
        if not unit_ids:
            raise ValueError("a unit pool needs units")
        self._free_at: dict[str, datetime | None] = {u: None for u in unit_ids}

    @property
    def unit_ids(self) -> list[str]:
        return list(self._free_at)

    def free(self, when: datetime) -> list[str]:
        """Units free at ``when``, in pool order."""
        return [u for u, t in self._free_at.items() if t is None or t <= when]

    def next_free(self, when: datetime) -> tuple[str, datetime]:
        """The unit that is free first at or after ``when``, and from when."""
        free = self.free(when)
        if free:
            return free[0], when
        unit = min(self._free_at, key=lambda u: self._free_at[u])  # type: ignore[arg-type, return-value]
        return unit, self._free_at[unit]  # type: ignore[return-value]

    def reserve(self, unit_id: str, until: datetime) -> None:
        self._free_at[unit_id] = until


@dataclass(frozen=True)
class PlannedDispatch:
    """A unit's planned timeline for one call."""

    emits: list[Emit]
    cleared_at: datetime
    outcome: Outcome


def plan_dispatch(
    *,
    new_id: NewId,
    rng: random.Random,
    request: HandoffRequested,
    unit_id: str,
    team: str | None,
    agency_type: AgencyType,
    assigned_at: datetime,
    timeline: DispatchTimeline,
    now: datetime,
    police_backup_probability: float = 0.0,
    report_status: bool = False,
) -> PlannedDispatch:
    """DispatchAssigned, en route, on scene and cleared (with UnitStatus busy/available if asked).

    Each event's ``causation_id`` is the event before it; the first one's is the request.
    """
    en_route_at = at(assigned_at, timeline.turnout.sample(rng))
    on_scene_at = at(en_route_at, timeline.travel.sample(rng))
    cleared_at = at(on_scene_at, timeline.on_scene.sample(rng))
    if rng.random() < police_backup_probability:
        outcome = Outcome(category="police_backup_requested", police_backup_requested=True)
    else:
        outcome = Outcome(category=choose(rng, timeline.outcomes))

    emits: list[Emit] = []
    if report_status:
        emits.append(
            unit_status(new_id, unit_id, team or "", agency_type, "busy", assigned_at, now, request.event_id)
        )
    assigned = DispatchAssigned(
        event_id=new_id(),
        causation_id=request.event_id,
        call_id=request.call_id,
        unit_id=unit_id,
        team=team,
        agency_type=agency_type,
        assigned_at=assigned_at,
    )
    en_route = UnitEnRoute(
        event_id=new_id(),
        causation_id=assigned.event_id,
        call_id=request.call_id,
        unit_id=unit_id,
        occurred_at=en_route_at,
    )
    on_scene = UnitOnScene(
        event_id=new_id(),
        causation_id=en_route.event_id,
        call_id=request.call_id,
        unit_id=unit_id,
        occurred_at=on_scene_at,
    )
    cleared = UnitCleared(
        event_id=new_id(),
        causation_id=on_scene.event_id,
        call_id=request.call_id,
        unit_id=unit_id,
        cleared_at=cleared_at,
        outcome=outcome,
    )
    for event, when in (
        (assigned, assigned_at),
        (en_route, en_route_at),
        (on_scene, on_scene_at),
        (cleared, cleared_at),
    ):
        emits.append(Emit(since(when, now), event, catalogue.RESPONDER_ACTIVITY))
    if report_status:
        emits.append(
            unit_status(new_id, unit_id, team or "", agency_type, "available", cleared_at, now, cleared.event_id)
        )
    return PlannedDispatch(emits, cleared_at, outcome)
