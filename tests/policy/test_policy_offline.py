"""Offline routing of JSON lines and the synthetic traffic generator."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
from collections import Counter
from datetime import datetime

import pytest
from policy_helpers import local, make_call, make_status

from dispatchbus.contract.events import CallReceived, UnitStatus
from dispatchbus.contract.jsonlines import LineError, parse_line, to_json_line
from dispatchbus.policy import AvailabilityBook, decide, load_reference_policy
from dispatchbus.policy import offline
from dispatchbus.policy.offline import route_bytes, route_file
from dispatchbus.dev.synthetic import CALL_MIX, synthetic_events, synthetic_lines, write_synthetic

POLICY = load_reference_policy("911-led")


def run_bytes(data: bytes, policy=POLICY, **options):
    out: list[str] = []
    errors: list = []
    stats = route_bytes(policy, data, source="in.jsonl", write=out.append, report=errors.append, **options)
    return "".join(out).splitlines(), [str(e) for e in errors], stats


def expected(events, policy=POLICY) -> list[str]:
    book = AvailabilityBook()
    for event in events:
        if isinstance(event, UnitStatus):
            book.record(event)
    return [to_json_line(decide(policy, e, book)) for e in events if isinstance(e, CallReceived)]


def test_status_later_in_file_but_earlier_in_time_counts():
    call = make_call("welfare_check", local("2026-05-04T10:00"))
    late_statuses = [
        make_status("CRT-1", "busy", local("2026-05-04T09:00")),
        make_status("CRT-2", "busy", local("2026-05-04T09:30")),
    ]
    lines, errors, stats = run_bytes("\n".join(to_json_line(e) for e in [call, *late_statuses]).encode())
    assert errors == [] and (stats.calls, stats.statuses) == (1, 2)
    (decision,) = [json.loads(line) for line in lines]
    assert decision["target"] == "police" and decision["fallback"] is True


def test_output_follows_input_order_not_time_order():
    calls = [make_call("mental_health", local(f"2026-05-04T1{h}:00")) for h in (5, 1, 3)]
    lines, _, _ = run_bytes("\n".join(to_json_line(c) for c in calls).encode())
    assert [json.loads(line)["call_id"] for line in lines] == [c.call_id for c in calls]


def test_bad_lines_are_reported_and_the_rest_processed():
    good = [make_call("mental_health", local("2026-05-04T10:00")), make_call("burglary", local("2026-05-04T10:01"))]
    bad_call = json.loads(to_json_line(good[0]))
    bad_call["priority"] = 9
    bad_status = json.loads(to_json_line(make_status("CRT-1", "busy", local("2026-05-04T09:00"))))
    bad_status["status"] = "lunch"
    text = "\n".join(
        [
            to_json_line(good[0]),
            "{not json",
            json.dumps(bad_call),
            "",
            json.dumps(bad_status),
            '{"type": "Nope"}',
            to_json_line(good[1]),
        ]
    )
    lines, errors, stats = run_bytes(text.encode())
    assert [json.loads(line)["call_id"] for line in lines] == [c.call_id for c in good]
    assert stats.bad_lines == 4
    assert errors[0].startswith("in.jsonl:2: not valid JSON")
    assert errors[1] == "in.jsonl:3: field 'priority': Input should be less than or equal to 5"
    assert errors[2].startswith("in.jsonl:5: field 'status': Input should be 'available', 'busy' or 'out_of_service'")
    assert errors[3] == "in.jsonl:6: field 'type': unknown event type 'Nope'"


def test_other_event_types_are_counted_not_routed():
    call = make_call("mental_health", local("2026-05-04T10:00"))
    closed = {"type": "CallClosed", "event_id": "00000000-0000-4000-8000-000000000001", "call_id": call.call_id,
              "closed_at": "2026-05-04T11:00:00Z", "disposition": "done"}
    lines, errors, stats = run_bytes((to_json_line(call) + "\n" + json.dumps(closed) + "\n").encode())
    assert len(lines) == 1 and errors == []
    assert stats.ignored == Counter({"CallClosed": 1})


def test_invalid_utf8_is_a_line_error():
    call = make_call("mental_health", local("2026-05-04T10:00"))
    data = to_json_line(call).encode() + b"\n" + b'{"type": "\xff"}\n' + to_json_line(call).encode()
    lines, errors, _ = run_bytes(data)
    assert len(lines) == 2
    assert errors == ["in.jsonl:2: not valid UTF-8 text (invalid start byte)"]


def test_non_canonical_inputs_give_canonical_output():
    call = make_call("mental_health", local("2026-05-04T10:00"))
    obj = json.loads(to_json_line(call))
    variants = [
        {**obj, "received_at": "2026-05-04T10:00:00-04:00"},
        {**obj, "received_at": "2026-05-04T14:00:00.000Z"},
        {**obj, "received_at": "2026-05-04T14:00:00.123456Z"},
        {**obj, "event_id": obj["event_id"].upper()},
        {**obj, "event_id": obj["event_id"].replace("-", "")},
        {**obj, "call_id": "Zoë \u2028 \"quoted\""},
    ]
    lines, errors, _ = run_bytes("\n".join(json.dumps(v, ensure_ascii=False) for v in variants).encode())
    assert errors == []
    assert lines == [to_json_line(decide(POLICY, parse_line(json.dumps(v)), AvailabilityBook())) for v in variants]


def test_a_lone_surrogate_escape_is_refused_as_the_contract_refuses_it():
    obj = json.loads(to_json_line(make_call("mental_health", local("2026-05-04T10:00"))))
    line = json.dumps({**obj, "narrative": "\ud800"})
    assert "\\ud800" in line
    with pytest.raises(LineError) as refused:
        parse_line(line, source="in.jsonl", line=1)
    lines, errors, stats = run_bytes(line.encode())
    assert lines == [] and errors == [str(refused.value)] and stats.bad_lines == 1


def test_route_file_matches_route_bytes(tmp_path):
    path = tmp_path / "calls.jsonl"
    with path.open("w") as stream:
        write_synthetic(stream, 300, seed=3)
    out: list[str] = []
    stats = route_file(POLICY, path, write=out.append, report=pytest.fail)
    lines, _, _ = run_bytes(path.read_bytes())
    assert "".join(out).splitlines() == lines and stats.calls == 300


def test_route_file_reads_a_pipe(tmp_path):
    data = ("\n".join(synthetic_lines(50, seed=3)) + "\n").encode()
    fifo = tmp_path / "calls.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(data,))
    writer.start()
    try:
        out: list[str] = []
        stats = route_file(POLICY, fifo, write=out.append, report=pytest.fail)
    finally:
        writer.join(timeout=10)
    assert stats.calls == 50 and "".join(out).splitlines() == run_bytes(data)[0]


@pytest.mark.parametrize("model", ["911-led", "embedded-professional", "external-hotline"])
def test_synthetic_traffic_routes_like_decide(model):
    policy = load_reference_policy(model)
    events = list(synthetic_events(400, seed=11))
    lines, errors, stats = run_bytes(("\n".join(synthetic_lines(400, seed=11)) + "\n").encode(), policy)
    assert errors == [] and stats.calls == 400
    assert lines == expected(events, policy)


def test_parallel_workers_give_the_same_output(monkeypatch):
    monkeypatch.setattr(offline, "PARALLEL_MIN_BYTES", 0)
    data = ("\n".join(synthetic_lines(500, seed=5)) + "\n{oops\n").encode()
    serial = run_bytes(data, chunk_bytes=4096)
    parallel = run_bytes(data, jobs=2, chunk_bytes=4096)
    assert serial[0] == parallel[0] and serial[1] == parallel[1]
    assert len(serial[0]) == 500 and len(serial[1]) == 1


def test_scan_span_counts_lines_and_picks_possible_statuses():
    data = b'{"type":"CallReceived"}\n{"type":"UnitStatus","x":"\\u00e9"}\n\n"\\u0055nitStatus"'
    scan = offline.scan_span(data)
    assert scan.lines == 4
    assert scan.statuses == [(2, b'{"type":"UnitStatus","x":"\\u00e9"}'), (4, b'"\\u0055nitStatus"')]
    assert offline.scan_span(b"a\nb\n").lines == 2 and offline.scan_span(b"").lines == 0


@pytest.mark.parametrize("jobs", [1, 2])
def test_chunk_size_changes_nothing(monkeypatch, jobs):
    monkeypatch.setattr(offline, "PARALLEL_MIN_BYTES", 0)
    status = json.loads(to_json_line(make_status("CRT-1", "busy", local("2026-05-04T09:00"))))
    bad_status = {**status, "status": "lunch"}
    escaped = json.dumps({**status, "unit_id": "CRT-2"}).replace('"UnitStatus"', '"\\u0055nitStatus"')
    lines = list(synthetic_lines(300, seed=4))
    lines[40:40] = [json.dumps(bad_status), "{oops", escaped, ""]
    data = "\n".join(lines).encode()  # the last line has no newline
    whole = run_bytes(data)
    plain = sum('"UnitStatus"' in line for line in lines) - 1  # the bad one does not count
    assert whole[2].statuses == plain + 1  # the escaped one does
    assert whole[1][0].startswith("in.jsonl:41: field 'status'") and whole[1][1].startswith("in.jsonl:42:")
    assert len(whole[0]) == 300
    for chunk_bytes in (1, 7, 100, 4096):
        part = run_bytes(data, jobs=jobs, chunk_bytes=chunk_bytes)
        assert part[:2] == whole[:2] and part[2] == whole[2], chunk_bytes


def test_synthetic_is_deterministic_and_realistic():
    lines = list(synthetic_lines(3000, seed=9))
    assert lines == list(synthetic_lines(3000, seed=9))
    assert lines != list(synthetic_lines(3000, seed=10))
    events = [parse_line(line) for line in lines[:200]]
    assert [to_json_line(e) for e in events] == lines[:200]  # already in the contract's JSON form
    objs = [json.loads(line) for line in lines]
    calls = [o for o in objs if o["type"] == "CallReceived"]
    statuses = [o for o in objs if o["type"] == "UnitStatus"]
    assert len(calls) == 3000
    times = [datetime.fromisoformat(o.get("received_at") or o.get("occurred_at")) for o in objs]
    assert times == sorted(times)
    mix = Counter(c["call_type"] for c in calls)
    behavioural = sum(mix[t] for t in ("mental_health", "welfare_check", "intoxicated_person",
                                        "suicidal_ideation", "substance_use", "homelessness"))
    assert 0.15 < behavioural / 3000 < 0.25
    assert mix["fire"] > 0 and mix["medical"] > 0
    assert set(mix) <= {t for t, _ in CALL_MIX}
    hours = (len(calls) / 2400) * 24
    assert 1 <= len(statuses) / hours <= 10  # a few status changes an hour


def test_write_synthetic_counts_lines():
    stream = io.StringIO()
    assert write_synthetic(stream, 50, seed=1) == len(stream.getvalue().splitlines())


def _signal_dispositions() -> tuple[bool, bool]:
    return signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_pool_workers_die_on_term_whatever_handler_the_parent_has():
    # A handler like the test runner's own: with it, a worker could block forever when the pool ended.
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        with offline.worker_pool(1) as pool:
            assert pool.apply(_signal_dispositions) == (True, True)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _calls_with_updates(n: int, seed: int) -> tuple[list[str], list]:
    """Synthetic traffic with a weapon reported later for every fifth call (and one update before its call)."""
    from datetime import timedelta
    from uuid import UUID

    from dispatchbus.contract.events import CallUpdated, Screening

    events = list(synthetic_events(n, seed=seed))
    calls = [e for e in events if isinstance(e, CallReceived)]
    weapon = Screening(weapon_present=True, violence_in_progress=False, medical_emergency=False,
                       imminent_danger=False)
    updates = [
        CallUpdated(event_id=UUID(int=10_000 + i), call_id=call.call_id,
                    updated_at=call.received_at + timedelta(seconds=40), screening=weapon)
        for i, call in enumerate(calls[::5])
    ]
    early = CallUpdated(event_id=UUID(int=99_999), call_id=calls[-1].call_id, updated_at=calls[-1].received_at,
                        priority=1)  # listed before its call: the live worker keeps it off the route too
    return [to_json_line(e) for e in (early, *events, *updates)], [*events, *updates]


@pytest.mark.parametrize("jobs", [1, 2])
def test_new_facts_after_a_call_give_its_decision_chain_as_the_lifecycle_does(monkeypatch, jobs):
    from dispatchbus.lifecycle.transitions import Context, apply, decision_chain
    from dispatchbus.policy import AvailabilityBook

    monkeypatch.setattr(offline, "PARALLEL_MIN_BYTES", 0)
    policy = load_reference_policy("911-led")
    lines, events = _calls_with_updates(200, seed=3)
    out: list[str] = []
    stats = route_bytes(policy, ("\n".join(lines) + "\n").encode(), source="in.jsonl", write=out.append,
                        report=pytest.fail, jobs=jobs, chunk_bytes=2048, follow=decision_chain(policy))
    got = [line for chunk in out for line in chunk.splitlines()]
    # the same events through the live worker's transitions, one call at a time, in input order
    book = AvailabilityBook()
    for e in events:
        if isinstance(e, UnitStatus):
            book.record(e)
    ctx, timelines, want = Context(policy, book), {}, []
    by_call: dict[str, list[str]] = {}
    for e in events:
        if isinstance(e, UnitStatus):
            continue
        timelines[e.call_id], fx = apply(timelines.get(e.call_id), e, ctx)
        by_call.setdefault(e.call_id, []).extend(to_json_line(d) for d in fx.decisions)
    for e in events:
        if isinstance(e, CallReceived):
            want.extend(by_call[e.call_id])
    assert got == want
    assert stats.updates == len([e for e in events if type(e).__name__ == "CallUpdated"]) + 1
    assert any('"sequence":1' in line and "gate.weapon" in line for line in got)
    assert stats.calls == sum(isinstance(e, CallReceived) for e in events)


def test_without_follow_updates_are_ignored_and_each_call_gets_its_first_decision():
    policy = load_reference_policy("911-led")
    lines, events = _calls_with_updates(50, seed=3)
    out: list[str] = []
    stats = route_bytes(policy, ("\n".join(lines) + "\n").encode(), write=out.append, report=pytest.fail)
    assert [line for chunk in out for line in chunk.splitlines()] == expected(
        [e for e in events if isinstance(e, CallReceived | UnitStatus)], policy)
    assert stats.ignored["CallUpdated"] == len(events) - sum(isinstance(e, CallReceived | UnitStatus) for e in events) + 1
