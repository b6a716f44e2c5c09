"""The external crisis hotline: specialised call types only, and not open around the clock."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import ClassVar

from dispatchbus import catalogue
from dispatchbus.contract.events import Event, HandoffRequested

from .agency import accepted, consult_result, declined, reply_base
from .runtime import Emit, Simulator, at

log = logging.getLogger(__name__)


class HotlineSimulator(Simulator):
    """Declines when closed (on the request's own time, in the configured zone) or out of scope.

    Otherwise it may leave a request unanswered or decline it for lack of
    capacity; else it accepts and later reports a consult result.
    """

    name: ClassVar[str] = "hotline"
    consumes: ClassVar[tuple[catalogue.TopicSpec, ...]] = (catalogue.HANDOFF_HOTLINE,)
    agency: ClassVar[str] = "external_hotline"

    def is_open(self, when: datetime) -> bool:
        """Whether the hotline is open at ``when`` (local wall time of the configured zone)."""
        return self.config.hotline.is_open(when.astimezone(self.config.tz))

    def in_scope(self, call_type: str) -> bool:
        return call_type in self.config.hotline.scope

    def handle(self, event: Event, now: datetime) -> list[Emit]:
        if not isinstance(event, HandoffRequested):
            return []
        cfg = self.config.hotline
        now = reply_base(event, now)  # replies are timed from here, never before the request
        if event.agency != self.agency:
            return [declined(self.new_id, event, now, now, "out_of_scope")]
        if not self.is_open(event.requested_at):
            return [declined(self.new_id, event, at(now, cfg.decline_delay.sample(self.rng)), now, "closed")]
        answered_at = at(now, cfg.answer_delay.sample(self.rng))
        if not self.in_scope(event.call_type):
            return [declined(self.new_id, event, answered_at, now, "out_of_scope")]
        if self.rng.random() < cfg.no_answer_probability:
            log.debug("hotline: leaving handoff %s unanswered", event.event_id)
            return []
        if self.rng.random() < cfg.decline_probability:
            return [declined(self.new_id, event, answered_at, now, "no_capacity")]
        completed_at = at(answered_at, cfg.consult_duration.sample(self.rng))
        result = cfg.consult.draw(self.rng)
        log.debug("hotline: handoff %s -> %s", event.event_id, result)
        return [
            accepted(self.new_id, event, answered_at, now),
            consult_result(self.new_id, event, completed_at, now, result),
        ]
