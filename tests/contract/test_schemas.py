import json

import pytest

from dispatchbus.contract import events as ev
from dispatchbus.contract import schemas
from dispatchbus.contract.avro_gen import ContractError, record_schema
from dispatchbus.contract.compat import backward_incompatibilities, check_backward
from dispatchbus.contract.schemas import SchemaVersion


def test_committed_avsc_match_the_models():
    folder = schemas.schema_dir()
    for name, text in schemas.generated_avsc().items():
        assert (folder / f"{name}.avsc").read_text() == text, f"{name}.avsc drifted: run dispatchbus schemas generate"


def test_every_event_type_has_a_released_version_equal_to_the_current_schema():
    latest = {}
    for v in schemas.released_versions():
        latest[v.name] = v
    for name, current in schemas.current_versions().items():
        assert name in latest, f"{name} was never released"
        assert json.loads(latest[name].text) == json.loads(current.text), f"{name} changed without a release"


def test_current_contract_reads_every_released_version():
    assert backward_incompatibilities() == []


def _with_field(text: str, field: dict) -> str:
    schema = json.loads(text)
    schema["fields"].append(field)
    return json.dumps(schema)


def test_adding_a_required_field_is_flagged_as_not_backward():
    current = schemas.current_versions()["UnitStatus"]
    changed = SchemaVersion("UnitStatus", None, _with_field(current.text, {"name": "shift", "type": "string"}))
    released = [SchemaVersion("UnitStatus", 1, current.text)]
    problems = backward_incompatibilities({"UnitStatus": changed}, released)
    assert len(problems) == 1
    assert "shift" in str(problems[0])


def test_adding_an_optional_field_with_default_is_backward():
    current = schemas.current_versions()["CallReceived"].text
    changed = _with_field(current, {"name": "console_position", "type": ["null", "string"], "default": None})
    assert check_backward(changed, current)[0]


def test_removing_a_record_is_flagged():
    v1 = schemas.current_versions()["CallClosed"]
    problems = backward_incompatibilities({}, [SchemaVersion("CallClosed", 1, v1.text)])
    assert [p.record for p in problems] == ["CallClosed"]


def test_schema_ids_are_distinct_and_stable():
    ids = {v.schema_id for v in schemas.current_versions().values()}
    assert len(ids) == len(ev.EVENT_TYPES)
    text = schemas.current_versions()["CallReceived"].text
    reformatted = json.dumps(json.loads(text))  # whitespace does not change the canonical form
    assert schemas.contract_schema_id(reformatted) == schemas.contract_schema_id(text)


def test_fixed_contract_fields_exist():
    fixed = {
        "CallReceived": {"event_id", "call_id", "psap_id", "received_at", "call_type", "screening", "location",
                         "priority", "narrative"},
        "UnitStatus": {"event_id", "unit_id", "team", "agency_type", "status", "occurred_at"},
        "RoutingDecision": {"event_id", "call_id", "target", "team", "model", "policy_id", "policy_version",
                            "reasons", "fallback", "decided_at"},
    }
    current = schemas.current_versions()
    for name, fields in fixed.items():
        have = {f["name"] for f in json.loads(current[name].text)["fields"]}
        assert fields <= have, f"{name} lacks {fields - have}"
    screening = set(ev.Screening.model_fields)
    assert screening == {"weapon_present", "violence_in_progress", "medical_emergency", "imminent_danger"}
    assert set(ev.Location.model_fields) == {"lat", "lon", "zone"}


def test_unsupported_types_are_a_contract_error():
    class Bad(ev.Record):
        x: dict[str, int]

    with pytest.raises(ContractError, match="Bad.x"):
        record_schema(Bad)
