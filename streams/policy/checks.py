"""Cross-field rules of a routing policy, beyond what the pydantic models check."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .compiled import (
    FALLBACK_VALUES,
    HOPS,
    REROUTABLE_HOPS,
    RULE_911_LED,
    TERMINAL_HOPS,
    TIMEOUT_STAGES,
    CAD_REVIEW,
)
from .hours import HoursError, WeeklyHours, parse_weekly_hours
from .spec import PolicySpec
from .yaml_lines import Path

Issue = tuple[Path, str]
"""A problem at a path of the policy document."""


def check_spec(spec: PolicySpec) -> list[Issue]:
    """Every cross-field problem of a structurally valid policy, in document order."""
    issues: list[Issue] = []
    _check_timezone(spec, issues)
    _check_gate(spec, issues)
    eligible = _check_teams(spec, issues)
    _check_unknown_answers(spec, eligible, issues)
    _check_model_sections(spec, eligible, issues)
    reachable = _reachable_hops(spec)
    _check_timeouts(spec, reachable, issues)
    _check_fallback(spec, reachable, issues)
    return issues


def _check_timezone(spec: PolicySpec, issues: list[Issue]) -> None:
    try:
        ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        issues.append((("timezone",), f"unknown time zone {spec.timezone!r} (expected an IANA name like America/New_York)"))


def _check_gate(spec: PolicySpec, issues: list[Issue]) -> None:
    for i, rule in enumerate(spec.safety_gate):
        if not rule.call_types and not rule.screening:
            issues.append((("safety_gate", i), "a rule needs call_types or screening to match anything"))


def _check_unknown_answers(spec: PolicySpec, eligible: frozenset[str], issues: list[Issue]) -> None:
    restricting = any(means == "low_risk_only" for means in spec.screening_unknown.values())
    for j, call_type in enumerate(spec.low_risk_call_types):
        if call_type not in eligible:
            issues.append((("low_risk_call_types", j), f"call type {call_type} is not eligible (no team takes it)"))
    if spec.low_risk_call_types and not restricting:
        issues.append((("low_risk_call_types",), "only used by a screening_unknown answer of low_risk_only"))


def _hours(spec_hours: object, path: Path, issues: list[Issue]) -> WeeklyHours | None:
    try:
        hours = parse_weekly_hours(spec_hours)
    except HoursError as exc:
        where = path
        if exc.key is not None:
            where += (exc.key,)
            if exc.index is not None:
                where += (exc.index,)
        issues.append((where, str(exc)))
        return None
    if not any(hours.days):
        issues.append((path, "never open: give at least one day's hours"))
    return hours


def _gate_catches(spec: PolicySpec, call_type: str) -> tuple[int, str] | None:
    for i, rule in enumerate(spec.safety_gate):
        if call_type in rule.call_types:
            return i, rule.reason
    return None


def _check_teams(spec: PolicySpec, issues: list[Issue]) -> frozenset[str]:
    team_of_name: dict[str, int] = {}
    team_of_unit: dict[str, int] = {}
    for i, team in enumerate(spec.teams):
        if team.name in team_of_name:
            issues.append((("teams", i, "name"), f"team name {team.name} is already used by teams[{team_of_name[team.name]}]"))
        team_of_name.setdefault(team.name, i)
        for j, unit in enumerate(team.units):
            if unit in team_of_unit:
                first = team_of_unit[unit]
                where = "listed twice" if first == i else f"already in teams[{first}] ({spec.teams[first].name})"
                issues.append((("teams", i, "units", j), f"unit {unit} is {where}"))
            team_of_unit.setdefault(unit, i)
        seen: set[str] = set()
        for j, call_type in enumerate(team.call_types):
            if call_type in seen:
                issues.append((("teams", i, "call_types", j), f"call type {call_type} is listed twice"))
            seen.add(call_type)
            caught = _gate_catches(spec, call_type)
            if caught is not None:
                issues.append(
                    (
                        ("teams", i, "call_types", j),
                        f"call type {call_type} never reaches a team: safety_gate[{caught[0]}] ({caught[1]}) takes it",
                    )
                )
        _hours(team.hours, ("teams", i, "hours"), issues)
    return frozenset(t for team in spec.teams for t in team.call_types)


def _check_option_types(call_types: list[str], path: Path, what: str, eligible: frozenset[str], issues: list[Issue]) -> None:
    seen: set[str] = set()
    for j, call_type in enumerate(call_types):
        if call_type in seen:
            issues.append((path + (j,), f"call type {call_type} is listed twice"))
        seen.add(call_type)
        if call_type not in eligible:
            issues.append((path + (j,), f"{what} {call_type} is not eligible (no team takes it, so the safety gate sends it to police)"))


def _check_model_sections(spec: PolicySpec, eligible: frozenset[str], issues: list[Issue]) -> None:
    sections = {"embedded_professional": "embedded-professional", "external_hotline": "external-hotline"}
    for section, model in sections.items():
        present = getattr(spec, section) is not None
        if spec.model == model and not present:
            issues.append((("model",), f"model {model} needs an {section} section"))
        elif spec.model != model and present:
            issues.append(((section,), f"only used by model {model}, but this policy's model is {spec.model}"))
    ep = spec.embedded_professional
    if ep is not None and spec.model == "embedded-professional":
        _hours(ep.shifts, ("embedded_professional", "shifts"), issues)
        _check_option_types(ep.consult_call_types, ("embedded_professional", "consult_call_types"), "consult call type", eligible, issues)
    hl = spec.external_hotline
    if hl is not None and spec.model == "external-hotline":
        _hours(hl.hours, ("external_hotline", "hours"), issues)
        _check_option_types(hl.call_types, ("external_hotline", "call_types"), "hotline call type", eligible, issues)


def _gate_targets(spec: PolicySpec) -> list[str]:
    return [t for rule in spec.safety_gate for t in ([rule.route_to] if isinstance(rule.route_to, str) else rule.route_to)]


CONSULT_RESULT_HOPS: tuple[str, ...] = ("community_responder", "police", "ems")
"""Where a clinician's or the hotline's consult result can send a call (``dispatch_*``)."""


def _reachable_hops(spec: PolicySpec) -> list[str]:
    """Every hop a call can reach: first decisions, fallbacks, consult results and backup requests.

    The CAD's review (``cad_review``) is always reachable and has its deadline
    in the ``clock`` section.
    """
    hops = ["community_responder", "police", *_gate_targets(spec)]
    if spec.model == "embedded-professional":
        hops += ["embedded_professional", *CONSULT_RESULT_HOPS]
    elif spec.model == "external-hotline":
        hops += ["external_hotline", *CONSULT_RESULT_HOPS]
    for hop in list(hops):
        value = spec.fallback.get(hop)
        if value in HOPS:
            hops.append(value)
    return [hop for hop in HOPS if hop in hops and hop != CAD_REVIEW]


def _check_timeouts(spec: PolicySpec, reachable: list[str], issues: list[Issue]) -> None:
    for hop, stages in spec.timeouts.items():
        if hop not in HOPS:
            issues.append((("timeouts", hop), f"unknown timeout hop {hop!r} (expected one of {', '.join(HOPS)})"))
            continue
        for stage in stages:
            if stage not in TIMEOUT_STAGES:
                issues.append((("timeouts", hop, stage), f"unknown stage {stage!r} (expected {' or '.join(TIMEOUT_STAGES)})"))
        if len(stages) != 1:
            issues.append((("timeouts", hop), f"give exactly one stage ({' or '.join(TIMEOUT_STAGES)}) with its seconds"))
    missing = [hop for hop in reachable if hop not in spec.timeouts]
    if missing:
        issues.append((("timeouts",), f"missing a timeout for {', '.join(missing)}"))


def _check_fallback(spec: PolicySpec, reachable: list[str], issues: list[Issue]) -> None:
    for hop, value in spec.fallback.items():
        if hop in TERMINAL_HOPS:
            issues.append((("fallback", hop), f"{hop} is the end of every chain and has no fallback"))
            continue
        if hop not in REROUTABLE_HOPS:
            issues.append((("fallback", hop), f"unknown hop {hop!r} (expected one of {', '.join(REROUTABLE_HOPS)})"))
            continue
        if value not in FALLBACK_VALUES:
            issues.append((("fallback", hop), f"unknown fallback {value!r} (expected one of {', '.join(FALLBACK_VALUES)})"))
        elif hop == "community_responder" and value == RULE_911_LED:
            issues.append((("fallback", hop), "the 911-led rule would hand the call back to the teams; name police, ems or fire"))
    missing = [hop for hop in REROUTABLE_HOPS if hop in reachable and hop not in spec.fallback]
    if missing:
        issues.append((("fallback",), f"missing a fallback for {', '.join(missing)}"))
