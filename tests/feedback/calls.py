"""Scripted calls run through the pure lifecycle transitions, for feedback tests."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from uuid import UUID

from dispatchbus.contract import events as ev
from dispatchbus.lifecycle.timeline import Timeline
from dispatchbus.lifecycle.transitions import Context, apply
from dispatchbus.policy.availability import AvailabilityBook
from tests.support.policies import reference as load_reference_policy

from ..lifecycle.scenario import T0, Script

NARRATIVE = "SYNTHETIC-NARRATIVE-MARKER caller says her name is Jane Roe"
NOTES = "CLINICAL-NOTES-MARKER subject disclosed a diagnosis"
ZONE = "ZONE-MARKER"
UNIT = "UNIT-MARKER-7"
LAT, LON = 40.777123, -73.954321
SENSITIVE = (b"SYNTHETIC-NARRATIVE", b"Jane Roe", b"CLINICAL-NOTES", b"diagnosis", ZONE.encode(), UNIT.encode())
"""Byte strings that must never appear in a feedback or digest record."""


def context(model: str = "911-led") -> Context:
    """The reference policy with the marker unit in the CRT team (a unit must belong to the team it acts for)."""
    policy = load_reference_policy(model)
    teams = tuple(
        dataclasses.replace(team, units=(*team.units, UNIT)) if team.name == "CRT" else team for team in policy.teams
    )
    by_type = {t: tuple(next(x for x in teams if x.name == team.name) for team in ts)
               for t, ts in policy.teams_by_call_type.items()}
    return Context(dataclasses.replace(policy, teams=teams, teams_by_call_type=by_type), AvailabilityBook())


class Call(Script):
    """A Script whose call carries a call taker and distinctive sensitive values."""

    def __init__(self, call_id: str = "C1", start: datetime = T0, seed: int = 0, *, psap: str = "PSAP-1",
                 taker: str | None = "CT-1", model: str = "911-led") -> None:
        super().__init__(call_id, start, seed)
        self.psap, self.taker = psap, taker
        self.ctx = context(model)
        self.timeline: Timeline | None = None
        self.handoffs: list[ev.HandoffRequested] = []
        self.ended_by: ev.Event | None = None

    def call(self, call_type: str = "welfare_check", **screening: bool) -> ev.CallReceived:
        base = super().call(call_type, **screening)
        return base.model_copy(update={
            "psap_id": self.psap, "call_taker_id": self.taker, "narrative": NARRATIVE,
            "location": ev.Location(lat=LAT, lon=LON, zone=ZONE),
        })

    def cleared(self, t: float, category: str = "resolved_on_scene", unit: str = UNIT,
                backup: bool = False) -> ev.UnitCleared:
        e = super().cleared(t, category, unit, backup)
        return e.model_copy(update={"outcome": e.outcome.model_copy(update={"notes": NOTES})})

    def feed(self, *events: ev.Event) -> Call:
        """Apply events in order, remembering handoffs and the event that ended the call."""
        for e in events:
            self.timeline, fx = apply(self.timeline, e, self.ctx)
            self.handoffs.extend(fx.handoffs)
            if fx.ended:
                self.ended_by = e
        return self

    @property
    def handoff(self) -> ev.HandoffRequested:
        return self.handoffs[-1]


def responder_call(call_id: str = "C1", *, on_scene: float = 660, cleared: float = 2460,
                   category: str = "resolved_on_scene", backup: bool = False, seed: int = 0,
                   start: datetime = T0, **kw) -> Call:
    """A welfare check taken by the community responders: accepted, dispatched, on scene, cleared."""
    c = Call(call_id, start, seed, **kw)
    c.feed(c.call())
    c.feed(c.accepted(c.handoff, 30), c.dispatched(60, unit=UNIT), c.en_route(90, unit=UNIT),
           c.on_scene(on_scene, unit=UNIT), c.cleared(cleared, category, backup=backup))
    if backup:  # the backup request sent police, who end the call
        c.feed(c.dispatched(cleared + 30, unit="P-1", team=None, agency="police"),
               c.cleared(cleared + 600, category, unit="P-1"))
    return c


def phone_call(call_id: str = "P1", *, seed: int = 0, start: datetime = T0, **kw) -> Call:
    """A call the embedded clinicians resolve by phone."""
    c = Call(call_id, start, seed, model="embedded-professional", **kw)
    c.feed(c.call("suicidal_ideation"))
    c.feed(c.accepted(c.handoff, 10), c.consult(c.handoff, 250, "resolved_by_phone"))
    return c


def ids(n: int) -> UUID:
    return UUID(int=n)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
