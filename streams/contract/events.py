"""The event contract: one pydantic model per Avro record.

These models are the single source of truth. ``schemas/*.avsc`` is generated
from them (``dispatchbus schemas generate``) and a test fails when the two
drift. Field names listed in the contract section of the README are fixed:
other services and external checks rely on them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

NAMESPACE = "org.dispatchbus.events"


def utc_millis(value: datetime) -> datetime:
    """Normalise to UTC at millisecond precision, the precision Avro carries; a naive value is refused."""
    tz = value.tzinfo
    if tz is not timezone.utc:
        if tz is None:
            raise ValueError("a timestamp needs a time zone")
        # Also UTC under another tzinfo object (pydantic's, when it parses "...Z" from JSON):
        # astimezone costs half of replace(tzinfo=...).
        value = value.astimezone(timezone.utc)
    if value.microsecond % 1000:
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


@lru_cache(maxsize=4096)
def iso_utc(value: datetime) -> str:
    """``2026-05-04T18:00:00Z`` (milliseconds only when set)."""
    # A timeline repeats the same few instants (a call's time is its decision's and its hops'), and
    # formatting costs microseconds, so texts are cached: equal instants in any zone share one.
    if value.tzinfo is not timezone.utc and value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return _format_iso(value)


def _format_iso(value: datetime) -> str:
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


UtcDatetime = Annotated[
    AwareDatetime,
    AfterValidator(utc_millis),
    PlainSerializer(iso_utc, return_type=str, when_used="json"),
]
"""A UTC timestamp at millisecond precision; JSON form ``2026-05-04T18:00:00Z``."""

CallType = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]

ID_MAX_LENGTH = 128
"""Longest identifier (call, PSAP, unit, team, call taker ...) a record may carry; a longer one is a bad record."""
TEXT_MAX_LENGTH = 16_384
"""Longest free text (narratives, notes, details) a record may carry."""
Id = Annotated[str, Field(min_length=1, max_length=ID_MAX_LENGTH)]
"""An identifier: 1 to :data:`ID_MAX_LENGTH` characters (a pydantic-only limit: the Avro type stays string)."""
Code = Annotated[str, Field(max_length=ID_MAX_LENGTH)]
"""A short code or name (zone, policy id, reason code), at most :data:`ID_MAX_LENGTH` characters."""
Text = Annotated[str, Field(max_length=TEXT_MAX_LENGTH)]
"""Free text, at most :data:`TEXT_MAX_LENGTH` characters."""
AgencyType = Literal["community_responder", "police", "ems", "fire"]
Target = Literal[
    "community_responder", "embedded_professional", "external_hotline", "police", "ems", "fire", "cad_review"
]
"""Who a call can be handed to; ``cad_review`` is the 911 CAD's supervisors deciding by hand."""
UnitState = Literal["available", "busy", "out_of_service"]
DeclineReason = Literal["out_of_scope", "closed", "no_capacity", "other"]
ConsultResolution = Literal[
    "resolved_by_phone",
    "dispatch_community_responder",
    "dispatch_police",
    "dispatch_ems",
    "refer_hotline",
]
OutcomeCategory = Literal[
    "resolved_on_scene",
    "resolved_by_phone",
    "transported_to_care",
    "referred_to_services",
    "police_backup_requested",
    "no_contact",
    "refused_services",
    "other",
]
RouteStep = Literal[
    "decided", "accepted", "declined", "timed_out", "consult_result", "dispatched", "on_scene", "cleared",
    "withdrawn",
]
WithdrawReason = Literal["superseded", "call_closed"]
DigestWindow = Literal["day", "week"]


_new = object.__new__
_set = object.__setattr__  # frozen models refuse attribute assignment
_EVERY_FIELD: dict[type, set[str]] = {}
"""Per record class, the one "fields set" its trusted instances with every field set share.

A set of a record's field names takes ~360 bytes and is one more object for
the garbage collector; the worker keeps a decision, a handoff request and a
call copy for every call it holds. Sharing is safe because records are
frozen (pydantic changes the set only on attribute assignment) and
``model_copy`` copies the set before changing it.
"""


class Record(BaseModel):
    """Base of every Avro record in the contract (events and nested records)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """An instance of values that are valid already, every field named: nothing is checked again.

        For what the bus derives from validated events on its hot path (a
        decision, a handoff request): validation costs 3-4 µs there and
        ``model_construct`` more, for values that passed it once. The caller
        gives each field its normal form (e.g. :func:`utc_millis` for a computed
        timestamp); tests compare the result with a validated instance.
        """
        assert len(values) == len(cls.__pydantic_fields__), f"{cls.__name__}.trusted: every field is named"
        return cls._built(values, values.keys())

    def trusted_copy(self, **changes: Any) -> Self:
        """``model_copy(update=changes)`` (a shallow copy) for changes valid already, as :meth:`trusted`."""
        assert changes.keys() <= self.__dict__.keys(), f"{type(self).__name__}.trusted_copy: unknown field"
        values = self.__dict__.copy()
        values.update(changes)
        return self._built(values, self.__pydantic_fields_set__ | changes.keys())

    @classmethod
    def _built(cls, values: dict[str, Any], names: Any) -> Self:
        every = _EVERY_FIELD.get(cls)
        if every is None:
            every = _EVERY_FIELD[cls] = set(cls.__pydantic_fields__)
        fields_set = every if len(names) == len(every) else set(names)
        record = _new(cls)
        _set(record, "__dict__", values)
        _set(record, "__pydantic_fields_set__", fields_set)
        _set(record, "__pydantic_extra__", None)
        _set(record, "__pydantic_private__", None)
        return record


class Event(Record):
    """Base of every top-level event.

    ``TIME_FIELD`` names the field holding the event time; ``correlation_id``
    ties together all events of one call (it is the call id where there is a
    call) and ``causation_id`` is the ``event_id`` of the event that caused
    this one.
    """

    TIME_FIELD: ClassVar[str]

    event_id: UUID = Field(description="Unique id of this event (UUID).")
    correlation_id: Code | None = Field(
        default=None, description="Groups every event of one call's history."
    )
    causation_id: UUID | None = Field(
        default=None, description="event_id of the event that caused this one."
    )

    @model_validator(mode="before")
    @classmethod
    def _correlate_by_call(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("correlation_id") is None and data.get("call_id"):
            data = {**data, "correlation_id": data["call_id"]}
        return data

    @property
    def event_time(self) -> datetime:
        """The event time, whatever the record calls it."""
        return getattr(self, self.TIME_FIELD)


# --- nested records -------------------------------------------------------------


Answer = bool | None
"""A screening answer: True (yes), False (no) or None (unknown: not asked, or the caller cannot say)."""


class Screening(Record):
    """Answers to the call taker's safety screening questions: yes, no or unknown (null).

    An answer left out is unknown, never no: each routing policy says what an
    unknown answer means for each question (``screening_unknown``).
    """

    weapon_present: Answer = None
    violence_in_progress: Answer = None
    medical_emergency: Answer = None
    imminent_danger: Answer = None


class Location(Record):
    """Where help is needed; ``zone`` is the dispatch zone or beat."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    zone: Code


class Outcome(Record):
    """How a responder's involvement in a call ended."""

    category: OutcomeCategory = Field(description="Outcome category shared in feedback.")
    police_backup_requested: bool = False
    notes: Text | None = Field(
        default=None, description="Sensitive responder notes; never leaves the responder agency."
    )


class RouteHop(Record):
    """One hop of a call's route, as reported back to the call center."""

    agency: Target
    team: Id | None = None
    at: UtcDatetime
    kind: RouteStep | None = Field(default=None, description="What happened at this hop.")
    code: Code | None = Field(
        default=None,
        description="A code from a closed set: the decision's reason code, the decline reason, the "
        "consult result or the outcome category. Never free text.",
    )


# --- 911 CAD ----------------------------------------------------------------------


class CallReceived(Event):
    """A 911 call was answered and screened by a call taker."""

    TIME_FIELD: ClassVar[str] = "received_at"

    call_id: Id
    psap_id: Id = Field(description="Public-safety answering point (call center).")
    received_at: UtcDatetime
    call_type: CallType
    screening: Screening
    location: Location
    priority: int = Field(ge=1, le=5, description="1 (highest) to 5.")
    narrative: Text | None = Field(
        default=None, description="Sensitive free text; never logged, never forwarded."
    )
    call_taker_id: Id | None = Field(
        default=None,
        description="The call taker who took the call; returned only to the call's own PSAP in outcome feedback.",
    )


class CallUpdated(Event):
    """The CAD revised a call (new information from the caller)."""

    TIME_FIELD: ClassVar[str] = "updated_at"

    call_id: Id
    updated_at: UtcDatetime
    call_type: CallType | None = None
    screening: Screening | None = None
    priority: int | None = Field(default=None, ge=1, le=5)
    narrative: Text | None = None


class CallClosed(Event):
    """The CAD closed a call."""

    TIME_FIELD: ClassVar[str] = "closed_at"

    call_id: Id
    closed_at: UtcDatetime
    disposition: Id


# --- responders -------------------------------------------------------------------


class UnitStatus(Event):
    """A responder unit's availability changed."""

    TIME_FIELD: ClassVar[str] = "occurred_at"

    unit_id: Id
    team: Id
    agency_type: AgencyType
    status: UnitState
    occurred_at: UtcDatetime


class DispatchAssigned(Event):
    """A unit was assigned to a call."""

    TIME_FIELD: ClassVar[str] = "assigned_at"

    call_id: Id
    unit_id: Id
    team: Id | None = None
    agency_type: AgencyType
    assigned_at: UtcDatetime


class UnitEnRoute(Event):
    """An assigned unit is travelling to the scene."""

    TIME_FIELD: ClassVar[str] = "occurred_at"

    call_id: Id
    unit_id: Id
    occurred_at: UtcDatetime


class UnitOnScene(Event):
    """An assigned unit arrived on scene."""

    TIME_FIELD: ClassVar[str] = "occurred_at"

    call_id: Id
    unit_id: Id
    occurred_at: UtcDatetime


class UnitCleared(Event):
    """A unit left the call, with the outcome of its involvement."""

    TIME_FIELD: ClassVar[str] = "cleared_at"

    call_id: Id
    unit_id: Id
    cleared_at: UtcDatetime
    outcome: Outcome


# --- the bus ----------------------------------------------------------------------


class RoutingDecision(Event):
    """Who should take a call, and why. A call's decisions form a chain; the last stands."""

    TIME_FIELD: ClassVar[str] = "decided_at"

    call_id: Id
    target: Target
    team: Id | None = None
    model: Code = Field(description="Dispatch model: 911-led, embedded-professional or external-hotline.")
    policy_id: Code
    policy_version: Code
    reasons: list[str] = Field(default_factory=list)
    fallback: bool = Field(
        default=False,
        description="True when an eligible call went elsewhere for lack of capacity, hours or an answer.",
    )
    decided_at: UtcDatetime = Field(
        description="Event time of the triggering event: decisions never read the wall clock."
    )
    eligible: bool = Field(default=False, description="The call type is eligible for a non-police response.")
    sequence: int = Field(default=0, ge=0, description="Position in the call's decision chain (0 = first).")
    supersedes: UUID | None = Field(default=None, description="event_id of the decision this one replaces.")
    co_responders: list[Target] = Field(
        default_factory=list,
        description="Further agencies this decision sends at the same time (co-response), each with its own handoff.",
    )


class HandoffRequested(Event):
    """The bus asks an agency to take a call; carries only what that agency may see."""

    TIME_FIELD: ClassVar[str] = "requested_at"

    call_id: Id
    decision_id: UUID
    agency: Target
    team: Id | None = None
    requested_at: UtcDatetime
    deadline_at: UtcDatetime | None = None
    call_type: CallType
    priority: int = Field(ge=1, le=5)
    location: Location | None = Field(default=None, description="Exact location, for agencies allowed it.")
    zone: Code | None = Field(default=None, description="Dispatch zone of the call.")
    caution_flags: list[str] = Field(default_factory=list)


class HandoffUpdated(Event):
    """New facts about a call an agency holds: what its sharing rule lets it see, as of now."""

    TIME_FIELD: ClassVar[str] = "updated_at"

    call_id: Id
    handoff_id: UUID = Field(description="The handoff the agency holds.")
    agency: Target
    team: Id | None = None
    updated_at: UtcDatetime
    call_type: CallType
    priority: int = Field(ge=1, le=5)
    caution_flags: list[str] = Field(default_factory=list)


class HandoffWithdrawn(Event):
    """The bus tells an agency to stand down from a call it was asked to take."""

    TIME_FIELD: ClassVar[str] = "withdrawn_at"

    call_id: Id
    handoff_id: UUID = Field(description="The handoff withdrawn.")
    agency: Target
    team: Id | None = None
    withdrawn_at: UtcDatetime
    reason: WithdrawReason
    code: Code | None = Field(
        default=None, description="Reason code of the decision that replaced this handoff (closed set)."
    )
    decision_id: UUID | None = Field(default=None, description="The decision that replaced this handoff.")
    caution_flags: list[str] = Field(default_factory=list, description="What the agency may know of the danger.")


class HandoffAccepted(Event):
    """The receiving agency took the call."""

    TIME_FIELD: ClassVar[str] = "accepted_at"

    call_id: Id
    handoff_id: UUID
    agency: Target
    accepted_at: UtcDatetime


class HandoffDeclined(Event):
    """The receiving agency refused the call, with a cause."""

    TIME_FIELD: ClassVar[str] = "declined_at"

    call_id: Id
    handoff_id: UUID
    agency: Target
    declined_at: UtcDatetime
    reason: DeclineReason


class HandoffTimedOut(Event):
    """Nobody answered a handoff before its deadline."""

    TIME_FIELD: ClassVar[str] = "timed_out_at"

    call_id: Id
    handoff_id: UUID
    agency: Target
    timed_out_at: UtcDatetime
    waited_seconds: float = Field(ge=0)


class ConsultResult(Event):
    """What a clinician or the hotline concluded."""

    TIME_FIELD: ClassVar[str] = "completed_at"

    call_id: Id
    handoff_id: UUID
    agency: Target
    result: ConsultResolution
    completed_at: UtcDatetime


class OutcomeFeedback(Event):
    """What happened to a call, minimised for the call center that took it."""

    TIME_FIELD: ClassVar[str] = "closed_at"

    call_id: Id
    psap_id: Id
    closed_at: UtcDatetime
    call_type: CallType
    route: list[RouteHop] = Field(default_factory=list)
    outcome_category: OutcomeCategory
    police_needed: bool = Field(
        default=False,
        description="Police were needed: asked for by a unit, a clinician or new facts of danger.",
    )
    police_after_no_answer: bool = Field(
        default=False,
        description="Police took the call because a diversion declined or did not answer, not because police were needed.",
    )
    seconds_to_on_scene: float | None = None
    seconds_to_close: float | None = None
    received_at: UtcDatetime | None = Field(
        default=None, description="When the call was received: the event time digests are windowed by."
    )
    call_taker_id: Id | None = Field(default=None, description="The call taker who took the call.")
    model: Code | None = Field(default=None, description="Dispatch model of the decision that stood.")
    first_target: Target | None = Field(default=None, description="Where the first routing decision sent the call.")
    diverted: bool = Field(
        default=False,
        description="The first decision sent the call to a community responder, a clinician or the hotline.",
    )


class OutcomeCount(Record):
    """How many calls ended with one outcome category."""

    category: OutcomeCategory
    calls: int = Field(ge=0)


class RouteDigest(Record):
    """Calls whose first decision went to one agency, and how they ended."""

    first_target: Target
    calls: int = Field(ge=0)
    outcomes: list[OutcomeCount] = Field(default_factory=list)
    resolved_without_police: int = Field(default=0, ge=0)
    police_backup: int = Field(default=0, ge=0)
    on_scene_calls: int = Field(default=0, ge=0)
    median_seconds_to_on_scene: float | None = None
    p90_seconds_to_on_scene: float | None = None


class FeedbackDigest(Event):
    """Outcomes of a PSAP's (or one call taker's) calls received in one day or week window.

    Each counted outcome yields a new revision of its windows' digests; the
    highest ``revision`` of a ``digest_id`` stands.
    """

    TIME_FIELD: ClassVar[str] = "as_of"

    digest_id: str = Field(min_length=1, max_length=4 * ID_MAX_LENGTH, description="psap/window/start date[/taker/id]: one window's digest.")
    psap_id: Id
    call_taker_id: Id | None = Field(default=None, description="None: the whole PSAP.")
    window: DigestWindow
    window_start: UtcDatetime
    window_end: UtcDatetime
    timezone: Code = Field(description="Time zone of the window's local days (weeks start on Monday).")
    revision: int = Field(ge=1, description="Outcomes counted in this window so far.")
    as_of: UtcDatetime = Field(description="Latest close time among the counted outcomes.")
    calls: int = Field(ge=0)
    diverted_calls: int = Field(default=0, ge=0, description="First sent to a community responder, clinician or hotline.")
    resolved_without_police: int = Field(
        default=0, ge=0, description="Diverted calls that ended resolved, police never needed or involved."
    )
    share_resolved_without_police: float | None = Field(default=None, description="Of the diverted calls.")
    police_backup: int = Field(default=0, ge=0, description="Diverted calls that needed police after all.")
    police_backup_rate: float | None = Field(default=None, description="Of the diverted calls.")
    on_scene_calls: int = Field(default=0, ge=0, description="Calls with a unit on scene.")
    median_seconds_to_on_scene: float | None = Field(default=None, description="From received to on scene.")
    p90_seconds_to_on_scene: float | None = None
    outcomes: list[OutcomeCount] = Field(default_factory=list)
    routes: list[RouteDigest] = Field(default_factory=list)


class DeadLetter(Event):
    """An input the bus could not process, kept with its reason and original bytes."""

    TIME_FIELD: ClassVar[str] = "failed_at"

    source_topic: str = Field(max_length=255)  # Kafka's topic names: at most 249 characters
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
    consumer: Code = Field(description="Agent or group that rejected the record.")
    reason: Code = Field(description="Short machine-readable cause, e.g. undecodable, schema_mismatch.")
    detail: Text = Field(default="", description="Validation error without field values.")
    original_key: bytes | None = None
    original_value: bytes | None = None
    failed_at: UtcDatetime
    original_key_size: int | None = Field(
        default=None, ge=0, description="Set when original_key was truncated: the original key's length in bytes."
    )
    original_key_sha256: str | None = Field(
        default=None, max_length=64, description="Set when original_key was truncated: the original key's SHA-256 (hex)."
    )
    original_value_size: int | None = Field(
        default=None, ge=0, description="Set when original_value was truncated: the original value's length in bytes."
    )
    original_value_sha256: str | None = Field(
        default=None, max_length=64,
        description="Set when original_value was truncated: the original value's SHA-256 (hex).",
    )


EVENT_TYPES: tuple[type[Event], ...] = (
    CallReceived,
    CallUpdated,
    CallClosed,
    UnitStatus,
    DispatchAssigned,
    UnitEnRoute,
    UnitOnScene,
    UnitCleared,
    RoutingDecision,
    HandoffRequested,
    HandoffAccepted,
    HandoffDeclined,
    HandoffTimedOut,
    ConsultResult,
    OutcomeFeedback,
    DeadLetter,
    FeedbackDigest,
    HandoffUpdated,
    HandoffWithdrawn,
)
"""Every top-level event, in contract order."""

EVENTS_BY_NAME: dict[str, type[Event]] = {cls.__name__: cls for cls in EVENT_TYPES}
