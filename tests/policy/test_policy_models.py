"""Each dispatch model's rules, team order, fallbacks, re-routing and decision identity."""

from __future__ import annotations

from uuid import UUID, uuid5

import pytest
from policy_helpers import book_of, local, make_call, make_status

from dispatchbus.policy import (
    DECISION_NAMESPACE,
    REASON_CODES,
    decide,
    decision_id,
    primary_reason_code,
    reroute,
)
from dispatchbus.policy.engine import decision_id_str

MONDAY = local("2026-05-04T10:00")
LATE = local("2026-05-04T23:30")  # teams closed, hotline closed, clinicians on shift
CLINICIAN_TYPES = [
    "mental_health", "suicidal_ideation", "welfare_check", "substance_use",
    "intoxicated_person", "disturbance", "youth_truancy",
]
ALL_ELIGIBLE = CLINICIAN_TYPES + ["homelessness", "trespass", "neighbor_dispute", "noise_complaint"]


def test_reference_policies_identify_themselves(policies):
    for model, policy in policies.items():
        assert (policy.id, policy.version, policy.model, policy.timezone) == (
            "reference", "1.0.0", model, "America/New_York"
        )
        assert [team.name for team in policy.teams] == ["MRU", "CRT"]
        assert policy.eligible == frozenset(ALL_ELIGIBLE)


@pytest.mark.parametrize("model", ["911-led", "embedded-professional", "external-hotline"])
def test_decision_names_policy_and_model(policies, empty_book, model):
    decision = decide(policies[model], make_call("burglary", MONDAY), empty_book)
    assert (decision.policy_id, decision.policy_version, decision.model) == ("reference", "1.0.0", model)


# --- 911-led -------------------------------------------------------------------------------


@pytest.mark.parametrize("call_type", ALL_ELIGIBLE)
def test_911_led_sends_eligible_calls_to_a_team(policies, empty_book, call_type):
    decision = decide(policies["911-led"], make_call(call_type, MONDAY), empty_book)
    assert decision.target == "community_responder"
    expected_team = "MRU" if call_type in ("neighbor_dispute", "noise_complaint") else "CRT"
    assert decision.team == expected_team
    assert primary_reason_code(decision) == "team.assigned"
    assert decision.eligible and not decision.fallback


def test_team_order_is_policy_order(policies, empty_book):
    # Both MRU and CRT take noise complaints; MRU is listed first.
    decision = decide(policies["911-led"], make_call("noise_complaint", MONDAY), empty_book)
    assert decision.team == "MRU"
    assert len(decision.reasons) == 1


# --- embedded-professional ----------------------------------------------------------------


@pytest.mark.parametrize("call_type", CLINICIAN_TYPES)
@pytest.mark.parametrize("when", [MONDAY, LATE, local("2026-05-10T03:00")])
def test_clinicians_take_consult_types_around_the_clock(policies, empty_book, call_type, when):
    decision = decide(policies["embedded-professional"], make_call(call_type, when), empty_book)
    assert (decision.target, decision.team) == ("embedded_professional", None)
    assert primary_reason_code(decision) == "clinician.consult"
    assert not decision.fallback


@pytest.mark.parametrize(("call_type", "team"), [("homelessness", "CRT"), ("trespass", "CRT"), ("noise_complaint", "MRU")])
def test_other_eligible_calls_follow_the_911_led_rule_in_embedded_model(policies, empty_book, call_type, team):
    decision = decide(policies["embedded-professional"], make_call(call_type, MONDAY), empty_book)
    assert (decision.target, decision.team) == ("community_responder", team)
    assert decision.reasons[1] == f"skip.embedded_professional: does not take {call_type}"


def test_clinicians_do_not_depend_on_unit_availability(policies):
    book = book_of(make_status("CRT-1", "busy", MONDAY), make_status("CRT-2", "busy", MONDAY))
    decision = decide(policies["embedded-professional"], make_call("welfare_check", MONDAY), book)
    assert decision.target == "embedded_professional"


# --- external-hotline ---------------------------------------------------------------------


@pytest.mark.parametrize("call_type", ["mental_health", "suicidal_ideation", "substance_use"])
def test_hotline_takes_its_types_while_open(policies, empty_book, call_type):
    decision = decide(policies["external-hotline"], make_call(call_type, MONDAY), empty_book)
    assert (decision.target, decision.team) == ("external_hotline", None)
    assert decision.reasons == [
        f"hotline.accepted: the hotline is open at 10:00 America/New_York and takes {call_type}"
    ]


def test_hotline_out_of_hours_follows_the_911_led_rule(policies, empty_book):
    decision = decide(policies["external-hotline"], make_call("mental_health", local("2026-05-04T22:30")), empty_book)
    assert (decision.target, decision.team) == ("community_responder", "CRT")
    assert decision.reasons[1] == "skip.external_hotline: closed at 22:30 America/New_York"


def test_hotline_does_not_take_welfare_checks(policies, empty_book):
    decision = decide(policies["external-hotline"], make_call("welfare_check", MONDAY), empty_book)
    assert (decision.target, decision.team) == ("community_responder", "CRT")


def test_hotline_closed_and_teams_closed_is_a_fallback(policies, empty_book):
    decision = decide(policies["external-hotline"], make_call("suicidal_ideation", LATE), empty_book)
    assert decision.target == "police" and decision.fallback
    assert decision.reasons[1:] == [
        "skip.external_hotline: closed at 23:30 America/New_York",
        "skip.CRT: out of service at 23:30 America/New_York",
    ]


# --- exclusion and re-routing -------------------------------------------------------------


def test_exclude_hotline_falls_to_the_911_led_rule(policies, empty_book):
    decision = decide(policies["external-hotline"], make_call("mental_health", MONDAY), empty_book, exclude={"external_hotline"})
    assert (decision.target, decision.team) == ("community_responder", "CRT")
    assert "skip.external_hotline: excluded" in decision.reasons


def test_exclude_community_responder_is_a_police_fallback(policies, empty_book):
    decision = decide(policies["911-led"], make_call("mental_health", MONDAY), empty_book, exclude={"community_responder"})
    assert decision.target == "police" and decision.fallback
    assert primary_reason_code(decision) == "fallback.excluded"


def test_exclude_does_not_override_the_gate(policies, empty_book):
    call = make_call("mental_health", MONDAY, weapon_present=True)
    decision = decide(policies["911-led"], call, empty_book, exclude={"community_responder"})
    assert primary_reason_code(decision) == "gate.weapon" and not decision.fallback


def test_exclude_rejects_terminal_hops(policies, empty_book):
    with pytest.raises(ValueError, match="cannot exclude police"):
        decide(policies["911-led"], make_call("mental_health", MONDAY), empty_book, exclude={"police"})


def test_hotline_declined_reroutes_to_a_team(policies, empty_book):
    policy = policies["external-hotline"]
    call = make_call("mental_health", MONDAY)
    first = decide(policy, call, empty_book)
    decline_id = UUID(int=77, version=4)
    later = local("2026-05-04T10:02")
    second = reroute(policy, call, empty_book, first, cause="declined", trigger_event_id=decline_id, trigger_time=later)
    assert (second.target, second.team) == ("community_responder", "CRT")
    assert second.fallback is True and second.eligible is True
    assert second.sequence == 1 and second.supersedes == first.event_id
    assert second.causation_id == decline_id and second.decided_at == later
    assert second.event_id == decision_id(decline_id, 1)
    assert second.reasons[0] == "fallback.declined: external_hotline declined the handoff; the 911-led rule applies"
    assert primary_reason_code(second) == "fallback.declined"
    assert second.reasons[1].startswith("team.assigned: CRT is in service at 10:02")


def test_clinician_timeout_at_night_reroutes_to_police(policies, empty_book):
    policy = policies["embedded-professional"]
    call = make_call("welfare_check", LATE)
    first = decide(policy, call, empty_book)
    assert first.target == "embedded_professional"
    second = reroute(
        policy, call, empty_book, first, cause="timed_out", trigger_event_id=UUID(int=5, version=4),
        trigger_time=local("2026-05-04T23:31"),
    )
    assert second.target == "police" and second.fallback
    assert [primary_reason_code(second.reasons[i:]) for i in (0, 1)] == ["fallback.timed_out", "fallback.no_team_in_service"]


def test_community_responder_timeout_goes_to_police(policies, empty_book):
    policy = policies["911-led"]
    call = make_call("welfare_check", MONDAY)
    first = decide(policy, call, empty_book)
    second = reroute(
        policy, call, empty_book, first, cause="timed_out", trigger_event_id=UUID(int=6, version=4),
        trigger_time=local("2026-05-04T10:02"),
    )
    assert (second.target, second.team, second.fallback) == ("police", None, True)
    assert second.reasons == [
        "fallback.timed_out: community_responder (CRT) did not answer the handoff in time; police responds"
    ]
    third = reroute(
        policy, call, empty_book, second, cause="timed_out", trigger_event_id=UUID(int=7, version=4),
        trigger_time=local("2026-05-04T10:05"),
    )
    assert third is None  # police ends the chain


def test_reroute_uses_availability_at_the_trigger_time(policies):
    policy = policies["external-hotline"]
    call = make_call("mental_health", MONDAY)
    book = book_of(
        make_status("CRT-1", "busy", local("2026-05-04T10:01")), make_status("CRT-2", "busy", local("2026-05-04T10:01"))
    )
    first = decide(policy, call, book)
    second = reroute(policy, call, book, first, cause="declined", trigger_event_id=UUID(int=8, version=4),
                     trigger_time=local("2026-05-04T10:03"))
    assert second.target == "police"
    assert second.reasons[1].startswith("fallback.no_unit_available")


# --- identity, determinism, reasons -------------------------------------------------------


def test_decision_id_is_uuid5_of_trigger_and_sequence(policies, empty_book):
    call = make_call("mental_health", MONDAY)
    decision = decide(policies["911-led"], call, empty_book)
    assert decision.event_id == uuid5(DECISION_NAMESPACE, f"{call.event_id}:route:0")
    assert decision.causation_id == call.event_id
    assert decision.correlation_id == call.call_id == decision.call_id
    assert decision.decided_at == call.received_at
    assert (decision.sequence, decision.supersedes) == (0, None)
    assert decision_id_str(str(call.event_id), 0) == str(decision.event_id)
    assert decision_id_str(str(call.event_id), 3) == str(decision_id(call.event_id, 3))


def test_same_input_gives_identical_decisions(policies):
    call = make_call("neighbor_dispute", MONDAY)
    statuses = [make_status("MRU-1", "busy", local("2026-05-04T09:00")), make_status("CRT-1", "busy", local("2026-05-04T09:30"))]
    a = decide(policies["911-led"], call, book_of(*statuses))
    b = decide(policies["911-led"], call, book_of(*reversed(statuses)))
    assert a == b
    assert a.model_dump_json() == b.model_dump_json()


def test_different_sequence_or_trigger_gives_different_ids(policies, empty_book):
    call = make_call("mental_health", MONDAY)
    ids = {
        decide(policies["911-led"], call, empty_book).event_id,
        decide(policies["911-led"], call, empty_book, sequence=1).event_id,
        decide(policies["911-led"], call, empty_book, trigger_event_id=UUID(int=9, version=4)).event_id,
    }
    assert len(ids) == 3


def test_extra_reasons_are_appended(policies, empty_book):
    decision = decide(policies["911-led"], make_call("burglary", MONDAY), empty_book, extra_reasons=["note: re-evaluated"])
    assert decision.reasons[-1] == "note: re-evaluated"
    assert primary_reason_code(decision) == "gate.not_eligible"


def test_primary_reason_code_is_closed():
    assert primary_reason_code(["team.assigned: x"]) == "team.assigned"
    assert primary_reason_code(["something.else: x"]) == "unknown"
    assert primary_reason_code([]) == "unknown"
    assert all(code.count(".") == 1 and code == code.lower() for code in REASON_CODES)


def test_trigger_time_moves_the_clock(policies, empty_book):
    call = make_call("welfare_check", local("2026-05-04T22:59"))
    assert decide(policies["911-led"], call, empty_book).target == "community_responder"
    later = decide(policies["911-led"], call, empty_book, trigger_time=local("2026-05-04T23:00"), sequence=1)
    assert later.target == "police" and later.decided_at == local("2026-05-04T23:00")


# --- timeouts and fallback chain API -------------------------------------------------------


def test_timeouts_per_hop(policies):
    policy = policies["911-led"]
    assert policy.timeout_for("embedded_professional").seconds == 45
    assert policy.timeout_for("embedded_professional").stage == "accept"
    assert policy.timeout_for("external_hotline").seconds == 60
    for hop in ("community_responder", "police", "ems", "fire"):
        timeout = policy.timeout_for(hop)
        assert (timeout.stage, timeout.seconds) == ("acknowledge", 120)
    with pytest.raises(KeyError):
        policy.timeout_for("nobody")


def test_fallback_chain(policies):
    policy = policies["external-hotline"]
    assert policy.fallback_for("external_hotline") == "911-led"
    assert policy.fallback_for("community_responder") == "police"
    assert policy.fallback_for("police") is None
    assert policy.fallback_chain("external_hotline") == ("external_hotline", "911-led")
    assert policy.fallback_chain("community_responder") == ("community_responder", "police")
    assert policies["911-led"].targets == frozenset({"community_responder", "police", "ems", "fire", "cad_review"})
    assert "external_hotline" in policy.targets


def test_compiled_policy_is_immutable(policies):
    policy = policies["911-led"]
    with pytest.raises(AttributeError):
        policy.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.timeouts["police"] = None  # type: ignore[index]
