"""Timestamps in events are UTC at millisecond precision, whatever tzinfo they arrive with; trusted records."""

from datetime import datetime, timedelta, timezone

import pytest
from faust.serializers import codecs
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from dispatchbus.contract import events as ev
from dispatchbus.lifecycle.timeline import Hop, Timeline
from dispatchbus.runtime.tables import TIMELINE_CODEC

from ..support.samples import call
from ..support.validated import assert_as_validated


def test_a_timestamp_parsed_from_json_comes_back_as_utc_at_millisecond_precision():
    hop = TypeAdapter(Hop).validate_json(
        '{"kind": "received", "at": "2026-05-04T18:00:00.123456Z", "event_id": "0b6c3f7e-8d7a-4a51-9a8e-2f1e6f0f4a11"}'
    )
    assert hop.at.tzinfo is timezone.utc  # not pydantic's own UTC object: later fast paths rely on it
    assert hop.at == datetime(2026, 5, 4, 18, 0, 0, 123000, tzinfo=timezone.utc)


def test_other_offsets_are_converted_to_utc():
    plus_two = timezone(timedelta(hours=2))
    c = call(1)
    validated = type(c).model_validate({**c.model_dump(), "received_at": datetime(2026, 5, 4, 20, 0, tzinfo=plus_two)})
    assert validated.received_at == datetime(2026, 5, 4, 18, 0, tzinfo=timezone.utc)
    assert validated.received_at.tzinfo is timezone.utc


def test_a_recovered_timeline_carries_utc_timestamps():
    timeline = Timeline(call_id="C1", call=call(1), hops=[Hop(kind="received", at=call(1).received_at,
                                                             event_id=call(1).event_id)])
    codec = codecs.get_codec(TIMELINE_CODEC)
    recovered = codec.loads(codec.dumps(timeline))
    assert recovered == timeline
    assert recovered.call.received_at.tzinfo is timezone.utc and recovered.hops[0].at.tzinfo is timezone.utc


def test_a_trusted_record_is_the_validated_record_without_the_checks():
    received = call(5)
    trusted = ev.CallReceived.trusted(**received.__dict__)
    assert trusted == received and trusted is not received
    assert_as_validated(trusted)
    assert trusted.model_fields_set == set(ev.CallReceived.model_fields)
    with pytest.raises(ValidationError):  # still frozen
        trusted.priority = 1


def test_a_trusted_record_needs_every_field():
    values = dict(call(5).__dict__)
    del values["narrative"]
    with pytest.raises(AssertionError, match="every field"):
        ev.CallReceived.trusted(**values)


def test_utc_millis_normalises_and_refuses_a_naive_timestamp():
    local = datetime(2026, 5, 4, 20, 0, 0, 123_456, tzinfo=timezone(timedelta(hours=2)))
    normal = ev.utc_millis(local)
    assert normal == datetime(2026, 5, 4, 18, 0, 0, 123_000, tzinfo=timezone.utc)
    assert normal.tzinfo is timezone.utc
    assert ev.utc_millis(normal) is normal
    parsed = TypeAdapter(AwareDatetime).validate_python("2026-05-04T18:00:00.123456Z")  # pydantic's UTC object
    assert parsed.tzinfo is not timezone.utc
    assert ev.utc_millis(parsed) == normal and ev.utc_millis(parsed).tzinfo is timezone.utc
    with pytest.raises(ValueError, match="time zone"):
        ev.utc_millis(datetime(2026, 5, 4, 18, 0))


def test_a_trusted_copy_is_model_copy_with_the_changes():
    received = call(6)
    copy = received.trusted_copy(narrative=None)
    assert copy == received.model_copy(update={"narrative": None}) and copy.narrative is None
    assert received.narrative is not None  # the original is left alone
    assert copy.model_fields_set == received.model_fields_set | {"narrative"} != set(ev.CallReceived.model_fields)
    assert_as_validated(copy)


def test_trusted_records_share_one_fields_set_that_nothing_changes():
    first = call(7)
    second = ev.CallReceived.model_validate(call(8).model_dump())  # every field set, as decoded from Avro
    a, b = ev.CallReceived.trusted(**first.__dict__), second.trusted_copy(narrative=None)
    shared = a.__pydantic_fields_set__
    assert b.__pydantic_fields_set__ is shared == set(ev.CallReceived.model_fields)
    with pytest.raises(ValidationError):
        a.priority = 2
    changed = a.model_copy(update={"priority": 2})
    assert changed.priority == 2 and a.priority == first.priority
    assert changed.__pydantic_fields_set__ is not shared
    assert shared == set(ev.CallReceived.model_fields)
    with pytest.raises(AssertionError, match="unknown field"):
        a.trusted_copy(narativ=None)
