"""The routing engine: pure decisions from (policy, call, unit-status history).

Nothing here reads the wall clock. A decision is evaluated at the triggering
event's time (the call's ``received_at`` for the first decision) and its
``event_id`` is derived from the trigger, so processing the same event twice
yields an identical decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Literal, NamedTuple, Protocol
from uuid import UUID

from dispatchbus.contract.events import CallReceived, RoutingDecision, Screening, utc_millis
from dispatchbus.contract.ids import uuid5, uuid5_str

from . import reasons as rc
from .availability import UNAVAILABLE, to_epoch_ms
from .compiled import CAD_REVIEW, REROUTABLE_HOPS, RULE_911_LED, CompiledPolicy, GateRule

DECISION_NAMESPACE = UUID("6f1d2c9e-4b7a-5e38-9a41-2d8c0b7e5f13")
"""Namespace of decision ids: ``uuid5(DECISION_NAMESPACE, f"{trigger_event_id}:route:{sequence}")``."""

_NAMESPACE_BYTES = DECISION_NAMESPACE.bytes

_FLAG_TEXT = {
    "weapon_present": "a weapon present",
    "violence_in_progress": "violence in progress",
    "medical_emergency": "a medical emergency",
    "imminent_danger": "imminent danger",
}

Cause = Literal["declined", "timed_out"]


class UnitStatusLookup(Protocol):
    """Anything that answers a unit's latest status at an instant (e.g. ``AvailabilityBook``)."""

    def status_at(self, unit_id: str, epoch_ms: int) -> str | None: ...

    def latest_at(self, unit_id: str, epoch_ms: int) -> tuple[int, str] | None: ...


class Verdict(NamedTuple):
    """The outcome of evaluating a policy for one call, before it becomes an event.

    ``also`` lists further agencies sent at the same time (co-response).
    """

    target: str
    team: str | None
    reasons: tuple[str, ...]
    fallback: bool
    eligible: bool
    also: tuple[str, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.target, *self.also)


class GateResult(NamedTuple):
    """The safety-gate rules a call matches, in gate order, and the agencies they send."""

    rules: tuple[GateRule, ...]
    targets: tuple[str, ...]
    reasons: tuple[str, ...]


def decision_id(trigger_event_id: UUID | str, sequence: int) -> UUID:
    """The deterministic ``event_id`` of the decision a trigger causes at a chain position."""
    return uuid5(DECISION_NAMESPACE, f"{trigger_event_id}:route:{sequence}")


def decision_id_str(trigger_event_id: str, sequence: int) -> str:
    """``str(decision_id(trigger_event_id, sequence))``, computed without building UUID objects."""
    return uuid5_str(_NAMESPACE_BYTES, f"{trigger_event_id}:route:{sequence}")


def _who(targets: tuple[str, ...]) -> str:
    return targets[0] + " responds" if len(targets) == 1 else " and ".join(targets) + " respond"


def _rule_reason(rule: GateRule, call_type: str, screening: Screening, policy: CompiledPolicy) -> str | None:
    """Why ``rule`` matches the call (None: it does not)."""
    if call_type in rule.call_types:
        if len(rule.targets) == 1:
            return f"{rule.code}: call type {call_type} goes to {rule.target}"
        return f"{rule.code}: call type {call_type} goes to {' and '.join(rule.targets)}"
    for flag in rule.screening:
        answer = getattr(screening, flag)
        if answer is True:
            return f"{rule.code}: screening reports {_FLAG_TEXT[flag]}; {_who(rule.targets)}"
        if answer is None and policy.unknown.get(flag, "yes") == "yes":
            return f"{rule.code}: screening does not know of {_FLAG_TEXT[flag]}, which counts as yes; {_who(rule.targets)}"
    return None


def gate(policy: CompiledPolicy, call_type: str, screening: Screening) -> GateResult:
    """Every safety-gate rule the call matches; each adds its targets (first rule's first target leads)."""
    rules: list[GateRule] = []
    reasons: list[str] = []
    targets: dict[str, None] = {}
    for rule in policy.gate:
        why = _rule_reason(rule, call_type, screening, policy)
        if why is not None:
            rules.append(rule)
            reasons.append(why)
            targets.update(dict.fromkeys(rule.targets))
    return GateResult(tuple(rules), tuple(targets), tuple(reasons))


@lru_cache(maxsize=4096)
def _not_eligible_verdict(call_type: str) -> Verdict:
    return Verdict(
        "police",
        None,
        (f"{rc.GATE_NOT_ELIGIBLE}: call type {call_type} is not eligible for a non-police response",),
        False,
        False,
    )


def unknown_restrictions(policy: CompiledPolicy, call_type: str, screening: Screening) -> tuple[str, ...]:
    """Screening questions whose unknown answer bars unarmed teams from this call (empty: none)."""
    if call_type in policy.low_risk:
        return ()
    return tuple(
        flag for flag, means in policy.unknown.items() if means == "low_risk_only" and getattr(screening, flag) is None
    )


def _unit_unavailable(units: UnitStatusLookup, unit: str, epoch_ms: int, max_age_ms: int | None) -> str | None:
    """Why ``unit`` cannot take a call at ``epoch_ms`` (None: it can)."""
    if max_age_ms is None:
        status = units.status_at(unit, epoch_ms)
        return status if status in UNAVAILABLE else None
    latest = units.latest_at(unit, epoch_ms)
    if latest is None:
        return "no status reported"
    at, status = latest
    if epoch_ms - at > max_age_ms:
        return f"status older than {max_age_ms // 1000} s"
    return status if status in UNAVAILABLE else None


def evaluate(
    policy: CompiledPolicy,
    call_type: str,
    screening: Screening,
    at: datetime,
    units: UnitStatusLookup,
    *,
    exclude: frozenset[str] | set[str] = frozenset(),
    skip_option: bool = False,
    exclude_teams: frozenset[str] | set[str] = frozenset(),
) -> Verdict:
    """Apply the policy to a call's type and screening at instant ``at`` (aware datetime).

    Order: safety gate (every matching rule adds its targets), not-eligible →
    police, the model's option (clinicians or hotline) unless excluded or
    ``skip_option``, then the teams in order (but for ``exclude_teams``, and
    none while an unknown answer bars unarmed teams), else police with
    ``fallback=True``. A gated call is not eligible.
    """
    gated = gate(policy, call_type, screening)
    if gated.rules:
        return Verdict(gated.targets[0], None, gated.reasons, False, False, gated.targets[1:])
    eligible = call_type in policy.eligible
    if not eligible:
        return _not_eligible_verdict(call_type)

    local = at.astimezone(policy.tz)
    weekday = local.weekday()
    minute = local.hour * 60 + local.minute
    clock = f"{local.hour:02d}:{local.minute:02d} {policy.timezone}"
    skipped: list[str] = []

    option = policy.option
    if option is not None and not skip_option and call_type in option.call_types:
        if option.target in exclude:
            skipped.append(f"skip.{option.target}: excluded")
        elif not option.hours.is_open(weekday, minute):
            skipped.append(f"skip.{option.target}: closed at {clock}")
        elif option.target == "external_hotline":
            return Verdict(
                option.target,
                None,
                (f"{option.code}: the hotline is open at {clock} and takes {call_type}",),
                False,
                True,
            )
        else:
            return Verdict(
                option.target,
                None,
                (f"{option.code}: a clinician on shift at {clock} takes {call_type} calls",),
                False,
                True,
            )
    elif option is not None and not skip_option:
        skipped.append(f"skip.{option.target}: does not take {call_type}")

    barred = unknown_restrictions(policy, call_type, screening)
    if barred:
        unknown = ", ".join(barred)
        return Verdict(
            "police",
            None,
            (
                f"{rc.GATE_UNKNOWN_SCREENING}: screening does not know {unknown} and {call_type} is not a "
                "low-risk call type, so no unarmed team is sent; police responds",
                *skipped,
            ),
            False,
            False,
        )

    if "community_responder" in exclude:
        return Verdict(
            "police",
            None,
            (f"{rc.FALLBACK_EXCLUDED}: community responders are excluded for this call; police responds", *skipped),
            True,
            True,
        )

    epoch_ms = to_epoch_ms(at)
    max_age_ms = policy.unit_max_age_ms
    any_in_service = False
    for team in policy.teams_by_call_type[call_type]:
        if team.name in exclude_teams:
            skipped.append(f"skip.{team.name}: declined or did not answer this call")
            continue
        if not team.hours.is_open(weekday, minute):
            skipped.append(f"skip.{team.name}: out of service at {clock}")
            continue
        any_in_service = True
        free: list[str] = []
        taken: list[str] = []
        for unit in team.units:
            why = _unit_unavailable(units, unit, epoch_ms, max_age_ms)
            if why is None:
                free.append(unit)
            else:
                taken.append(f"{unit} {why}")
        if free:
            first = (
                f"{rc.TEAM_ASSIGNED}: {team.name} is in service at {clock} "
                f"with {', '.join(free)} available"
            )
            return Verdict("community_responder", team.name, (first, *skipped), False, True)
        skipped.append(f"skip.{team.name}: no unit available ({', '.join(taken)})")

    if any_in_service:
        first = f"{rc.FALLBACK_NO_UNIT_AVAILABLE}: no unit available for {call_type} at {clock}; police responds"
    else:
        first = f"{rc.FALLBACK_NO_TEAM_IN_SERVICE}: no team takes {call_type} at {clock}; police responds"
    return Verdict("police", None, (first, *skipped), True, True)


def _check_exclude(exclude: Iterable[str]) -> frozenset[str]:
    exclude = frozenset(exclude)
    unknown = exclude.difference(REROUTABLE_HOPS)
    if unknown:
        raise ValueError(
            f"cannot exclude {', '.join(sorted(unknown))}: only {', '.join(REROUTABLE_HOPS)} can be excluded"
        )
    return exclude


def _decision(
    policy: CompiledPolicy,
    call: CallReceived,
    verdict: Verdict,
    reasons: list[str],
    *,
    fallback: bool,
    sequence: int,
    supersedes: UUID | None,
    trigger_event_id: UUID,
    decided_at: datetime,
) -> RoutingDecision:
    # The other values come from the validated call, the loaded policy or the verdict's closed sets.
    if not isinstance(trigger_event_id, UUID):
        trigger_event_id = UUID(str(trigger_event_id))
    decided_at = utc_millis(decided_at)
    return RoutingDecision.trusted(
        event_id=decision_id(trigger_event_id, sequence),
        correlation_id=call.call_id,
        causation_id=trigger_event_id,
        call_id=call.call_id,
        target=verdict.target,
        team=verdict.team,
        model=policy.model,
        policy_id=policy.id,
        policy_version=policy.version,
        reasons=reasons,
        fallback=fallback,
        decided_at=decided_at,
        eligible=verdict.eligible,
        sequence=sequence,
        supersedes=supersedes,
        co_responders=list(verdict.also),
    )


def decide(
    policy: CompiledPolicy,
    call: CallReceived,
    units: UnitStatusLookup,
    *,
    sequence: int = 0,
    exclude: Iterable[str] = frozenset(),
    supersedes: UUID | None = None,
    trigger_event_id: UUID | None = None,
    trigger_time: datetime | None = None,
    extra_reasons: Iterable[str] = (),
) -> RoutingDecision:
    """Route ``call`` under ``policy`` given unit statuses ``units``.

    The decision is evaluated at ``trigger_time`` (default: the call's
    ``received_at``), which is also its ``decided_at``. ``trigger_event_id``
    (default: the call's ``event_id``) becomes ``causation_id`` and, with
    ``sequence``, fixes the decision's ``event_id``. ``exclude`` removes
    re-routable hops (``embedded_professional``, ``external_hotline``,
    ``community_responder``). ``extra_reasons`` are appended to the reasons.
    """
    at = trigger_time if trigger_time is not None else call.received_at
    trigger = trigger_event_id if trigger_event_id is not None else call.event_id
    verdict = evaluate(policy, call.call_type, call.screening, at, units, exclude=_check_exclude(exclude))
    return _decision(
        policy,
        call,
        verdict,
        [*verdict.reasons, *extra_reasons],
        fallback=verdict.fallback,
        sequence=sequence,
        supersedes=supersedes,
        trigger_event_id=trigger,
        decided_at=at,
    )


def reroute(
    policy: CompiledPolicy,
    call: CallReceived,
    units: UnitStatusLookup,
    previous: RoutingDecision,
    *,
    cause: Cause,
    trigger_event_id: UUID,
    trigger_time: datetime,
    exclude: Iterable[str] = frozenset(),
    failed_teams: Iterable[str] = (),
) -> RoutingDecision | None:
    """The decision replacing ``previous`` after its hop declined or timed out, per the fallback chain.

    A declined or unanswered team first hands the call to the next eligible
    team in policy order (``failed_teams`` are the teams that already failed
    this call). ``"911-led"`` in the chain re-applies the gate and the teams
    (never the model's option); a named hop (e.g. police) takes the call directly. The
    result has ``fallback=True``, ``reasons[0]`` = ``fallback.declined`` or
    ``fallback.timed_out``, ``sequence = previous.sequence + 1`` and
    ``supersedes = previous.event_id``. Returns None when ``previous.target``
    ends the chain (police, ems, fire): there is nothing to fall back to.
    """
    failed = previous.target
    step = policy.fallback_for(failed)
    if step is None:
        return None
    code = rc.FALLBACK_DECLINED if cause == "declined" else rc.FALLBACK_TIMED_OUT
    who = f"{failed} ({previous.team})" if previous.team else failed
    what = "declined the handoff" if cause == "declined" else "did not answer the handoff in time"
    excluded = _check_exclude(exclude) | {failed}
    teams_out = frozenset(failed_teams) | ({previous.team} if previous.team else set())
    verdict = None
    if failed == "community_responder":
        nxt = evaluate(
            policy, call.call_type, call.screening, trigger_time, units, skip_option=True, exclude_teams=teams_out
        )
        if nxt.target == "community_responder":
            verdict = nxt
            reasons = [f"{code}: {who} {what}; the next team in policy order responds", *nxt.reasons]
    if verdict is not None:
        pass
    elif step == RULE_911_LED:
        verdict = evaluate(
            policy, call.call_type, call.screening, trigger_time, units, exclude=excluded, skip_option=True,
            exclude_teams=teams_out,
        )
        reasons = [f"{code}: {who} {what}; the 911-led rule applies", *verdict.reasons]
    else:
        verdict = Verdict(step, None, (), True, call.call_type in policy.eligible)
        reasons = [f"{code}: {who} {what}; {step} responds"]
    return _decision(
        policy,
        call,
        verdict,
        reasons,
        fallback=True,
        sequence=previous.sequence + 1,
        supersedes=previous.event_id,
        trigger_event_id=trigger_event_id,
        decided_at=trigger_time,
    )


def new_decision(
    policy: CompiledPolicy,
    call: CallReceived,
    verdict: Verdict,
    *,
    previous: RoutingDecision,
    trigger_event_id: UUID,
    trigger_time: datetime,
) -> RoutingDecision:
    """The decision replacing ``previous`` with ``verdict`` (next in the chain), e.g. after new facts."""
    return _decision(
        policy,
        call,
        verdict,
        list(verdict.reasons),
        fallback=verdict.fallback,
        sequence=previous.sequence + 1,
        supersedes=previous.event_id,
        trigger_event_id=trigger_event_id,
        decided_at=trigger_time,
    )


def clock_review(policy: CompiledPolicy, call: CallReceived, now: datetime) -> RoutingDecision | None:
    """The decision handing ``call`` to the CAD's review when its own time cannot be trusted at ``now``.

    A call stamped more than the policy's skew ahead of ``now``, or older than
    its maximum age when first seen, is never dispatched automatically.
    Returns None for a call whose time is plausible.
    """
    ahead = (call.received_at - now).total_seconds()
    rules = policy.clock
    if ahead > rules.max_future_skew_s:
        reason = (
            f"{rc.CLOCK_FUTURE}: the call is stamped {ahead:.0f} s ahead of the bus's clock "
            f"(more than {rules.max_future_skew_s:.0f} s); the CAD decides"
        )
    elif -ahead > rules.max_call_age_s:
        reason = (
            f"{rc.CLOCK_TOO_OLD}: the call was received {-ahead:.0f} s before the bus first saw it "
            f"(more than {rules.max_call_age_s:.0f} s); the CAD decides"
        )
    else:
        return None
    verdict = Verdict(CAD_REVIEW, None, (reason,), False, False)
    return _decision(
        policy, call, verdict, [reason], fallback=False, sequence=0, supersedes=None,
        trigger_event_id=call.event_id, decided_at=call.received_at,
    )
