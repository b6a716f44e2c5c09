"""A loaded routing policy compiled once into an immutable structure for fast decisions."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from zoneinfo import ZoneInfo

from . import reasons as rc
from .hours import WeeklyHours, parse_weekly_hours
from .spec import PolicySpec, ScreeningFlag

SCREENING_QUESTIONS: tuple[str, ...] = typing.get_args(ScreeningFlag)
"""The call taker's screening questions, in contract order."""

HOPS: tuple[str, ...] = (
    "community_responder",
    "embedded_professional",
    "external_hotline",
    "police",
    "ems",
    "fire",
    "cad_review",
)
"""Every agency a call can be handed to (the contract's ``Target``)."""

CAD_REVIEW = "cad_review"
"""The CAD's supervisors, deciding by hand a call the bus must not dispatch automatically."""

DIVERSIONS: frozenset[str] = frozenset({"community_responder", "embedded_professional", "external_hotline"})
"""Hops that divert a call from police, EMS and fire: what the safety gate protects."""

TERMINAL_HOPS: frozenset[str] = frozenset({"police", "ems", "fire", CAD_REVIEW})
"""Hops with no fallback: the end of every chain."""

REROUTABLE_HOPS: tuple[str, ...] = ("embedded_professional", "external_hotline", "community_responder")
"""Hops whose decline or timeout re-routes the call via the fallback chain."""

RULE_911_LED = "911-led"
"""Fallback value meaning "apply the 911-led rule": teams in order, else police."""

FALLBACK_VALUES: tuple[str, ...] = (RULE_911_LED, "police", "ems", "fire")

TIMEOUT_STAGES: tuple[str, ...] = ("accept", "acknowledge")
"""What the receiving hop must do before its timeout: accept the call or acknowledge it."""


@dataclass(frozen=True, slots=True)
class GateRule:
    """A safety-gate rule: ``call_types`` or any of ``screening`` answers yes → ``targets``."""

    code: str
    targets: tuple[str, ...]
    call_types: frozenset[str]
    screening: tuple[str, ...]
    engaged: str = "stand_down"

    @property
    def target(self) -> str:
        """The first target: who holds the call when this rule decides it."""
        return self.targets[0]


@dataclass(frozen=True, slots=True)
class ClockRules:
    """When a call's own time cannot be trusted for automatic dispatch (see ``ClockSpec``)."""

    max_future_skew_s: float = 300
    max_call_age_s: float = 3600


@dataclass(frozen=True, slots=True)
class Team:
    """A community responder team, with its units and weekly service hours."""

    name: str
    description: str
    units: tuple[str, ...]
    call_types: frozenset[str]
    hours: WeeklyHours


@dataclass(frozen=True, slots=True)
class ConsultOption:
    """The model-specific option tried before the teams: embedded clinicians or the hotline."""

    target: str
    code: str
    description: str
    call_types: frozenset[str]
    hours: WeeklyHours


@dataclass(frozen=True, slots=True)
class HandoffTimeout:
    """How long ``hop`` has to ``stage`` (accept or acknowledge) a handoff."""

    hop: str
    stage: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """An immutable, ready-to-evaluate routing policy.

    Build it with :func:`dispatchbus.policy.loader.load_policy` (or
    :func:`compile_policy` for an already validated spec).
    """

    id: str
    version: str
    model: str
    description: str
    timezone: str
    tz: ZoneInfo
    gate: tuple[GateRule, ...]
    teams: tuple[Team, ...]
    option: ConsultOption | None
    eligible: frozenset[str]
    teams_by_call_type: Mapping[str, tuple[Team, ...]]
    timeouts: Mapping[str, HandoffTimeout]
    fallback: Mapping[str, str]
    unknown: Mapping[str, str] = field(default_factory=dict)
    """What an unknown answer to each screening question counts as (``yes``, ``no``, ``low_risk_only``)."""
    low_risk: frozenset[str] = frozenset()
    """Call types unarmed teams still take when a ``low_risk_only`` question's answer is unknown."""
    unit_max_age_ms: int | None = None
    """A unit whose last status is older than this counts as unavailable (None: any age counts)."""
    clock: ClockRules = ClockRules()
    source: str = field(default="<policy>", compare=False)

    @property
    def targets(self) -> frozenset[str]:
        """Every hop this policy can route a call to, including via fallbacks."""
        hops = {"police", "community_responder", CAD_REVIEW, *(t for rule in self.gate for t in rule.targets)}
        if self.option is not None:
            hops.add(self.option.target)
        for hop, value in self.fallback.items():
            if hop in hops and value != RULE_911_LED:
                hops.add(value)
        return frozenset(hops)

    def timeout_for(self, hop: str) -> HandoffTimeout:
        """The handoff timeout of ``hop``; ``KeyError`` if the policy sets none."""
        return self.timeouts[hop]

    def fallback_for(self, hop: str) -> str | None:
        """Where a declined or timed-out handoff to ``hop`` goes: ``"911-led"``, a hop, or None (end of chain)."""
        return self.fallback.get(hop)

    def fallback_chain(self, hop: str) -> tuple[str, ...]:
        """``hop`` followed by the steps its failure leads to, e.g. ``("external_hotline", "911-led")``."""
        chain = [hop]
        seen = {hop}
        while (step := self.fallback.get(chain[-1])) is not None and step not in seen:
            chain.append(step)
            seen.add(step)
            if step == RULE_911_LED:
                break
        return tuple(chain)

    def label(self) -> str:
        """``<id> <version> (<model>)``."""
        return f"{self.id} {self.version} ({self.model})"


def compile_policy(spec: PolicySpec, *, source: str = "<policy>") -> CompiledPolicy:
    """Compile a validated spec (see :func:`dispatchbus.policy.checks.check_spec`)."""
    gate = tuple(
        GateRule(
            code=rule.reason,
            targets=tuple(dict.fromkeys([rule.route_to] if isinstance(rule.route_to, str) else rule.route_to)),
            call_types=frozenset(rule.call_types),
            screening=tuple(dict.fromkeys(rule.screening)),
            engaged=rule.engaged,
        )
        for rule in spec.safety_gate
    )
    teams = tuple(
        Team(
            name=team.name,
            description=team.description,
            units=tuple(team.units),
            call_types=frozenset(team.call_types),
            hours=parse_weekly_hours(team.hours),
        )
        for team in spec.teams
    )
    eligible = frozenset().union(*(team.call_types for team in teams))
    by_type = {
        call_type: tuple(team for team in teams if call_type in team.call_types)
        for call_type in sorted(eligible)
    }
    option: ConsultOption | None = None
    if spec.model == "embedded-professional" and spec.embedded_professional is not None:
        ep = spec.embedded_professional
        option = ConsultOption(
            target="embedded_professional",
            code=rc.CLINICIAN_CONSULT,
            description=ep.description,
            call_types=frozenset(ep.consult_call_types),
            hours=parse_weekly_hours(ep.shifts),
        )
    elif spec.model == "external-hotline" and spec.external_hotline is not None:
        hl = spec.external_hotline
        option = ConsultOption(
            target="external_hotline",
            code=rc.HOTLINE_ACCEPTED,
            description=hl.description,
            call_types=frozenset(hl.call_types),
            hours=parse_weekly_hours(hl.hours),
        )
    timeouts = {
        hop: HandoffTimeout(hop, stage, float(seconds))
        for hop, stages in spec.timeouts.items()
        for stage, seconds in stages.items()
    }
    timeouts.setdefault(CAD_REVIEW, HandoffTimeout(CAD_REVIEW, "acknowledge", float(spec.clock.review_acknowledge_s)))
    unknown = {flag: spec.screening_unknown.get(flag, "yes") for flag in SCREENING_QUESTIONS}
    return CompiledPolicy(
        id=spec.id,
        version=spec.version,
        model=spec.model,
        description=spec.description,
        timezone=spec.timezone,
        tz=ZoneInfo(spec.timezone),
        gate=gate,
        teams=teams,
        option=option,
        eligible=eligible,
        teams_by_call_type=MappingProxyType(by_type),
        timeouts=MappingProxyType(timeouts),
        fallback=MappingProxyType(dict(spec.fallback)),
        unknown=MappingProxyType(unknown),
        low_risk=frozenset(spec.low_risk_call_types),
        unit_max_age_ms=round(spec.unit_status.max_age_s * 1000) if spec.unit_status else None,
        clock=ClockRules(spec.clock.max_future_skew_s, spec.clock.max_call_age_s),
        source=source,
    )
