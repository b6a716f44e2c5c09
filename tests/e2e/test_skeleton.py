"""JSON calls in -> Avro on the wire -> worker -> decisions out; a bad record -> DLQ, and the agent goes on."""

import json
from datetime import datetime, timezone
import os
import subprocess
import sys

import pytest

from dispatchbus import catalogue
from dispatchbus.kafka.clients import EventProducer, TopicReader
from dispatchbus.contract import events as ev
from dispatchbus.contract.jsonlines import to_json_line

from ..support.samples import call
from ..support.waiting import wait_for

pytestmark = pytest.mark.broker


def cli(settings, *args, stdin=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHBUS_")}
    env.update(settings.to_env())
    return subprocess.run(
        [sys.executable, "-m", "dispatchbus.cli.main", *args],
        env=env, input=stdin, capture_output=True, text=True, timeout=120,
    )


def collect(reader, want, timeout=30.0):
    got = []

    def enough():
        rec = reader.poll(0.2)
        if rec is not None:
            got.append(rec)
        return len(got) >= want

    wait_for(enough, timeout=timeout, interval=0, what=f"{want} records on {reader.topic}")
    return got


def test_calls_flow_to_decisions_and_bad_records_to_the_dead_letter_topic(bus_settings, start_worker, tmp_path):
    now = datetime.now(timezone.utc)  # live: handoff deadlines run on the wall clock
    calls = [call(1, "mental_health", now), call(2, "fire", now), call(3, "assault", now, weapon_present=True)]
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(to_json_line(c) for c in calls[:2]) + "\n")

    start_worker()
    produced = cli(bus_settings, "produce", "--topic", "cad.calls", str(path))
    assert produced.returncode == 0, produced.stderr

    # The wire carries Confluent-framed Avro, not JSON.
    with TopicReader(bus_settings, catalogue.CAD_CALLS) as raw:
        first = collect(raw, 1)[0]
    assert first.value[0] == 0 and not first.value.startswith(b"{")

    garbage = b"\x00\x00\x00\x00\x2a not avro"
    producer = EventProducer(bus_settings)
    producer.send_raw(catalogue.CAD_CALLS.full_name(bus_settings.topics), b"C-bad", garbage)
    producer.send(catalogue.CAD_CALLS, calls[2])  # after the bad record: must still be routed
    producer.flush()

    with TopicReader(bus_settings, catalogue.DECISIONS) as reader:
        decisions = [r.event for r in collect(reader, 3)]
    assert all(isinstance(d, ev.RoutingDecision) for d in decisions)
    by_call = {d.call_id: d for d in decisions}
    assert set(by_call) == {"C1", "C2", "C3"}
    assert by_call["C2"].target == "fire"
    assert by_call["C3"].target == "police"
    for c in calls:
        assert by_call[c.call_id].causation_id == c.event_id
        assert by_call[c.call_id].decided_at == c.received_at

    with TopicReader(bus_settings, catalogue.DEAD_LETTER) as dlq:
        letters = [r.event for r in collect(dlq, 1)]
    letter = letters[0]
    assert isinstance(letter, ev.DeadLetter)
    assert letter.original_value == garbage and letter.original_key == b"C-bad"
    assert letter.reason == "unknown_schema"
    assert letter.source_topic == catalogue.CAD_CALLS.full_name(bus_settings.topics)

    consumed = cli(bus_settings, "consume", "--topic", "bus.decisions", "--idle-timeout", "2")
    assert consumed.returncode == 0, consumed.stderr
    lines = [json.loads(line) for line in consumed.stdout.splitlines()]
    assert sorted(obj["call_id"] for obj in lines) == ["C1", "C2", "C3"]
    assert all(obj["type"] == "RoutingDecision" for obj in lines)


def test_produce_reports_bad_lines_with_file_line_and_field(bus_settings, tmp_path):
    good = to_json_line(call(1))
    bad = json.loads(good)
    bad["priority"] = 0
    path = tmp_path / "mixed.jsonl"
    path.write_text(good + "\n" + json.dumps(bad) + "\n")
    result = cli(bus_settings, "produce", "--topic", "cad.calls", str(path))
    assert result.returncode == 1
    assert f"{path}:2: field 'priority'" in result.stderr
    assert "produced 1 events" in result.stderr
    with TopicReader(bus_settings, catalogue.CAD_CALLS) as reader:
        assert collect(reader, 1)[0].event == call(1)
