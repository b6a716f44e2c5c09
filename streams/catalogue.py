"""The topic catalogue: the one definition of every topic on the bus.

Names, partitions, keys, value schemas, retention and which agencies produce
and consume each topic live here and nowhere else; ``dispatchbus topics``,
the Faust app, the connectors and the generated docs all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .contract import events as ev
from .settings import TopicSettings

DAY_MS = 24 * 3600 * 1000

CALL_PARTITIONS = 6
"""Every topic keyed by call_id has this many partitions, so a call's events are co-partitioned."""


class Agency(StrEnum):
    """Parties on the bus; used for data-sharing rules and producer/consumer documentation."""

    CAD = "cad"
    EMBEDDED_PROFESSIONAL = "embedded_professional"
    EXTERNAL_HOTLINE = "external_hotline"
    RESPONDERS = "responders"
    BUS = "bus"
    OPS = "ops"


@dataclass(frozen=True)
class TopicSpec:
    """One catalogue entry; ``name`` is the logical name, without the deployment prefix."""

    name: str
    description: str
    partitions: int
    key: str
    value_types: tuple[type[ev.Event], ...]
    producers: tuple[Agency, ...]
    consumers: tuple[Agency, ...]
    retention_days: int | None = 30
    compacted: bool = False
    restricted: bool = False

    def full_name(self, settings: TopicSettings) -> str:
        """The topic's name on the broker."""
        return settings.prefix + self.name

    def partition_count(self, settings: TopicSettings) -> int:
        return settings.partitions or self.partitions

    def broker_config(self) -> dict[str, str]:
        """Topic-level configs for CreateTopics."""
        conf = {"cleanup.policy": "compact" if self.compacted else "delete"}
        if self.retention_days is not None:
            conf["retention.ms"] = str(self.retention_days * DAY_MS)
        return conf

    def key_of(self, event: ev.Event) -> str:
        """The record key for ``event`` on this topic (its ``key`` field, else the event id)."""
        value = getattr(event, self.key, None)
        return str(value) if value is not None else str(event.event_id)

    @property
    def value_type_names(self) -> tuple[str, ...]:
        return tuple(t.__name__ for t in self.value_types)


def _call_topic(name: str, description: str, types, producers, consumers, **kw) -> TopicSpec:
    return TopicSpec(name, description, CALL_PARTITIONS, "call_id", types, producers, consumers, **kw)


A = Agency

CAD_CALLS = _call_topic(
    "cad.calls",
    "Calls from the 911 CAD: received (screened), updated, closed.",
    (ev.CallReceived, ev.CallUpdated, ev.CallClosed),
    (A.CAD,),
    (A.BUS,),
)
UNIT_STATUS = TopicSpec(
    "responders.unit-status",
    "Availability of every responder unit. One partition: every worker keeps all units.",
    1,
    "unit_id",
    (ev.UnitStatus,),
    (A.RESPONDERS, A.CAD),
    (A.BUS,),
)
DECISIONS = _call_topic(
    "bus.decisions",
    "Routing decisions; a call's decisions form a chain and the last one stands.",
    (ev.RoutingDecision,),
    (A.BUS,),
    (A.CAD, A.OPS),
)
HANDOFF_EMBEDDED = _call_topic(
    "handoff.embedded-professional",
    "Requests to the embedded clinicians' console.",
    (ev.HandoffRequested,),
    (A.BUS,),
    (A.EMBEDDED_PROFESSIONAL,),
)
HANDOFF_HOTLINE = _call_topic(
    "handoff.external-hotline",
    "Requests to the external crisis hotline.",
    (ev.HandoffRequested,),
    (A.BUS,),
    (A.EXTERNAL_HOTLINE,),
)
HANDOFF_RESPONDERS = _call_topic(
    "handoff.community-responder",
    "Requests to community responder teams.",
    (ev.HandoffRequested,),
    (A.BUS,),
    (A.RESPONDERS,),
)
HANDOFF_CAD = _call_topic(
    "handoff.cad-dispatch",
    "Requests back to the 911 CAD for police, EMS or fire dispatch.",
    (ev.HandoffRequested,),
    (A.BUS,),
    (A.CAD,),
)
HANDOFF_REPLIES = _call_topic(
    "handoff.replies",
    "Answers to handoff requests: accepted, declined, consult results.",
    (ev.HandoffAccepted, ev.HandoffDeclined, ev.ConsultResult),
    (A.EMBEDDED_PROFESSIONAL, A.EXTERNAL_HOTLINE, A.RESPONDERS, A.CAD),
    (A.BUS,),
)
RESPONDER_ACTIVITY = _call_topic(
    "responders.activity",
    "Unit dispatch timeline: assigned, en route, on scene, cleared with an outcome.",
    (ev.DispatchAssigned, ev.UnitEnRoute, ev.UnitOnScene, ev.UnitCleared),
    (A.RESPONDERS, A.CAD),
    (A.BUS,),
)
ESCALATIONS = _call_topic(
    "bus.escalations",
    "Handoffs nobody answered in time.",
    (ev.HandoffTimedOut,),
    (A.BUS,),
    (A.OPS, A.CAD),
)
FEEDBACK = _call_topic(
    "feedback.outcomes",
    "Minimised outcomes of finished calls for the call center that took them.",
    (ev.OutcomeFeedback,),
    (A.BUS,),
    (A.CAD,),
    retention_days=400,
)
DEAD_LETTER = TopicSpec(
    "bus.deadletter",
    "Inputs the bus could not process, with reason and ORIGINAL BYTES. Restricted: holds call data.",
    1,
    "original key",
    (ev.DeadLetter,),
    (A.BUS,),
    (A.OPS,),
    retention_days=14,
    restricted=True,
)

CATALOGUE: tuple[TopicSpec, ...] = (
    CAD_CALLS,
    UNIT_STATUS,
    DECISIONS,
    HANDOFF_EMBEDDED,
    HANDOFF_HOTLINE,
    HANDOFF_RESPONDERS,
    HANDOFF_CAD,
    HANDOFF_REPLIES,
    RESPONDER_ACTIVITY,
    ESCALATIONS,
    FEEDBACK,
    DEAD_LETTER,
)

BY_NAME: dict[str, TopicSpec] = {spec.name: spec for spec in CATALOGUE}


def lookup(name: str, settings: TopicSettings | None = None) -> TopicSpec:
    """Find a topic by logical name, or by full name when ``settings`` gives the prefix."""
    if name in BY_NAME:
        return BY_NAME[name]
    if settings and name.startswith(settings.prefix) and name[len(settings.prefix):] in BY_NAME:
        return BY_NAME[name[len(settings.prefix):]]
    known = ", ".join(BY_NAME)
    raise KeyError(f"unknown topic {name!r}; the catalogue has: {known}")
