"""A loaded routing policy compiled once into an immutable structure for fast decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from zoneinfo import ZoneInfo

from . import reasons as rc
from .hours import WeeklyHours, parse_weekly_hours
from .spec import PolicySpec

HOPS: tuple[str, ...] = (
    "community_responder",
    "embedded_professional",
    "external_hotline",
    "police",
    "ems",
    "fire",
)
"""Every agency a call can be handed to (the contract's ``Target``)."""

TERMINAL_HOPS: frozenset[str] = frozenset({"police", "ems", "fire"})
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
    """A safety-gate rule: ``call_types`` or any of ``screening`` flags → ``target``."""

    code: str
    target: str
    call_types: frozenset[str]
    screening: tuple[str, ...]


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
    gate_by_call_type: Mapping[str, tuple[int, GateRule]] = field(default_factory=dict, compare=False, repr=False)
    """The first gate rule (rank, rule) listing each call type."""
    gate_by_flag: tuple[tuple[int, str, GateRule], ...] = field(default=(), compare=False, repr=False)
    """(rank, screening flag, rule) for every screening condition, in gate order."""
    source: str = field(default="<policy>", compare=False)

    @property
    def targets(self) -> frozenset[str]:
        """Every hop this policy can route a call to, including via fallbacks."""
        hops = {"police", "community_responder", *(rule.target for rule in self.gate)}
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
            target=rule.route_to,
            call_types=frozenset(rule.call_types),
            screening=tuple(dict.fromkeys(rule.screening)),
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
    gate_by_call_type: dict[str, tuple[int, GateRule]] = {}
    for rank, rule in enumerate(gate):
        for call_type in rule.call_types:
            gate_by_call_type.setdefault(call_type, (rank, rule))
    gate_by_flag = tuple((rank, flag, rule) for rank, rule in enumerate(gate) for flag in rule.screening)
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
        gate_by_call_type=MappingProxyType(gate_by_call_type),
        gate_by_flag=gate_by_flag,
        source=source,
    )
