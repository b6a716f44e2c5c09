"""Community responder teams: acknowledge a request, send a free unit, report its timeline."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import ClassVar

from dispatchbus import catalogue
from dispatchbus.contract.events import Event, HandoffRequested

from .agency import UnitPool, accepted, announce_units, declined, plan_dispatch, reply_base
from .runtime import Emit, Simulator, at

log = logging.getLogger(__name__)


class ResponderSimulator(Simulator):
    """Teams of units (e.g. MRU and CRT) answering ``handoff.community-responder``.

    A request names a team (or none: any team). When a unit of that team is
    free at acknowledgement the teams accept, assign it (UnitStatus busy), and
    report en route, on scene and cleared with an outcome (UnitStatus
    available); when none is free they decline with ``no_capacity``; an unknown
    team is ``out_of_scope``.
    """

    name: ClassVar[str] = "responders"
    consumes: ClassVar[tuple[catalogue.TopicSpec, ...]] = (catalogue.HANDOFF_RESPONDERS,)
    agency: ClassVar[str] = "community_responder"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.config.responders
        self.team_of = {u.unit_id: u.team for u in cfg.units}
        self.pools = {team: UnitPool(units) for team, units in cfg.teams.items()}

    def start(self, now: datetime) -> list[Emit]:
        if not self.config.responders.announce_on_start:
            return []
        return announce_units(self.new_id, self.config.responders.units, now)

    def handle(self, event: Event, now: datetime) -> list[Emit]:
        if not isinstance(event, HandoffRequested):
            return []
        cfg = self.config.responders
        now = reply_base(event, now)  # replies are timed from here, never before the request
        if event.agency != self.agency or (event.team is not None and event.team not in self.pools):
            return [declined(self.new_id, event, now, now, "out_of_scope")]
        if self.rng.random() < cfg.no_answer_probability:
            log.debug("responders: leaving handoff %s unanswered", event.event_id)
            return []
        acknowledged_at = at(now, cfg.acknowledge_delay.sample(self.rng))
        teams = [event.team] if event.team is not None else list(self.pools)
        choice = next(
            ((team, unit) for team in teams for unit in self.pools[team].free(acknowledged_at)), None
        )
        if choice is None:
            log.debug("responders: no free unit for handoff %s", event.event_id)
            return [declined(self.new_id, event, acknowledged_at, now, "no_capacity")]
        team, unit_id = choice
        assigned_at = at(acknowledged_at, cfg.assign_delay.sample(self.rng))
        plan = plan_dispatch(
            new_id=self.new_id,
            rng=self.rng,
            request=event,
            unit_id=unit_id,
            team=team,
            agency_type="community_responder",
            assigned_at=assigned_at,
            timeline=cfg,
            now=now,
            police_backup_probability=cfg.police_backup_probability,
            report_status=True,
        )
        self.pools[team].reserve(unit_id, plan.cleared_at)
        log.debug("responders: handoff %s -> unit %s", event.event_id, unit_id)
        return [accepted(self.new_id, event, acknowledged_at, now), *plan.emits]

