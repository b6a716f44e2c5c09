"""The calls table's codec and changelog path."""

from __future__ import annotations

import json

from faust.serializers import codecs

from dispatchbus.app import create_app
from dispatchbus.lifecycle.timeline import Timeline
from dispatchbus.lifecycle.transitions import Context, apply
from dispatchbus.settings import Settings
from dispatchbus.tables import TIMELINE_CODEC, OutboxTable
from tests.support.samples import call


def _routed_timeline() -> Timeline:
    from dispatchbus.policy_reload import PolicyHolder

    settings = Settings()
    holder = PolicyHolder(settings.worker.policy_file, settings.worker.policy_model)
    timeline, fx = apply(None, call(3), Context(holder.current, _NoUnits()))
    assert fx.decisions and fx.handoffs
    return timeline


class _NoUnits:
    def status_at(self, unit_id: str, epoch_ms: int) -> None:
        return None


def test_timeline_codec_round_trips_a_routed_call():
    timeline = _routed_timeline()
    codec = codecs.get_codec(TIMELINE_CODEC)
    data = codec.dumps(timeline)
    assert codec.loads(data) == timeline


def test_timeline_codec_reads_the_plain_json_changelogs_of_earlier_versions():
    timeline = _routed_timeline()
    earlier = json.dumps(timeline.model_dump(mode="json")).encode()  # Faust's json codec over a dict
    assert codecs.get_codec(TIMELINE_CODEC).loads(earlier) == timeline


def test_worker_calls_table_uses_the_codec_and_the_outbox(tmp_path):
    settings = Settings()
    settings.worker.data_dir = tmp_path
    table = create_app(settings).calls_table
    assert isinstance(table, OutboxTable)
    assert table.changelog_topic.value_serializer == TIMELINE_CODEC
