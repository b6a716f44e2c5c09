"""The 911 CAD: generates screened calls, and dispatches police, EMS and fire when the bus asks.

Calls arrive as a Poisson process whose rate follows the configured hourly
volume curve on local time; each call's type is drawn from the call mix of its
local hour, its screening answers from the type's odds, its priority from the
type's weights (raised to 2 or higher when a risk is reported), and its
location from a weighted zone. Narratives are obviously synthetic.
"""

from __future__ import annotations

import itertools
import logging
import math
import uuid
from datetime import datetime, timedelta
from typing import ClassVar

from dispatchbus import catalogue
from dispatchbus.contract.events import (
    CallClosed,
    CallReceived,
    CallUpdated,
    Event,
    HandoffRequested,
    Location,
    Screening,
)

from .agency import UnitPool, accepted, announce_units, declined, plan_dispatch, reply_base
from .config import choose
from .runtime import Emit, Simulator, at, since

log = logging.getLogger(__name__)

RISK_FLAGS = ("weapon_present", "violence_in_progress", "medical_emergency", "imminent_danger")
_KM_PER_DEGREE = 111.32


class CadSimulator(Simulator):
    """The 911 call center's CAD: calls on ``cad.calls``, its own units on ``responders.activity``."""

    name: ClassVar[str] = "cad"
    consumes: ClassVar[tuple[catalogue.TopicSpec, ...]] = (catalogue.HANDOFF_CAD,)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cad = self.config.cad
        self._next_at: datetime | None = None
        self._numbers = itertools.count(1)
        self._closing: dict[str, tuple[datetime, CallClosed]] = {}
        self.pools = {
            agency: UnitPool([f"{d.unit_prefix}{i}" for i in range(1, d.units + 1)])
            for agency, d in cad.dispatch.items()
        }

    # --- call generation ------------------------------------------------------

    def start(self, now: datetime) -> list[Emit]:
        """Announce the community responder units as available, and plan the first call."""
        self._next_at = self.next_arrival(now)
        return announce_units(self.new_id, self.config.responders.units, now)

    def tick(self, now: datetime) -> list[Emit]:
        """Every call that has arrived by ``now``, plus calls whose closing is due."""
        if self._next_at is None:
            self._next_at = self.next_arrival(now)
        out: list[Emit] = []
        while self._next_at <= now:
            out.extend(self.new_call(self._next_at, now))
            self._next_at = self.next_arrival(self._next_at)
        for call_id, (due, closed) in list(self._closing.items()):
            if due <= now:
                del self._closing[call_id]
                out.append(Emit(0.0, closed, catalogue.CAD_CALLS))
        return out

    def next_arrival(self, after: datetime) -> datetime:
        """The next call after ``after`` (a non-homogeneous Poisson process, exact per local hour)."""
        cad = self.config.cad
        tz = self.config.tz
        remaining = self.rng.expovariate(1.0)
        t = after
        for _ in range(24 * 366):
            local = t.astimezone(tz)
            into_hour = local.minute * 60 + local.second + local.microsecond / 1e6
            span = 3600.0 - into_hour
            rate = cad.calls_per_second(local.hour)
            if rate * span >= remaining:
                return at(t, remaining / rate)
            remaining -= rate * span
            t = at(t, span)
        raise RuntimeError("no call arrives within a year: check hourly_volume")

    def call_type_for(self, when: datetime) -> str:
        return choose(self.rng, self.config.cad.call_mix.for_hour(when.astimezone(self.config.tz).hour))

    def make_call(self, when: datetime) -> CallReceived:
        """One screened call received at ``when``."""
        cad = self.config.cad
        call_type = self.call_type_for(when)
        profile = cad.call_types[call_type]
        odds = profile.screening
        screening = Screening(**{flag: self.rng.random() < getattr(odds, flag) for flag in RISK_FLAGS})
        priority = choose(self.rng, profile.priority)
        if any(getattr(screening, flag) for flag in RISK_FLAGS):
            priority = min(priority, 2)
        local = when.astimezone(self.config.tz)
        number = next(self._numbers)
        call_id = f"{cad.call_id_prefix}-{local:%Y%m%d-%H%M%S}-{number:04d}"
        # Call takers answer in turn (no random draw, so seeded call streams stay as they were).
        taker = f"{cad.psap_id}-CT{(number - 1) % cad.call_takers + 1:02d}" if cad.call_takers else None
        label = profile.label or call_type.replace("_", " ")
        return CallReceived(
            event_id=self.new_id(),
            call_id=call_id,
            psap_id=cad.psap_id,
            received_at=when,
            call_type=call_type,
            screening=screening,
            location=self._location(),
            priority=priority,
            narrative=f"SYNTHETIC TEST DATA - simulated {label} call {call_id}; no real caller or person.",
            call_taker_id=taker,
        )

    def _location(self) -> Location:
        zone = choose(self.rng, {i: z.weight for i, z in enumerate(self.config.cad.zones)})
        z = self.config.cad.zones[zone]
        distance = z.radius_km * math.sqrt(self.rng.random())
        bearing = self.rng.uniform(0, 2 * math.pi)
        lat = z.lat + distance * math.cos(bearing) / _KM_PER_DEGREE
        lon = z.lon + distance * math.sin(bearing) / (_KM_PER_DEGREE * math.cos(math.radians(z.lat)))
        return Location(lat=round(max(-90.0, min(90.0, lat)), 5), lon=round(lon, 5), zone=z.name)

    def new_call(self, when: datetime, now: datetime) -> list[Emit]:
        """The CallReceived at ``when`` and, sometimes, a later CallUpdated raising its risk."""
        cad = self.config.cad
        call = self.make_call(when)
        log.debug("cad: call %s (%s, priority %d)", call.call_id, call.call_type, call.priority)
        emits = [Emit(since(when, now), call, catalogue.CAD_CALLS)]
        if self.rng.random() < cad.update_probability:
            update = self._update(call)
            if update is not None:
                emits.append(Emit(since(update.updated_at, now), update, catalogue.CAD_CALLS))
        return emits

    def _update(self, call: CallReceived) -> CallUpdated | None:
        missing = [flag for flag in RISK_FLAGS if not getattr(call.screening, flag)]
        if not missing:
            return None
        flag = self.rng.choice(missing)
        updated_at = at(call.received_at, self.config.cad.update_delay.sample(self.rng))
        return CallUpdated(
            event_id=self.new_id(),
            causation_id=call.event_id,
            call_id=call.call_id,
            updated_at=updated_at,
            screening=call.screening.model_copy(update={flag: True}),
            priority=min(call.priority, 2),
            narrative=f"SYNTHETIC TEST DATA - simulated caller update: {flag.replace('_', ' ')}.",
        )

    # --- police, EMS and fire -------------------------------------------------

    def handle(self, event: Event, now: datetime) -> list[Emit]:
        if not isinstance(event, HandoffRequested):
            return []
        cad = self.config.cad
        ahead = reply_base(event, now) - now  # a request stamped by a clock ahead of ours
        now += ahead  # replies are timed from here, never before the request
        if event.agency == "cad_review":  # a supervisor takes the call in hand; what follows is theirs
            return [accepted(self.new_id, event, now, now)]
        dispatch = cad.dispatch.get(event.agency)  # type: ignore[call-overload]
        if dispatch is None:
            return [declined(self.new_id, event, now, now, "out_of_scope")]
        accepted_at = at(now, dispatch.accept_delay.sample(self.rng))
        ready_at = at(accepted_at, dispatch.assign_delay.sample(self.rng))
        pool = self.pools[event.agency]
        unit_id, assigned_at = pool.next_free(ready_at)
        plan = plan_dispatch(
            new_id=self.new_id,
            rng=self.rng,
            request=event,
            unit_id=unit_id,
            team=dispatch.team,
            agency_type=event.agency,  # type: ignore[arg-type]
            assigned_at=assigned_at,
            timeline=dispatch,
            now=now,
        )
        pool.reserve(unit_id, plan.cleared_at)
        log.debug("cad: handoff %s -> unit %s", event.event_id, unit_id)
        if cad.close_calls:
            cleared = plan.emits[-1].event
            self._plan_close(event.call_id, plan.cleared_at, ahead, plan.outcome.category, cleared.event_id)
        return [accepted(self.new_id, event, accepted_at, now), *plan.emits]

    def _plan_close(
        self, call_id: str, cleared_at: datetime, ahead: timedelta, disposition: str, cause: uuid.UUID
    ) -> None:
        """Close the call after its last planned unit clears (a later dispatch postpones it).

        :meth:`tick` emits the close when our clock reaches ``closed_at - ahead``.
        """
        close_at = at(cleared_at, self.config.cad.close_delay.sample(self.rng))
        due = close_at - ahead
        current = self._closing.get(call_id)
        if current is not None and current[0] >= due:
            return
        closed = CallClosed(
            event_id=self.new_id(),
            causation_id=cause,
            call_id=call_id,
            closed_at=close_at,
            disposition=disposition,
        )
        self._closing[call_id] = (due, closed)

    @property
    def calls_pending_close(self) -> int:
        return len(self._closing)
