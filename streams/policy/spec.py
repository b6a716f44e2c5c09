"""The routing-policy file format: pydantic models of the YAML structure.

These models check shape and types only; cross-field rules (hours, unit
uniqueness, reachable hops...) live in :mod:`dispatchbus.policy.checks`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dispatchbus.contract.events import CallType

MODELS: tuple[str, ...] = ("911-led", "embedded-professional", "external-hotline")
"""Dispatch models a policy can follow."""

DispatchModel = Literal["911-led", "embedded-professional", "external-hotline"]
GateCode = Literal["gate.fire", "gate.medical", "gate.weapon", "gate.violence", "gate.danger"]
GateTarget = Literal["police", "ems", "fire"]
ScreeningFlag = Literal["weapon_present", "violence_in_progress", "medical_emergency", "imminent_danger"]
UnknownMeans = Literal["yes", "no", "low_risk_only"]
"""What an unknown screening answer counts as: a yes, a no, or "unarmed teams only for low-risk call types"."""
EngagedTeams = Literal["stand_down", "co_respond"]
"""What a rule firing mid-call does to a community team (or clinician) already engaged with the call."""
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]

HoursSpec = dict[str, Any]
"""``{weekday or group: "HH:MM-HH:MM" | [ranges]}``; parsed by :mod:`dispatchbus.policy.hours`."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class GateRuleSpec(_Spec):
    """One safety-gate rule: matches when the call type is listed or any listed screening answer is yes.

    Every matching rule adds its targets (co-response: e.g. EMS and police).
    ``engaged`` says what happens to a diversion already engaged with the call
    (accepted, dispatched, en route, on scene) when the rule starts to match
    on an update: it stands down, or stays and the rule's targets join it.
    """

    reason: GateCode
    call_types: list[CallType] = Field(default_factory=list)
    screening: list[ScreeningFlag] = Field(default_factory=list)
    route_to: GateTarget | list[GateTarget]
    engaged: EngagedTeams = "stand_down"


class TeamSpec(_Spec):
    """A community responder team."""

    name: Name
    description: str = ""
    units: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    call_types: list[CallType] = Field(min_length=1)
    hours: HoursSpec


class EmbeddedProfessionalSpec(_Spec):
    """Clinicians embedded in the call center and the call types they take."""

    description: str = ""
    shifts: HoursSpec
    consult_call_types: list[CallType] = Field(min_length=1)


class ExternalHotlineSpec(_Spec):
    """A crisis hotline outside the call center."""

    description: str = ""
    hours: HoursSpec
    call_types: list[CallType] = Field(min_length=1)


class ClockSpec(_Spec):
    """When a call's own time cannot be trusted for automatic dispatch (live mode).

    A call stamped more than ``max_future_skew_s`` ahead of the bus's clock,
    or older than ``max_call_age_s`` when the bus first sees it (a backlog, a
    new consumer group, offsets lost), goes to the CAD for a human decision.
    ``review_acknowledge_s`` is the CAD's deadline to acknowledge such a review.
    """

    max_future_skew_s: Annotated[float, Field(gt=0)] = 300
    max_call_age_s: Annotated[float, Field(gt=0)] = 3600
    review_acknowledge_s: Annotated[float, Field(gt=0)] = 120


class UnitStatusSpec(_Spec):
    """How old a unit's last status may be and still count; a unit never heard from counts as unavailable."""

    max_age_s: Annotated[float, Field(gt=0)]


class PolicySpec(_Spec):
    """A whole routing-policy file."""

    id: Name
    version: Annotated[str, Field(min_length=1, max_length=64)]
    description: str = ""
    model: DispatchModel
    timezone: str
    safety_gate: list[GateRuleSpec] = Field(default_factory=list)
    screening_unknown: dict[ScreeningFlag, UnknownMeans] = Field(default_factory=dict)
    low_risk_call_types: list[CallType] = Field(default_factory=list)
    unit_status: UnitStatusSpec | None = None
    clock: ClockSpec = ClockSpec()
    teams: list[TeamSpec] = Field(min_length=1)
    embedded_professional: EmbeddedProfessionalSpec | None = None
    external_hotline: ExternalHotlineSpec | None = None
    timeouts: dict[str, dict[str, Annotated[float, Field(gt=0)]]]
    fallback: dict[str, str] = Field(default_factory=dict)
