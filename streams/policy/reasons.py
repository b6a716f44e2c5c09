"""The closed set of reason codes a routing decision can start with.

``reasons[0]`` of every :class:`~dispatchbus.contract.events.RoutingDecision`
is ``"<code>: <human explanation>"`` with ``<code>`` from :data:`REASON_CODES`,
so the code is safe as a bounded metrics label. Later reasons explain what was
skipped (``skip.<team or option>: ...``) or carry the rule a fallback applied.
"""

from __future__ import annotations

from dispatchbus.contract.events import RoutingDecision

GATE_FIRE = "gate.fire"
GATE_MEDICAL = "gate.medical"
GATE_WEAPON = "gate.weapon"
GATE_VIOLENCE = "gate.violence"
GATE_DANGER = "gate.danger"
GATE_NOT_ELIGIBLE = "gate.not_eligible"
TEAM_ASSIGNED = "team.assigned"
CLINICIAN_CONSULT = "clinician.consult"
HOTLINE_ACCEPTED = "hotline.accepted"
FALLBACK_NO_TEAM_IN_SERVICE = "fallback.no_team_in_service"
FALLBACK_NO_UNIT_AVAILABLE = "fallback.no_unit_available"
FALLBACK_EXCLUDED = "fallback.excluded"
FALLBACK_DECLINED = "fallback.declined"
FALLBACK_TIMED_OUT = "fallback.timed_out"
CONSULT_TEAM_REQUESTED = "consult.team_requested"
CONSULT_DISPATCH_POLICE = "consult.dispatch_police"
CONSULT_DISPATCH_EMS = "consult.dispatch_ems"
CONSULT_REFER_HOTLINE = "consult.refer_hotline"
GATE_UNKNOWN_SCREENING = "gate.unknown_screening"
BACKUP_REQUESTED = "backup.requested"
CLOCK_FUTURE = "clock.future_dated"
CLOCK_TOO_OLD = "clock.too_old"

GATE_RULE_CODES: frozenset[str] = frozenset(
    {GATE_FIRE, GATE_MEDICAL, GATE_WEAPON, GATE_VIOLENCE, GATE_DANGER}
)
"""Codes a policy's configurable safety-gate rules may use."""

REASON_CODES: frozenset[str] = GATE_RULE_CODES | {
    GATE_NOT_ELIGIBLE,
    TEAM_ASSIGNED,
    CLINICIAN_CONSULT,
    HOTLINE_ACCEPTED,
    FALLBACK_NO_TEAM_IN_SERVICE,
    FALLBACK_NO_UNIT_AVAILABLE,
    FALLBACK_EXCLUDED,
    FALLBACK_DECLINED,
    FALLBACK_TIMED_OUT,
    CONSULT_TEAM_REQUESTED,
    CONSULT_DISPATCH_POLICE,
    CONSULT_DISPATCH_EMS,
    CONSULT_REFER_HOTLINE,
    GATE_UNKNOWN_SCREENING,
    BACKUP_REQUESTED,
    CLOCK_FUTURE,
    CLOCK_TOO_OLD,
}
"""Every code that can open ``reasons[0]``; nothing else ever does."""

SKIP_PREFIX = "skip."
"""Prefix of the secondary reasons that explain a skipped team or option."""

UNKNOWN_CODE = "unknown"
"""What :func:`primary_reason_code` returns for a decision not made by this engine."""


def reason(code: str, explanation: str) -> str:
    """Format one reason line; ``code`` must be a known reason code."""
    if code not in REASON_CODES:
        raise ValueError(f"unknown reason code {code!r}")
    return f"{code}: {explanation}"


def primary_reason_code(decision: RoutingDecision | list[str] | tuple[str, ...]) -> str:
    """The code of the rule that decided (from :data:`REASON_CODES`), or ``"unknown"``."""
    reasons = decision.reasons if isinstance(decision, RoutingDecision) else decision
    if not reasons:
        return UNKNOWN_CODE
    code = reasons[0].partition(":")[0]
    return code if code in REASON_CODES else UNKNOWN_CODE
