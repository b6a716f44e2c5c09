"""Loading policy files: validation errors name the file, the line and the field."""

from __future__ import annotations

from importlib import resources

import pytest

from dispatchbus.policy import MODELS, PolicyError, load_policy, load_reference_policy, parse_policy

REFERENCE = {model: resources.files("dispatchbus.policy.reference").joinpath(f"{model}.yaml").read_text() for model in MODELS}


def write(tmp_path, text, name="x.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def errors_of(path) -> list[str]:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    return str(info.value).splitlines()


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in text")


@pytest.mark.parametrize("model", MODELS)
def test_reference_files_load_and_match_their_model(model):
    policy = load_reference_policy(model)
    assert policy.model == model
    assert policy.source == f"dispatchbus.policy.reference/{model}.yaml"


def test_load_from_path(tmp_path):
    policy = load_policy(write(tmp_path, REFERENCE["911-led"]))
    assert policy == load_reference_policy("911-led")


def test_bad_end_time_names_file_line_and_path(tmp_path):
    text = REFERENCE["911-led"].replace("daily: 07:00-23:00", "daily: 07:00-25:00")
    path = write(tmp_path, text)
    assert errors_of(path) == [f"{path}:{line_of(text, '07:00-25:00')}: teams[1].hours.daily: end 25:00 is not a valid time"]


def test_hours_errors_in_lists_name_the_index(tmp_path):
    text = REFERENCE["911-led"].replace("weekdays: 09:00-21:00", "mon: [09:00-12:00, 13:00-12:30]")
    path = write(tmp_path, text)
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:{line_of(text, '13:00-12:30')}: teams[0].hours.mon[1]: start 13:00 is not before end 12:30")


def test_unknown_weekday(tmp_path):
    text = REFERENCE["911-led"].replace("weekdays: 09:00-21:00", "tues: 09:00-21:00")
    path = write(tmp_path, text)
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:{line_of(text, 'tues:')}: teams[0].hours.tues: unknown weekday 'tues'")


def test_unit_in_two_teams(tmp_path):
    text = REFERENCE["911-led"].replace("units: [CRT-1, CRT-2]", "units: [CRT-1, MRU-1]")
    path = write(tmp_path, text)
    assert errors_of(path) == [f"{path}:{line_of(text, '[CRT-1, MRU-1]')}: teams[1].units[1]: unit MRU-1 is already in teams[0] (MRU)"]


def test_consult_type_not_eligible(tmp_path):
    text = REFERENCE["embedded-professional"].replace("    - youth_truancy\n\n", "    - youth_truancy\n    - burglary\n\n")
    path = write(tmp_path, text)
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:{line_of(text, '- burglary')}: embedded_professional.consult_call_types[7]: consult call type burglary is not eligible")


def test_unknown_timeout_hop_and_missing_timeout(tmp_path):
    text = REFERENCE["911-led"].replace("  police: {acknowledge: 120}\n", "  polcie: {acknowledge: 120}\n")
    path = write(tmp_path, text)
    errors = errors_of(path)
    assert f"{path}:{line_of(text, 'polcie')}: timeouts.polcie: unknown timeout hop 'polcie'" in errors[1]
    assert errors[0] == f"{path}:{line_of(text, 'timeouts:')}: timeouts: missing a timeout for police"


def test_structural_errors_are_all_reported_with_lines(tmp_path):
    text = (
        "id: x\n"
        "version: 1.0\n"
        "model: 912-led\n"
        "timezone: America/New_York\n"
        "teams:\n"
        "  - name: A\n"
        "    units: [a]\n"
        "    call_types: [Not-A-Type]\n"
        "    hours: {daily: 09:00-10:00}\n"
        "    colour: red\n"
    )
    path = write(tmp_path, text)
    errors = errors_of(path)
    assert errors[0] == f"{path}:1: timeouts: required field is missing"
    assert errors[1] == f"{path}:2: version: Input should be a valid string"
    assert errors[2].startswith(f"{path}:3: model: Input should be '911-led'")
    assert errors[3].startswith(f"{path}:8: teams[0].call_types[0]: String should match pattern")
    assert errors[4] == f"{path}:10: teams[0].colour: unknown field"


def test_cross_field_errors(tmp_path):
    text = (
        REFERENCE["external-hotline"]
        .replace("timezone: America/New_York", "timezone: America/New_Yrok")
        .replace("    daily: 08:00-22:00", "    daily: 22:00-08:00")
        .replace("  community_responder: police", "  community_responder: 911-led\n  police: ems")
        .replace("    call_types: [fire]\n", "    call_types: [fire, trespass]\n")
    )
    path = write(tmp_path, text)
    errors = errors_of(path)
    assert errors == [
        f"{path}:{line_of(text, 'New_Yrok')}: timezone: unknown time zone 'America/New_Yrok' "
        "(expected an IANA name like America/New_York)",
        f"{path}:{line_of(text, '- trespass')}: teams[1].call_types[8]: call type trespass never reaches a team: "
        "safety_gate[0] (gate.fire) takes it",
        f"{path}:{line_of(text, '22:00-08:00')}: external_hotline.hours.daily: start 22:00 is not before end 08:00 "
        "(split overnight hours across two days)",
        f"{path}:{line_of(text, 'community_responder: 911-led')}: fallback.community_responder: the 911-led rule "
        "would hand the call back to the teams; name police, ems or fire",
        f"{path}:{line_of(text, 'police: ems')}: fallback.police: police is the end of every chain and has no fallback",
    ]


def test_model_section_required_and_foreign_sections_rejected(tmp_path):
    text = REFERENCE["embedded-professional"].replace("model: embedded-professional", "model: external-hotline")
    path = write(tmp_path, text)
    errors = errors_of(path)
    assert errors == [
        f"{path}:{line_of(text, 'model: external-hotline')}: model: model external-hotline needs an external_hotline section",
        f"{path}:{line_of(text, 'embedded_professional:')}: embedded_professional: only used by model "
        "embedded-professional, but this policy's model is external-hotline",
    ]


def test_missing_fallback_for_reachable_hop(tmp_path):
    text = REFERENCE["external-hotline"].replace("  external_hotline: 911-led\n", "")
    path = write(tmp_path, text)
    assert errors_of(path) == [f"{path}:{line_of(text, 'fallback:')}: fallback: missing a fallback for external_hotline"]


def test_gate_rule_must_match_something(tmp_path):
    text = REFERENCE["911-led"].replace("    screening: [imminent_danger]\n", "")
    path = write(tmp_path, text)
    assert errors_of(path) == [f"{path}:{line_of(text, 'reason: gate.danger')}: safety_gate[4]: a rule needs call_types or screening to match anything"]


def test_yaml_syntax_error_has_a_line(tmp_path):
    path = write(tmp_path, "id: x\nteams: [\n  a: b\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:") and "invalid YAML" in error
    assert int(error.split(":")[1]) >= 2


def test_duplicate_keys_are_errors(tmp_path):
    text = REFERENCE["911-led"].replace("version: 1.0.0\n", "version: 1.0.0\nversion: 1.0.1\n")
    path = write(tmp_path, text)
    assert errors_of(path) == [f"{path}:{line_of(text, 'version: 1.0.1')}: duplicate key 'version'"]


def test_not_a_mapping_and_unreadable(tmp_path):
    assert errors_of(write(tmp_path, "- just\n- a list\n"))[0].endswith(":1: expected a mapping of policy fields")
    missing = tmp_path / "missing.yaml"
    assert errors_of(missing) == [f"{missing}: cannot read: No such file or directory"]


def test_parse_policy_names_the_given_source():
    with pytest.raises(PolicyError) as info:
        parse_policy("id: [", source="inline")
    assert info.value.issues[0].source == "inline"
    assert str(info.value).startswith("inline:")


def test_unknown_reference_model():
    with pytest.raises(ValueError, match="unknown dispatch model"):
        load_reference_policy("police-only")


def test_a_hop_reached_only_by_a_consult_result_needs_its_deadline(tmp_path):
    # No gate rule sends EMS here, but a clinician's dispatch_ems does: without a deadline the call could wait forever.
    text = REFERENCE["embedded-professional"].replace("  - reason: gate.medical\n    screening: [medical_emergency]\n"
                                                      "    call_types: [medical, overdose]\n    route_to: ems\n"
                                                      "    engaged: co_respond\n", "")
    text = text.replace("  ems: {acknowledge: 120}\n", "")
    assert "route_to: ems" not in text
    path = write(tmp_path, text)
    assert errors_of(path) == [f"{path}:{line_of(text, 'timeouts:')}: timeouts: missing a timeout for ems"]


def test_a_gate_rule_may_send_several_agencies_and_say_what_an_engaged_team_does(tmp_path):
    text = REFERENCE["911-led"].replace(
        "    screening: [weapon_present]\n    route_to: police\n",
        "    screening: [weapon_present]\n    route_to: [police, ems]\n    engaged: co_respond\n",
    )
    policy = load_policy(write(tmp_path, text))
    [rule] = [r for r in policy.gate if r.code == "gate.weapon"]
    assert rule.targets == ("police", "ems") and rule.engaged == "co_respond"


def test_low_risk_call_types_must_be_eligible_and_used(tmp_path):
    text = REFERENCE["911-led"].replace("low_risk_call_types: [noise_complaint, youth_truancy, homelessness]",
                                        "low_risk_call_types: [noise_complaint, burglary]")
    path = write(tmp_path, text)
    assert errors_of(path) == [f"{path}:{line_of(text, 'low_risk_call_types')}: low_risk_call_types[1]: "
                               "call type burglary is not eligible (no team takes it)"]


def test_an_unknown_answer_the_policy_does_not_mention_counts_as_yes(tmp_path):
    from dispatchbus.contract.events import Screening
    from dispatchbus.policy import AvailabilityBook, evaluate

    text = REFERENCE["911-led"].replace("  weapon_present: low_risk_only\n", "")
    policy = load_policy(write(tmp_path, text))
    assert policy.unknown["weapon_present"] == "yes"
    from datetime import datetime, timezone

    verdict = evaluate(policy, "noise_complaint", Screening(violence_in_progress=False, imminent_danger=False,
                                                             medical_emergency=False),
                       datetime(2026, 5, 4, 16, tzinfo=timezone.utc), AvailabilityBook())
    assert verdict.target == "police" and verdict.reasons[0].startswith("gate.weapon: screening does not know")
