"""`dispatchbus policy`: validate routing-policy files and summarise them."""

from __future__ import annotations

import argparse
import sys

from dispatchbus.policy.compiled import CompiledPolicy
from dispatchbus.policy.loader import PolicyError, load_policy, load_reference_policy
from dispatchbus.policy.spec import MODELS


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``policy`` subcommand with ``check`` and ``show``."""
    parser = sub.add_parser("policy", help="validate and show routing policies")
    actions = parser.add_subparsers(dest="policy_command", required=True, metavar="ACTION")

    check = actions.add_parser(
        "check",
        help="validate policy files",
        description="Validate routing-policy files; errors go to stderr as file:line: field: message.",
    )
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=run, policy_command="check")

    show = actions.add_parser("show", help="summarise a policy", description="Print a human summary of a policy.")
    which = show.add_mutually_exclusive_group(required=True)
    which.add_argument("file", nargs="?", metavar="FILE")
    which.add_argument("--model", choices=MODELS, help="the shipped reference policy of this dispatch model")
    show.set_defaults(func=run, policy_command="show")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``check`` or ``show``; exit code 1 if any policy is invalid."""
    if args.policy_command == "check":
        return _check(args.files)
    try:
        policy = load_reference_policy(args.model) if args.model else load_policy(args.file)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(summary(policy))
    return 0


def _check(files: list[str]) -> int:
    bad = 0
    for name in files:
        try:
            policy = load_policy(name)
        except PolicyError as exc:
            print(exc, file=sys.stderr)
            bad += 1
        else:
            print(f"OK {policy.label()}")
    return 1 if bad else 0


def summary(policy: CompiledPolicy) -> str:
    """A readable multi-line description of a compiled policy."""
    lines = [f"{policy.id} {policy.version}: {policy.model}, hours in {policy.timezone}"]
    if policy.description:
        lines.append(f"  {policy.description}")
    lines.append("safety gate (every matching rule sends its agencies):")
    for rule in policy.gate:
        conditions = [*(f"call type {t}" for t in sorted(rule.call_types)), *rule.screening]
        engaged = "; an engaged team stays" if rule.engaged == "co_respond" else ""
        lines.append(f"  {rule.code}: {' or '.join(conditions)} -> {' and '.join(rule.targets)}{engaged}")
    lines.append("  gate.not_eligible: call type no team takes -> police")
    for flag, means in policy.unknown.items():
        if means == "low_risk_only":
            lines.append(f"  {flag} unknown: unarmed teams only for {', '.join(sorted(policy.low_risk)) or 'no call type'}")
        else:
            lines.append(f"  {flag} unknown: counts as {means}")
    if policy.unit_max_age_ms is not None:
        lines.append(f"units: available only with a status at most {policy.unit_max_age_ms // 1000} s old")
    lines.append(f"clock: calls more than {policy.clock.max_future_skew_s:g} s ahead, or older than "
                 f"{policy.clock.max_call_age_s:g} s when first seen, go to the CAD's review")
    if policy.option is not None:
        option = policy.option
        lines.append(f"{option.target} ({option.hours.describe()}):")
        lines.append(f"  takes {', '.join(sorted(option.call_types))}")
    lines.append("teams (in order):")
    for team in policy.teams:
        label = f"{team.name} ({team.description})" if team.description else team.name
        lines.append(f"  {label}: units {', '.join(team.units)}; {team.hours.describe()}")
        lines.append(f"    takes {', '.join(sorted(team.call_types))}")
    lines.append("handoff timeouts:")
    for hop, timeout in policy.timeouts.items():
        lines.append(f"  {hop}: {timeout.stage} within {timeout.seconds:g} s")
    lines.append("fallback when declined or timed out:")
    for hop in policy.fallback:
        lines.append(f"  {' -> '.join(policy.fallback_chain(hop))}")
    return "\n".join(lines)
