"""Routing policies: declarative YAML per jurisdiction, compiled once, evaluated purely.

Load a policy with :func:`load_policy` (or :func:`load_reference_policy` for
the shipped ones), keep unit statuses in an :class:`AvailabilityBook`, and
call :func:`decide` for each call; :func:`reroute` follows the policy's
fallback chain when a handoff is declined or times out.
"""

from .availability import AvailabilityBook, UnitHistory, from_epoch_ms, to_epoch_ms
from .compiled import (
    HOPS,
    REROUTABLE_HOPS,
    RULE_911_LED,
    TERMINAL_HOPS,
    CompiledPolicy,
    ConsultOption,
    GateRule,
    HandoffTimeout,
    Team,
    compile_policy,
)
from .engine import (
    DECISION_NAMESPACE,
    UnitStatusLookup,
    Verdict,
    decide,
    decision_id,
    evaluate,
    reroute,
)
from .loader import PolicyError, PolicyIssue, load_policy, load_reference_policy, parse_policy
from .reasons import REASON_CODES, primary_reason_code
from .spec import MODELS

__all__ = [
    "DECISION_NAMESPACE",
    "HOPS",
    "MODELS",
    "REASON_CODES",
    "REROUTABLE_HOPS",
    "RULE_911_LED",
    "TERMINAL_HOPS",
    "AvailabilityBook",
    "CompiledPolicy",
    "ConsultOption",
    "GateRule",
    "HandoffTimeout",
    "PolicyError",
    "PolicyIssue",
    "Team",
    "UnitHistory",
    "UnitStatusLookup",
    "Verdict",
    "compile_policy",
    "decide",
    "decision_id",
    "evaluate",
    "from_epoch_ms",
    "load_policy",
    "load_reference_policy",
    "parse_policy",
    "primary_reason_code",
    "reroute",
    "to_epoch_ms",
]
