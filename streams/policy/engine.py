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
from .compiled import REROUTABLE_HOPS, RULE_911_LED, CompiledPolicy, GateRule

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


class Verdict(NamedTuple):
    """The outcome of evaluating a policy for one call, before it becomes an event."""

    target: str
    team: str | None
    reasons: tuple[str, ...]
    fallback: bool
    eligible: bool


def decision_id(trigger_event_id: UUID | str, sequence: int) -> UUID:
    """The deterministic ``event_id`` of the decision a trigger causes at a chain position."""
    return uuid5(DECISION_NAMESPACE, f"{trigger_event_id}:route:{sequence}")


def decision_id_str(trigger_event_id: str, sequence: int) -> str:
    """``str(decision_id(trigger_event_id, sequence))``, computed without building UUID objects."""
    return uuid5_str(_NAMESPACE_BYTES, f"{trigger_event_id}:route:{sequence}")


@lru_cache(maxsize=1024)
def _flag_verdict(rule: GateRule, flag: str, eligible: bool) -> Verdict:
    return Verdict(
        rule.target, None, (f"{rule.code}: screening reports {_FLAG_TEXT[flag]}; {rule.target} responds",), False, eligible
    )


@lru_cache(maxsize=4096)
def _call_type_verdict(rule: GateRule, call_type: str, eligible: bool) -> Verdict:
    return Verdict(rule.target, None, (f"{rule.code}: call type {call_type} goes to {rule.target}",), False, eligible)


@lru_cache(maxsize=4096)
def _not_eligible_verdict(call_type: str) -> Verdict:
    return Verdict(
        "police",
        None,
        (f"{rc.GATE_NOT_ELIGIBLE}: call type {call_type} is not eligible for a non-police response",),
        False,
        False,
    )


def evaluate(
    policy: CompiledPolicy,
    call_type: str,
    screening: Screening,
    at: datetime,
    units: UnitStatusLookup,
    *,
    exclude: frozenset[str] | set[str] = frozenset(),
    skip_option: bool = False,
) -> Verdict:
    """Apply the policy to a call's type and screening at instant ``at`` (aware datetime).

    Order: safety gate (first match wins), not-eligible → police, the model's
    option (clinicians or hotline) unless excluded or ``skip_option``, then the
    teams in order, else police with ``fallback=True``.
    """
    eligible = call_type in policy.eligible
    by_type = policy.gate_by_call_type.get(call_type)
    type_rank = by_type[0] if by_type is not None else len(policy.gate)
    for rank, flag, rule in policy.gate_by_flag:
        if rank >= type_rank:
            break
        if getattr(screening, flag):
            return _flag_verdict(rule, flag, eligible)
    if by_type is not None:
        return _call_type_verdict(by_type[1], call_type, eligible)
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

    if "community_responder" in exclude:
        return Verdict(
            "police",
            None,
            (f"{rc.FALLBACK_EXCLUDED}: community responders are excluded for this call; police responds", *skipped),
            True,
            True,
        )

    epoch_ms = to_epoch_ms(at)
    status_at = units.status_at
    any_in_service = False
    for team in policy.teams_by_call_type[call_type]:
        if not team.hours.is_open(weekday, minute):
            skipped.append(f"skip.{team.name}: out of service at {clock}")
            continue
        any_in_service = True
        free: list[str] = []
        taken: list[str] = []
        for unit in team.units:
            status = status_at(unit, epoch_ms)
            if status in UNAVAILABLE:
                taken.append(f"{unit} {status}")
            else:
                free.append(unit)
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
) -> RoutingDecision | None:
    """The decision replacing ``previous`` after its hop declined or timed out, per the fallback chain.

    ``"911-led"`` in the chain re-applies the gate and the teams (never the
    model's option); a named hop (e.g. police) takes the call directly. The
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
    if step == RULE_911_LED:
        verdict = evaluate(
            policy, call.call_type, call.screening, trigger_time, units, exclude=excluded, skip_option=True
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
