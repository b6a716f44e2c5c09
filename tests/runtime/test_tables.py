"""The calls table's codec and changelog path."""

from __future__ import annotations

import asyncio
import json

import pytest
from confluent_kafka.admin import NewTopic
from hypothesis import given, settings
from hypothesis import strategies as st
from faust.serializers import codecs

from dispatchbus.kafka.admin import admin_client
from dispatchbus.app import create_app
from dispatchbus.lifecycle.timeline import Timeline
from dispatchbus.lifecycle.transitions import Context, apply
from dispatchbus.policy.availability import AvailabilityBook
from tests.support.policies import reference as load_reference_policy
from dispatchbus.settings import Settings
from dispatchbus.runtime.tables import TIMELINE_CODEC, OutboxTable
from tests.support.samples import call
from tests.support.topics import read_partition


def _routed_timeline(n: int = 3) -> Timeline:
    timeline, fx = apply(None, call(n), Context(load_reference_policy("911-led"), AvailabilityBook()))
    assert fx.decisions and fx.handoffs
    return timeline


def test_timeline_codec_round_trips_a_routed_call():
    timeline = _routed_timeline()
    codec = codecs.get_codec(TIMELINE_CODEC)
    data = codec.dumps(timeline)
    assert codec.loads(data) == timeline


def test_timeline_codec_reads_the_plain_json_changelogs_of_earlier_versions():
    timeline = _routed_timeline()
    earlier = json.dumps(json.loads(timeline.to_json())).encode()  # Faust's json codec over a dict
    assert codecs.get_codec(TIMELINE_CODEC).loads(earlier) == timeline


def test_hops_and_the_pending_handoff_are_json_arrays_and_timelines_with_objects_still_load():
    timeline = _routed_timeline()
    codec = codecs.get_codec(TIMELINE_CODEC)
    data = json.loads(codec.dumps(timeline))
    assert [hop[0] for hop in data["hops"]] == [h.kind for h in timeline.hops] == ["received", "decided",
                                                                                    "handoff_requested"]
    assert isinstance(data["legs"][0], list)
    # How earlier versions wrote them: objects.
    data["hops"] = [dict(zip(type(timeline.hops[0])._fields, hop)) for hop in data["hops"]]
    data["legs"] = [dict(zip(type(timeline.pending)._fields, leg)) for leg in data["legs"]]
    assert codec.loads(json.dumps(data).encode()) == timeline


def test_a_timeline_stored_with_one_pending_handoff_loads_with_that_handoff_as_its_leg():
    timeline = _routed_timeline()
    codec = codecs.get_codec(TIMELINE_CODEC)
    data = json.loads(codec.dumps(timeline))
    leg = data.pop("legs")[0]
    data["pending"], data["accepted_handoff"] = leg[:7], None  # how a call waited before calls had legs
    assert codec.loads(json.dumps(data).encode()) == timeline


def test_worker_calls_table_uses_the_codec_and_the_outbox(tmp_path):
    settings = Settings()
    settings.worker.data_dir = tmp_path
    table = create_app(settings).calls_table
    assert isinstance(table, OutboxTable)
    assert table.changelog_topic.value_serializer == TIMELINE_CODEC


def _table_writing_to_a_list(tmp_path, monkeypatch):
    """The worker's calls table, whose outbox records each changelog record (kept back) in the list returned."""
    settings = Settings()
    settings.worker.data_dir = tmp_path
    bus = create_app(settings)
    produced = []
    monkeypatch.setattr(bus.outbox, "keep_state", lambda *record: produced.append(record))
    return bus.calls_table, produced


def test_changelog_records_are_the_bytes_faust_would_write(tmp_path, monkeypatch):
    table, produced = _table_writing_to_a_list(tmp_path, monkeypatch)
    timeline = _routed_timeline()

    table.send_changelog(4, timeline.call_id, timeline)
    table.send_changelog(4, timeline.call_id, None)

    topic = table.changelog_topic
    faust_key, _ = topic.prepare_key(timeline.call_id, table.key_serializer)
    faust_value, _ = topic.prepare_value(timeline, table.value_serializer)
    assert produced == [
        (topic.get_topic_name(), faust_key, faust_value, 4),
        (topic.get_topic_name(), faust_key, None, 4),
    ]


def test_changelog_keys_are_the_bytes_faust_would_write_for_any_text(tmp_path, monkeypatch):
    table, produced = _table_writing_to_a_list(tmp_path, monkeypatch)
    topic = table.changelog_topic

    @settings(max_examples=300, deadline=None)
    @given(key=st.one_of(st.text(), st.from_regex(r"\AC-[0-9]{8}\Z"),
                         st.sampled_from(['a"b', "a\\b", "é", "\x01", "\x7f", "", "C-1 2/3"])))
    def same_bytes(key):
        table.send_changelog(0, key, None)
        assert produced[-1][1] == topic.prepare_key(key, table.key_serializer)[0]

    same_bytes()


@pytest.mark.broker
def test_a_changelog_write_and_a_deletion_reach_the_changelog_through_the_outbox(bus_settings, bus):
    table = bus.calls_table
    topic = table.changelog_topic.get_topic_name()
    admin = admin_client(bus_settings)  # kept until its futures are done
    for future in admin.create_topics([NewTopic(topic, 6, 1)]).values():
        future.result(timeout=30)
    timeline = _routed_timeline()

    table.send_changelog(2, timeline.call_id, timeline)
    table.send_changelog(2, timeline.call_id, None)  # what deleting the key writes
    asyncio.run(bus.app.producer.flush())

    records = read_partition(bus_settings, topic, 2, lambda got: len(got) >= 2,
                             what="the changelog record and its tombstone")
    written, deleted = records
    assert json.loads(written.key()) == timeline.call_id == json.loads(deleted.key())
    assert codecs.get_codec(TIMELINE_CODEC).loads(written.value()) == timeline
    assert deleted.value() is None


def test_put_writes_the_value_and_its_changelog_record_to_the_partition_named(tmp_path, monkeypatch):
    table, produced = _table_writing_to_a_list(tmp_path, monkeypatch)
    timeline = _routed_timeline()

    table.put(timeline.call_id, timeline, 5)  # no stream event: Faust alone could not tell the partition

    assert table[timeline.call_id] is timeline
    assert [(topic, partition) for topic, _, _, partition in produced] == [(table.changelog_topic.get_topic_name(), 5)]


def test_delete_removes_the_key_and_writes_its_tombstone_to_the_partition_named(tmp_path, monkeypatch):
    table, produced = _table_writing_to_a_list(tmp_path, monkeypatch)
    timeline, other = _routed_timeline(), _routed_timeline(4)
    table.put(timeline.call_id, timeline, 3)
    table.put(other.call_id, other, 3)
    produced.clear()

    table.delete(timeline.call_id, 3)  # no stream event, as in the deadline timer

    assert timeline.call_id not in table and table.peek(other.call_id) is other
    faust_key, _ = table.changelog_topic.prepare_key(timeline.call_id, table.key_serializer)
    assert produced == [(table.changelog_topic.get_topic_name(), faust_key, None, 3)]
    with pytest.raises(KeyError):  # as del table[key], and no second tombstone
        table.delete(timeline.call_id, 3)
    assert len(produced) == 1


def test_peek_reads_what_put_wrote_and_none_for_an_unknown_key(tmp_path, monkeypatch):
    table, _ = _table_writing_to_a_list(tmp_path, monkeypatch)
    timeline = _routed_timeline()
    assert table.peek(timeline.call_id) is None

    table.put(timeline.call_id, timeline, 1)

    assert table.peek(timeline.call_id) is timeline is table.get(timeline.call_id)
    assert timeline.call_id in table and len(table) == 1
