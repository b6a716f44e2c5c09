"""Timestamps in events are UTC at millisecond precision, whatever tzinfo they arrive with."""

from datetime import datetime, timedelta, timezone

from faust.serializers import codecs
from pydantic import TypeAdapter

from dispatchbus.lifecycle.timeline import Hop, Timeline
from dispatchbus.tables import TIMELINE_CODEC

from ..support.samples import call


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
