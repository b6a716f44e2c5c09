"""A call's timeline: every hop, who holds the call now, its status and its pending handoff.

Stored per ``call_id`` in a changelogged Faust table as plain JSON. It keeps a
copy of the call without its narrative (needed to re-route) and never any
other free text, so the views built from it are safe to show supervisors.

The timeline is a plain dataclass, not a pydantic model: the worker copies
and changes one for every event, and a model costs a validation on creation,
a check on every attribute set and three objects for the garbage collector
to track, for values that were validated already. Its JSON form is
pydantic's (through a ``TypeAdapter``), and reading it back validates it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple
from uuid import UUID

from pydantic import ConfigDict, TypeAdapter

from ..contract.events import (
    CallReceived,
    HandoffRequested,
    HandoffUpdated,
    HandoffWithdrawn,
    RoutingDecision,
    UtcDatetime,
    iso_utc,
)

Status = Literal[
    "unrouted",  # replies or activity arrived before the call itself
    "waiting",  # a handoff is requested and not yet answered
    "accepted",  # the receiving agency took it
    "dispatched",
    "en_route",
    "on_scene",
    "resolved_by_phone",
    "cleared",
    "closed",
]

ENDED: frozenset[str] = frozenset({"resolved_by_phone", "cleared", "closed"})

SEEN_LIMIT = 256
"""How many processed event ids a timeline remembers for dropping redelivered copies."""


class Hop(NamedTuple):
    """One step in a call's history (no free text: ``detail`` is a code or a category).

    A named tuple rather than a model: a call gathers a dozen hops and the bus
    builds them from values already validated, so each would otherwise cost a
    validation and four objects for the garbage collector to track. In JSON a
    hop is an array in field order; timelines that earlier versions wrote with
    hops as objects still load.
    """

    kind: str
    at: UtcDatetime
    agency: str | None = None
    team: str | None = None
    unit_id: str | None = None
    detail: str | None = None
    event_id: UUID | None = None
    late: bool = False
    rejected: str | None = None
    """Why the event was refused (it came from an agency or unit the call was not handed to)."""

    def view(self) -> dict:
        """The hop in a supervisor's view (without its event id)."""
        return {
            "kind": self.kind, "at": iso_utc(self.at), "agency": self.agency, "team": self.team,
            "unit_id": self.unit_id, "detail": self.detail, "late": self.late, "rejected": self.rejected,
        }


LegState = Literal["waiting", "accepted", "dispatched", "en_route", "on_scene"]

LEG_RANK: dict[str, int] = {"waiting": 1, "accepted": 2, "dispatched": 3, "en_route": 4, "on_scene": 5}


class Leg(NamedTuple):
    """One agency's part in a call: the handoff it was sent, and how far it got (a named tuple, like :class:`Hop`).

    A call has one leg per agency holding it; several at once in a co-response
    (e.g. EMS and police). A leg ends when its units clear, when it declines
    or times out (the fallback's leg replaces it), or when it is withdrawn.
    """

    handoff_id: UUID
    decision_id: UUID
    agency: str
    requested_at: UtcDatetime
    team: str | None = None
    deadline_at: UtcDatetime | None = None
    attempt: int = 0
    state: LegState = "waiting"
    units: tuple[str, ...] = ()
    accepted_at: UtcDatetime | None = None

    @property
    def waiting(self) -> bool:
        return self.state == "waiting"


PendingHandoff = Leg
"""A leg still waiting for its agency's answer."""


@dataclass
class Timeline:
    """Everything the bus knows about one call."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    call_id: str
    call: CallReceived | None = None
    status: Status = "unrouted"
    holder: str | None = None
    holder_team: str | None = None
    decisions: list[RoutingDecision] = field(default_factory=list)
    legs: list[Leg] = field(default_factory=list)
    hops: list[Hop] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    accepted_at: UtcDatetime | None = None
    dispatched_at: UtcDatetime | None = None
    on_scene_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    outcome: str | None = None
    police_needed: bool = False
    police_after_no_answer: bool = False
    clock_suspect: bool = False
    feedback_sent: bool = False
    # What the last applied event emitted: if that event is redelivered (a crash after the
    # timeline was saved but before its outputs reached Kafka), the same outputs are sent again.
    last_event_id: str | None = None
    last_decisions: list[RoutingDecision] = field(default_factory=list)
    last_handoffs: list[HandoffRequested] = field(default_factory=list)
    last_updates: list[HandoffUpdated] = field(default_factory=list)
    last_withdrawals: list[HandoffWithdrawn] = field(default_factory=list)
    last_ended: bool = False

    def evolve(self) -> Timeline:
        """A copy to change: the lists that transitions append to are new, everything else is shared.

        Transitions replace nested values (they are immutable) and only append
        to ``decisions``, ``hops`` and ``seen``; a deep copy would cost more
        than the routing.
        """
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.decisions, new.hops, new.seen = list(self.decisions), list(self.hops), list(self.seen)
        new.legs = list(self.legs)
        return new

    def to_json(self) -> bytes:
        """The JSON stored in the table's changelog."""
        return _ADAPTER.dump_json(self)

    @staticmethod
    def from_json(data: bytes | str) -> Timeline:
        """Read (and validate) a stored timeline, also one written by earlier versions."""
        if b'"pending"' in (data if isinstance(data, bytes) else data.encode()):
            return _ADAPTER.validate_python(_legs_from_pending(json.loads(data)))
        return _ADAPTER.validate_json(data)

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def last_decision(self) -> RoutingDecision | None:
        return self.decisions[-1] if self.decisions else None

    @property
    def pending(self) -> Leg | None:
        """The first leg still waiting for an answer (None: nobody is asked right now)."""
        for leg in self.legs:
            if leg.state == "waiting":
                return leg
        return None

    @property
    def waiting_legs(self) -> list[Leg]:
        return [leg for leg in self.legs if leg.state == "waiting"]

    def leg_by_handoff(self, handoff_id: UUID) -> Leg | None:
        for leg in self.legs:
            if leg.handoff_id == handoff_id:
                return leg
        return None

    def leg_of_unit(self, unit_id: str) -> Leg | None:
        for leg in self.legs:
            if unit_id in leg.units:
                return leg
        return None

    def failed_teams(self) -> frozenset[str]:
        """Community responder teams that declined this call or let its handoff time out."""
        return frozenset(
            h.team for h in self.hops
            if h.kind in ("declined", "timed_out") and h.team and not h.late and h.rejected is None
        )

    def has_seen(self, event_id: UUID | str) -> bool:
        return str(event_id) in self.seen

    def mark_seen(self, event_id: UUID | str) -> None:
        self.seen.append(str(event_id))
        if len(self.seen) > SEEN_LIMIT:
            del self.seen[: len(self.seen) - SEEN_LIMIT]

    def waited_seconds(self, now: datetime) -> float | None:
        """How long the oldest waiting handoff has waited at ``now`` (None: nothing waits)."""
        waiting = self.waiting_legs
        if not waiting:
            return None
        return max(0.0, max((now - leg.requested_at).total_seconds() for leg in waiting))

    def view(self, now: datetime) -> dict:
        """The supervisor's JSON view: no narrative, no personal fields."""
        call = self.call
        last = self.last_decision
        return {
            "call_id": self.call_id,
            "psap_id": call.psap_id if call else None,
            "call_type": call.call_type if call else None,
            "priority": call.priority if call else None,
            "zone": call.location.zone if call else None,
            "received_at": iso_utc(call.received_at) if call else None,
            "status": self.status,
            "holder": self.holder,
            "holder_team": self.holder_team,
            "model": last.model if last else None,
            "policy": f"{last.policy_id} {last.policy_version}" if last else None,
            "waiting_seconds": self.waited_seconds(now),
            "deadline_at": iso_utc(self.pending.deadline_at) if self.pending and self.pending.deadline_at else None,
            "legs": [
                {
                    "agency": leg.agency, "team": leg.team, "state": leg.state, "units": list(leg.units),
                    "requested_at": iso_utc(leg.requested_at),
                    "deadline_at": iso_utc(leg.deadline_at) if leg.deadline_at and leg.waiting else None,
                }
                for leg in self.legs
            ],
            "outcome": self.outcome,
            "police_needed": self.police_needed,
            "decisions": [
                {
                    "sequence": d.sequence,
                    "target": d.target,
                    "team": d.team,
                    "fallback": d.fallback,
                    "co_responders": list(d.co_responders),
                    "reasons": list(d.reasons),
                    "decided_at": iso_utc(d.decided_at),
                }
                for d in self.decisions
            ],
            "hops": [h.view() for h in self.hops],
        }


_ADAPTER: TypeAdapter[Timeline] = TypeAdapter(Timeline)

_PENDING_FIELDS = ("handoff_id", "decision_id", "agency", "requested_at", "team", "deadline_at", "attempt")


def _legs_from_pending(data: dict) -> dict:
    """A timeline stored before calls had legs (one ``pending`` handoff, one ``accepted_handoff``)."""
    pending = data.pop("pending", None)
    accepted = data.pop("accepted_handoff", None)
    legs = []
    if isinstance(pending, list):
        pending = dict(zip(_PENDING_FIELDS, pending))
    if pending:
        legs.append(pending)
    elif accepted and data.get("status") not in ENDED and data.get("decisions"):
        last = data["decisions"][-1]
        legs.append({
            "handoff_id": accepted, "decision_id": last["event_id"], "agency": data.get("holder") or last["target"],
            "team": data.get("holder_team"), "requested_at": data.get("accepted_at") or last["decided_at"],
            "state": data["status"] if data.get("status") in LEG_RANK else "accepted",
            "accepted_at": data.get("accepted_at"),
        })
    data["legs"] = legs
    return data
