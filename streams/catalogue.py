"""The topic catalogue: the one definition of every topic on the bus.

Names, partitions, keys, value schemas, retention and which agencies produce
and consume each topic live here and nowhere else; ``dispatchbus topics``,
the Faust app, the connectors and the generated docs all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .contract import events as ev
from .settings import PSAP_ID_PATTERN, Settings, TopicSettings

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
    PSAP = "psap"
    """One call center; each PSAP is its own principal (``User:psap-<id>``) and reads only its own topics."""


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


HANDOFF_EVENTS: tuple[type[ev.Event], ...] = (ev.HandoffRequested, ev.HandoffUpdated, ev.HandoffWithdrawn)
"""What an agency's handoff topic carries: requests, new facts about a call it holds, stand-downs."""


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
    HANDOFF_EVENTS,
    (A.BUS,),
    (A.EMBEDDED_PROFESSIONAL,),
)
HANDOFF_HOTLINE = _call_topic(
    "handoff.external-hotline",
    "Requests to the external crisis hotline.",
    HANDOFF_EVENTS,
    (A.BUS,),
    (A.EXTERNAL_HOTLINE,),
)
HANDOFF_RESPONDERS = _call_topic(
    "handoff.community-responder",
    "Requests to community responder teams.",
    HANDOFF_EVENTS,
    (A.BUS,),
    (A.RESPONDERS,),
)
HANDOFF_CAD = _call_topic(
    "handoff.cad-dispatch",
    "Requests back to the 911 CAD for police, EMS or fire dispatch.",
    HANDOFF_EVENTS,
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
    "Handoffs nobody answered in time; the bus reads them back to re-route the call.",
    (ev.HandoffTimedOut,),
    (A.BUS,),
    (A.BUS, A.OPS, A.CAD),
)
FEEDBACK = _call_topic(
    "feedback.outcomes",
    "Minimised outcomes of every finished call, all PSAPs: the CAD's archive and the bus's digest input. "
    "Each listed PSAP also gets its own calls' outcomes on feedback.psap.<id>.outcomes.",
    (ev.OutcomeFeedback,),
    (A.BUS,),
    (A.CAD, A.BUS),
    retention_days=400,
)
FEEDBACK_DIGESTS = TopicSpec(
    "feedback.digests",
    "Day and week digests of outcomes per PSAP and per call taker, all PSAPs (the latest revision of a "
    "digest_id stands). Each listed PSAP also gets its own on feedback.psap.<id>.digests.",
    1,
    "psap_id",
    (ev.FeedbackDigest,),
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
    FEEDBACK_DIGESTS,
    DEAD_LETTER,
)

BY_NAME: dict[str, TopicSpec] = {spec.name: spec for spec in CATALOGUE}

HANDOFF_TOPICS: dict[str, TopicSpec] = {
    "embedded_professional": HANDOFF_EMBEDDED,
    "external_hotline": HANDOFF_HOTLINE,
    "community_responder": HANDOFF_RESPONDERS,
    "police": HANDOFF_CAD,
    "ems": HANDOFF_CAD,
    "fire": HANDOFF_CAD,
    "cad_review": HANDOFF_CAD,
}
"""Where a handoff request, update or stand-down for each agency (a routing target) goes."""


@dataclass(frozen=True)
class PsapTopic:
    """A topic every listed PSAP gets for itself (``feedback.psap.<psap_id>.<suffix>``).

    The PSAPs are listed in ``DISPATCHBUS_FEEDBACK__PSAPS``; each PSAP's principal may
    read its own topics and no other PSAP's (see ``deploy/acls.md``).
    """

    suffix: str
    description: str
    partitions: int
    key: str
    value_types: tuple[type[ev.Event], ...]
    retention_days: int | None = 400

    PREFIX = "feedback.psap."

    def name_for(self, psap_id: str) -> str:
        return f"{self.PREFIX}{psap_id}.{self.suffix}"

    def spec(self, psap_id: str) -> TopicSpec:
        """The catalogue entry of this topic for one PSAP."""
        if not PSAP_ID_PATTERN.match(psap_id):
            raise ValueError(f"{psap_id!r} cannot name a topic")
        return TopicSpec(
            self.name_for(psap_id),
            self.description.format(psap=psap_id),
            self.partitions,
            self.key,
            self.value_types,
            (Agency.BUS,),
            (Agency.PSAP,),
            retention_days=self.retention_days,
        )

    def psap_of(self, name: str) -> str | None:
        """The PSAP id if ``name`` (logical) is this topic for some PSAP."""
        end = f".{self.suffix}"
        if name.startswith(self.PREFIX) and name.endswith(end):
            psap = name[len(self.PREFIX): -len(end)]
            return psap if PSAP_ID_PATTERN.match(psap) else None
        return None


PSAP_FEEDBACK = PsapTopic(
    "outcomes",
    "Minimised outcomes of PSAP {psap}'s calls, for that call center alone.",
    CALL_PARTITIONS,
    "call_id",
    (ev.OutcomeFeedback,),
)
PSAP_DIGESTS = PsapTopic(
    "digests",
    "Day and week digests of PSAP {psap} and its call takers, for that call center alone.",
    1,
    "psap_id",
    (ev.FeedbackDigest,),
)
PSAP_TOPICS: tuple[PsapTopic, ...] = (PSAP_FEEDBACK, PSAP_DIGESTS)


def psap_topics(psap_ids: tuple[str, ...] | list[str]) -> tuple[TopicSpec, ...]:
    """Every per-PSAP topic of the listed PSAPs."""
    return tuple(t.spec(psap) for psap in psap_ids for t in PSAP_TOPICS)


def topics_for(settings: Settings) -> tuple[TopicSpec, ...]:
    """The catalogue plus the per-PSAP topics of the PSAPs ``settings`` lists: what ``topics create`` makes."""
    return CATALOGUE + psap_topics(settings.feedback.psap_ids)


def lookup(name: str, settings: TopicSettings | None = None) -> TopicSpec:
    """Find a topic by logical name, or by full name when ``settings`` gives the prefix."""
    if name in BY_NAME:
        return BY_NAME[name]
    if settings and name.startswith(settings.prefix) and name[len(settings.prefix):] in BY_NAME:
        return BY_NAME[name[len(settings.prefix):]]
    logical = name[len(settings.prefix):] if settings and name.startswith(settings.prefix) else name
    for candidate in (name, logical):
        for template in PSAP_TOPICS:
            if (psap := template.psap_of(candidate)) is not None:
                return template.spec(psap)
    known = ", ".join([*BY_NAME, *(t.name_for("<psap_id>") for t in PSAP_TOPICS)])
    raise KeyError(f"unknown topic {name!r}; the catalogue has: {known}")
