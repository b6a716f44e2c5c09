import io
import json

import pytest

from dispatchbus.contract.jsonlines import LineError, parse_line, read_events, to_json_line

from ..support.samples import one_of_each


def test_json_form_round_trips_every_event_type():
    for event in one_of_each():
        line = to_json_line(event)
        obj = json.loads(line)
        assert obj["type"] == type(event).__name__
        assert parse_line(line) == event


def test_timestamps_are_iso_utc_with_z():
    line = to_json_line(one_of_each()[0])
    assert json.loads(line)["received_at"] == "2026-05-04T18:00:00Z"


def test_iso_utc_converts_to_utc_and_keeps_milliseconds():
    from datetime import datetime, timedelta, timezone

    from dispatchbus.contract.events import iso_utc

    utc = datetime(2026, 5, 4, 18, 0, 0, 123456, tzinfo=timezone.utc)
    same_instant = utc.astimezone(timezone(timedelta(hours=-4)))
    for _ in range(2):  # the second round is served from the cache
        assert iso_utc(utc) == "2026-05-04T18:00:00.123Z"
        assert iso_utc(utc.replace(microsecond=0)) == "2026-05-04T18:00:00Z"
        assert iso_utc(same_instant) == "2026-05-04T18:00:00.123Z"


def test_offsets_are_normalised_to_utc():
    obj = json.loads(to_json_line(one_of_each()[0]))
    obj["received_at"] = "2026-05-04T14:00:00-04:00"
    assert json.loads(to_json_line(parse_line(json.dumps(obj))))["received_at"] == "2026-05-04T18:00:00Z"


def test_naive_timestamps_are_rejected():
    obj = json.loads(to_json_line(one_of_each()[0]))
    obj["received_at"] = "2026-05-04T14:00:00"
    with pytest.raises(LineError) as info:
        parse_line(json.dumps(obj), source="calls.jsonl", line=7)
    assert info.value.field == "received_at"
    assert str(info.value).startswith("calls.jsonl:7: field 'received_at'")


def test_errors_name_nested_fields_and_never_echo_values():
    obj = json.loads(to_json_line(one_of_each()[0]))
    obj["location"]["lat"] = 123.456
    obj["narrative"] = "SECRET"
    with pytest.raises(LineError) as info:
        parse_line(json.dumps(obj), source="f", line=2)
    assert info.value.field == "location.lat"
    assert "123.456" not in str(info.value) and "SECRET" not in str(info.value)


def test_unknown_type_and_bad_json_are_line_errors():
    items = list(read_events(io.StringIO('{"type":"Nope"}\n\nnot json\n'), "in.jsonl"))
    assert [n for n, _ in items] == [1, 3]
    assert all(isinstance(e, LineError) for _, e in items)
    assert items[0][1].field == "type"
    assert "not valid JSON" in items[1][1].message


def test_a_line_nested_too_deeply_is_a_line_error_not_a_crash():
    with pytest.raises(LineError) as info:
        parse_line("[" * 100_000 + "]" * 100_000, source="in.jsonl", line=3)
    assert str(info.value) == "in.jsonl:3: not valid JSON (nested too deeply)"
