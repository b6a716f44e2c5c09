"""`dispatchbus route`: offline routing from JSON lines on the command line."""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from importlib import resources
from uuid import UUID

import pytest

from dispatchbus.cli import route
from dispatchbus.contract.events import CallReceived, UnitStatus
from dispatchbus.contract.jsonlines import to_json_line
from dispatchbus.dev.synthetic import synthetic_lines
from tests.support.samples import screened


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dispatchbus")
    route.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["route", *argv])


def call(number: int, call_type: str, when: str, **screening: bool) -> CallReceived:
    return CallReceived(
        event_id=UUID(int=number, version=4),
        call_id=f"C-{number}",
        psap_id="PSAP-1",
        received_at=datetime.fromisoformat(when).replace(tzinfo=timezone.utc),
        call_type=call_type,
        screening=screened(**screening),
        location={"lat": 40.7, "lon": -74.0, "zone": "Z01"},
        priority=3,
        narrative="private words",
    )


def status(number: int, unit: str, state: str, when: str) -> UnitStatus:
    return UnitStatus(
        event_id=UUID(int=number, version=4),
        unit_id=unit,
        team=unit.split("-")[0],
        agency_type="community_responder",
        status=state,
        occurred_at=datetime.fromisoformat(when).replace(tzinfo=timezone.utc),
    )


# Monday 2026-05-04, 10:00 in New York is 14:00 UTC.
EVENTS = [
    call(1, "mental_health", "2026-05-04T14:00:00"),
    call(2, "fire", "2026-05-04T14:01:00"),
    call(3, "welfare_check", "2026-05-04T14:30:00"),
    status(4, "CRT-1", "busy", "2026-05-04T14:10:00"),
    status(5, "CRT-2", "out_of_service", "2026-05-04T14:20:00"),
    # The shipped policy sends a team only when its units said they are free (listed last, timed first).
    status(6, "CRT-1", "available", "2026-05-04T13:00:00"),
    status(7, "CRT-2", "available", "2026-05-04T13:00:00"),
]


def run(argv, capsys) -> tuple[int, list[dict], str]:
    code = route.run(parse(argv))
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_routes_a_file_one_decision_per_call(tmp_path, capsys):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(to_json_line(e) + "\n" for e in EVENTS))
    code, decisions, err = run(["--model", "911-led", str(path)], capsys)
    assert code == 0 and err == ""
    assert [(d["call_id"], d["target"], d["team"]) for d in decisions] == [
        ("C-1", "community_responder", "CRT"),
        ("C-2", "fire", None),
        ("C-3", "police", None),  # both CRT units unavailable by 14:30, though listed after the call
    ]
    assert decisions[2]["fallback"] is True
    assert decisions[2]["reasons"][0].startswith("fallback.no_unit_available:")
    assert all(d["type"] == "RoutingDecision" and d["policy_id"] == "reference" for d in decisions)
    assert "private words" not in json.dumps(decisions)


def test_reads_stdin(monkeypatch, capsys):
    data = "".join(to_json_line(e) + "\n" for e in EVENTS).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, decisions, _ = run(["--model", "external-hotline"], capsys)
    assert code == 0
    assert [d["target"] for d in decisions] == ["external_hotline", "fire", "police"]
    assert {d["model"] for d in decisions} == {"external-hotline"}


def test_bad_lines_are_named_and_the_rest_processed(tmp_path, capsys):
    bad = json.loads(to_json_line(EVENTS[0]))
    del bad["call_type"]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join([to_json_line(EVENTS[0]), json.dumps(bad), "{]", to_json_line(EVENTS[1])]) + "\n")
    code, decisions, err = run(["--model", "911-led", str(path)], capsys)
    assert code == 1
    assert [d["call_id"] for d in decisions] == ["C-1", "C-2"]
    lines = err.splitlines()
    assert lines[0] == f"{path}:2: field 'call_type': Field required"
    assert lines[1].startswith(f"{path}:3: not valid JSON")
    assert lines[-1] == f"route: 2 bad line(s) in {path}"


def test_other_events_are_counted_on_stderr(tmp_path, capsys):
    closed = {"type": "CallClosed", "event_id": str(UUID(int=9, version=4)), "call_id": "C-1",
              "closed_at": "2026-05-04T15:00:00Z", "disposition": "resolved"}
    path = tmp_path / "in.jsonl"
    path.write_text(to_json_line(EVENTS[0]) + "\n" + json.dumps(closed) + "\n")
    code, decisions, err = run(["--model", "911-led", str(path)], capsys)
    assert code == 0 and len(decisions) == 1
    assert err.strip() == "route: ignored 1 other events (CallClosed 1)"


def test_policy_file_option(tmp_path, capsys):
    text = resources.files("dispatchbus.policy.reference").joinpath("911-led.yaml").read_text()
    policy = tmp_path / "p.yaml"
    policy.write_text(text.replace("version: 1.0.0", "version: 2.0.0"))
    path = tmp_path / "in.jsonl"
    path.write_text(to_json_line(EVENTS[0]) + "\n")
    code, decisions, _ = run(["--policy", str(policy), str(path)], capsys)
    assert code == 0 and decisions[0]["policy_version"] == "2.0.0"


def test_bad_policy_file_exits_1_with_its_errors(tmp_path, capsys):
    policy = tmp_path / "p.yaml"
    policy.write_text("id: x\n")
    code, decisions, err = run(["--policy", str(policy), str(tmp_path / "none.jsonl")], capsys)
    assert code == 1 and decisions == []
    assert f"{policy}:1: model: required field is missing" in err


def test_missing_input_exits_2(tmp_path, capsys):
    code, _, err = run(["--model", "911-led", str(tmp_path / "none.jsonl")], capsys)
    assert code == 2 and "cannot read" in err


def test_model_and_policy_are_exclusive_and_one_is_required(capsys):
    with pytest.raises(SystemExit):
        parse(["--model", "911-led", "--policy", "x.yaml"])
    with pytest.raises(SystemExit):
        parse([])
    with pytest.raises(SystemExit):
        parse(["--model", "police-only"])


def test_stats_on_stderr(tmp_path, capsys):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(synthetic_lines(200, seed=2)) + "\n")
    code, decisions, err = run(["--model", "embedded-professional", "--stats", str(path)], capsys)
    assert code == 0 and len(decisions) == 200
    assert err.startswith("route: 200 calls, ") and re.search(r"events/s, peak RSS [1-9]\d* MiB$", err.rstrip())


def test_runs_as_a_module(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(to_json_line(e) + "\n" for e in EVENTS))
    done = subprocess.run(
        [sys.executable, "-m", "dispatchbus.cli.route", "--model", "911-led", str(path)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 3
