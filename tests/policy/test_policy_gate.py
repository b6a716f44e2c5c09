"""The safety gate: runs first, in every model, first match wins."""

from __future__ import annotations

import pytest
from policy_helpers import local, make_call

from dispatchbus.policy import decide, primary_reason_code

MODELS = ("911-led", "embedded-professional", "external-hotline")
NOON = local("2026-05-04T12:00")  # a Monday: every team, clinician and the hotline are open


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(
    ("call_type", "flags", "target", "code"),
    [
        ("fire", {}, "fire", "gate.fire"),
        ("medical", {}, "ems", "gate.medical"),
        ("overdose", {}, "ems", "gate.medical"),
        ("mental_health", {"medical_emergency": True}, "ems", "gate.medical"),
        ("mental_health", {"weapon_present": True}, "police", "gate.weapon"),
        ("noise_complaint", {"violence_in_progress": True}, "police", "gate.violence"),
        ("suicidal_ideation", {"imminent_danger": True}, "police", "gate.danger"),
        ("burglary", {}, "police", "gate.not_eligible"),
    ],
)
def test_each_gate_branch(policies, empty_book, model, call_type, flags, target, code):
    decision = decide(policies[model], make_call(call_type, NOON, **flags), empty_book)
    assert decision.target == target
    assert primary_reason_code(decision) == code
    assert decision.fallback is False
    assert decision.team is None
    assert len(decision.reasons) == 1


@pytest.mark.parametrize(
    ("call_type", "flags", "target", "code"),
    [
        # fire beats medical beats weapon beats violence beats danger
        ("fire", {"medical_emergency": True, "weapon_present": True}, "fire", "gate.fire"),
        ("medical", {"weapon_present": True, "violence_in_progress": True}, "ems", "gate.medical"),
        ("assault", {"medical_emergency": True, "weapon_present": True}, "ems", "gate.medical"),
        ("mental_health", {"weapon_present": True, "violence_in_progress": True}, "police", "gate.weapon"),
        ("disturbance", {"violence_in_progress": True, "imminent_danger": True}, "police", "gate.violence"),
    ],
)
def test_gate_order(policies, empty_book, call_type, flags, target, code):
    decision = decide(policies["911-led"], make_call(call_type, NOON, **flags), empty_book)
    assert (decision.target, primary_reason_code(decision)) == (target, code)


def test_not_eligible_is_not_a_fallback_and_not_eligible(policies, empty_book):
    decision = decide(policies["external-hotline"], make_call("traffic_accident", NOON), empty_book)
    assert decision.target == "police"
    assert decision.eligible is False
    assert decision.fallback is False
    assert decision.reasons == [
        "gate.not_eligible: call type traffic_accident is not eligible for a non-police response"
    ]


def test_a_gated_call_of_an_eligible_type_is_not_eligible(policies, empty_book):
    # Not a police default: the safety gate decided it (so it is not counted in the police-default rate).
    decision = decide(policies["911-led"], make_call("welfare_check", NOON, weapon_present=True), empty_book)
    assert decision.eligible is False
    assert decision.target == "police"
    assert decision.fallback is False


def test_gate_reasons_name_the_flag_not_the_narrative(policies, empty_book):
    call = make_call("mental_health", NOON, narrative="Jane Doe says he has a knife", weapon_present=True)
    decision = decide(policies["embedded-professional"], call, empty_book)
    assert decision.reasons == ["gate.weapon: screening reports a weapon present; police responds"]
    assert not any("Jane" in r or "knife" in r for r in decision.reasons)
