"""The embedded clinicians' console: takes consult requests from the call center's bus."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import ClassVar

from dispatchbus import catalogue
from dispatchbus.contract.events import Event, HandoffRequested

from .agency import accepted, consult_result, declined, reply_base
from .runtime import Emit, Simulator, at

log = logging.getLogger(__name__)


class ConsoleSimulator(Simulator):
    """Clinicians accept a request after a delay (or never, to exercise timeouts), then report a result.

    ``clinicians`` consults run at once; a request that finds everyone busy
    waits for the first clinician to finish, however long that takes.
    """

    name: ClassVar[str] = "console"
    consumes: ClassVar[tuple[catalogue.TopicSpec, ...]] = (catalogue.HANDOFF_EMBEDDED,)
    agency: ClassVar[str] = "embedded_professional"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._free_at: list[datetime | None] = [None] * self.config.console.clinicians

    def handle(self, event: Event, now: datetime) -> list[Emit]:
        if not isinstance(event, HandoffRequested):
            return []
        cfg = self.config.console
        now = reply_base(event, now)  # replies are timed from here, never before the request
        if event.agency != self.agency:
            return [declined(self.new_id, event, now, now, "out_of_scope")]
        if self.rng.random() < cfg.no_answer_probability:
            log.debug("console: leaving handoff %s unanswered", event.event_id)
            return []
        ready = at(now, cfg.accept_delay.sample(self.rng))
        slot = min(range(len(self._free_at)), key=lambda i: self._free_at[i] or ready)
        accepted_at = max(ready, self._free_at[slot] or ready)
        completed_at = at(accepted_at, cfg.consult_duration.sample(self.rng))
        self._free_at[slot] = completed_at
        result = cfg.consult.draw(self.rng)
        log.debug("console: handoff %s -> %s", event.event_id, result)
        return [
            accepted(self.new_id, event, accepted_at, now),
            consult_result(self.new_id, event, completed_at, now, result),
        ]
