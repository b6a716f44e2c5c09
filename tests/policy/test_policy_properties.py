"""Property tests: every valid call gets exactly one sound, reproducible decision."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_helpers import make_status

from dispatchbus.contract.events import CallReceived, utc_millis
from dispatchbus.contract.jsonlines import to_json_line
from dispatchbus.policy.engine import gate, unknown_restrictions
from dispatchbus.policy import REASON_CODES, AvailabilityBook, decide, load_reference_policy, primary_reason_code, reroute
from dispatchbus.policy.offline import route_bytes
from dispatchbus.sharing.agencies import handoff_request
from tests.support.validated import assert_as_validated

POLICIES = [load_reference_policy(m) for m in ("911-led", "embedded-professional", "external-hotline")]
TARGETS = {"community_responder", "embedded_professional", "external_hotline", "police", "ems", "fire"}
ANSWERS = st.sampled_from([True, False, None])
KNOWN_TYPES = sorted(POLICIES[0].eligible | {"fire", "medical", "overdose", "burglary", "theft"})
UNITS = ["MRU-1", "CRT-1", "CRT-2"]
START = datetime(2025, 1, 1, tzinfo=timezone.utc)
SPAN_MS = 3 * 365 * 86_400_000
SECRET = "SECRET-NARRATIVE"

call_types = st.one_of(st.sampled_from(KNOWN_TYPES), st.from_regex(r"\A[a-z][a-z0-9_]{0,20}\Z"))
instants = st.integers(0, SPAN_MS).map(lambda ms: START + timedelta(milliseconds=ms))
statuses = st.lists(
    st.tuples(st.sampled_from(UNITS), st.sampled_from(["available", "busy", "out_of_service"]), st.integers(-86_400_000, 86_400_000)),
    max_size=8,
)


@st.composite
def calls(draw) -> CallReceived:
    return CallReceived(
        event_id=UUID(int=draw(st.integers(0, 2**128 - 1))),
        call_id=draw(st.text(min_size=1, max_size=12)),
        psap_id="PSAP-1",
        received_at=draw(instants),
        call_type=draw(call_types),
        screening={
            "weapon_present": draw(ANSWERS),
            "violence_in_progress": draw(ANSWERS),
            "medical_emergency": draw(ANSWERS),
            "imminent_danger": draw(ANSWERS),
        },
        location={"lat": 40.7, "lon": -74.0, "zone": "Z1"},
        priority=draw(st.integers(1, 5)),
        narrative=SECRET,
    )


def book_around(call: CallReceived, entries) -> AvailabilityBook:
    book = AvailabilityBook()
    for unit, status, offset in entries:
        book.record(make_status(unit, status, call.received_at + timedelta(milliseconds=offset)))
    return book


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=calls(), entries=statuses, policy_index=st.integers(0, 2))
def test_every_call_gets_one_sound_decision(call, entries, policy_index):
    policy = POLICIES[policy_index]
    decision = decide(policy, call, book_around(call, entries))
    assert decision.target in TARGETS and decision.target in policy.targets
    assert primary_reason_code(decision) in REASON_CODES
    assert decision.call_id == call.call_id and decision.decided_at == call.received_at
    # A call the safety gate decides is not eligible for a non-police response, whatever its type.
    gated = bool(gate(policy, call.call_type, call.screening).rules)
    barred = bool(unknown_restrictions(policy, call.call_type, call.screening)) and decision.target == "police"
    assert decision.eligible == (call.call_type in policy.eligible and not gated and not barred)
    assert (decision.team is not None) == (decision.target == "community_responder")
    if decision.target == "police" and decision.eligible:
        assert decision.fallback
    if not decision.eligible:
        assert decision.target in {"police", "ems", "fire"} and not decision.fallback
        assert primary_reason_code(decision).startswith("gate.")
    assert set(decision.co_responders) <= {"police", "ems", "fire"} and decision.target not in decision.co_responders
    assert not any(SECRET in reason for reason in decision.reasons)


@settings(max_examples=200, deadline=None)
@given(call=calls(), entries=statuses, policy_index=st.integers(0, 2), seed=st.integers(0, 1000))
def test_same_input_same_decision(call, entries, policy_index, seed):
    policy = POLICIES[policy_index]
    # Statuses at distinct instants may arrive in any order.
    distinct = list({(unit, offset): (unit, status, offset) for unit, status, offset in entries}.values())
    shuffled = distinct[:]
    random.Random(seed).shuffle(shuffled)
    first = decide(policy, call, book_around(call, distinct))
    again = decide(policy, call, book_around(call, shuffled))
    assert first == again
    assert to_json_line(first) == to_json_line(again)


@settings(max_examples=100, deadline=None)
@given(batch=st.lists(calls(), min_size=1, max_size=5), entries=statuses, policy_index=st.integers(0, 2))
def test_offline_lines_equal_the_contract_form_of_decide(batch, entries, policy_index):
    policy = POLICIES[policy_index]
    status_events = [
        make_status(unit, status, batch[0].received_at + timedelta(milliseconds=offset)) for unit, status, offset in entries
    ]
    book = AvailabilityBook()
    for event in status_events:
        book.record(event)
    lines = [to_json_line(event) for event in [*batch, *status_events]]
    out: list[str] = []
    errors: list = []
    stats = route_bytes(policy, ("\n".join(lines) + "\n").encode(), write=out.append, report=errors.append)
    assert errors == [] and stats.calls == len(batch)
    produced = "".join(out).splitlines()
    assert produced == [to_json_line(decide(policy, call, book)) for call in batch]
    assert all(json.loads(line)["type"] == "RoutingDecision" for line in produced)


@settings(max_examples=200, deadline=None)
@given(call=calls(), entries=statuses, policy_index=st.integers(0, 2), cause=st.sampled_from(["declined", "timed_out"]),
       later_us=st.integers(0, 3_600_000_000), offset_min=st.integers(-12 * 60, 14 * 60),
       timeout=st.one_of(st.none(), st.floats(0.001, 7200, allow_nan=False)))
def test_decisions_and_handoff_requests_built_without_validation_are_what_validation_builds(
    call, entries, policy_index, cause, later_us, offset_min, timeout
):
    policy = POLICIES[policy_index]
    book = book_around(call, entries)
    first = decide(policy, call, book)
    # A trigger given as a string and an instant in another zone, below the millisecond: normalised as validation would.
    later = (call.received_at + timedelta(microseconds=later_us)).astimezone(timezone(timedelta(minutes=offset_min)))
    trigger = str(UUID(int=later_us, version=4))
    second = reroute(policy, call, book, first, cause=cause, trigger_event_id=trigger, trigger_time=later)
    for decision in (first, second):
        if decision is None:
            continue
        assert_as_validated(decision)
        request = handoff_request(call, decision, requested_at=decision.decided_at, timeout_seconds=timeout)
        assert_as_validated(request)
    if second is not None:
        assert second.causation_id == UUID(trigger) and second.decided_at == utc_millis(later)
