"""The embedded clinicians' console simulator."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from .sim_helpers import request

from dispatchbus import catalogue
from dispatchbus.connectors.simulators import ConsoleSimulator, load_config
from dispatchbus.contract.events import ConsultResult, HandoffAccepted, HandoffDeclined

T0 = datetime(2026, 5, 4, 16, tzinfo=timezone.utc)


def answered_config(**console):
    return load_config().with_overrides(console={"no_answer_probability": 0.0, **console})


def test_accepts_then_reports_a_result():
    console = ConsoleSimulator(answered_config())
    req = request("embedded_professional")
    emits = console.handle(req, T0)
    assert [type(e.event) for e in emits] == [HandoffAccepted, ConsultResult]
    assert all(e.topic is catalogue.HANDOFF_REPLIES for e in emits)
    accepted, result = emits[0].event, emits[1].event
    for event in (accepted, result):
        assert event.handoff_id == req.event_id == event.causation_id
        assert event.call_id == req.call_id == event.correlation_id
        assert event.agency == "embedded_professional"
    assert T0 < accepted.accepted_at <= result.completed_at
    assert 0 < emits[0].delay <= emits[1].delay
    assert emits[1].delay == pytest.approx((result.completed_at - T0).total_seconds(), abs=0.001)


def _results(seed: int, n: int = 3000) -> list[str | None]:
    console = ConsoleSimulator(load_config().with_overrides(seed=seed, console={"clinicians": 1000}))
    out = []
    for i in range(n):
        emits = console.handle(request("embedded_professional", n=i), T0 + timedelta(seconds=i))
        out.append(emits[-1].event.result if emits else None)
    return out


def test_the_seeded_result_distribution_is_reproducible():
    config = load_config()
    first, again, other = _results(11), _results(11), _results(12)
    assert first == again
    assert first != other
    counts = Counter(first)
    n = len(first)
    p_none = config.console.no_answer_probability
    assert counts[None] / n == pytest.approx(p_none, abs=0.015)
    answered = n - counts[None]
    p_phone = config.console.consult.resolved_by_phone
    assert counts["resolved_by_phone"] / answered == pytest.approx(p_phone, abs=0.035)
    others = config.console.consult.otherwise
    total = sum(others.values())
    for result, weight in others.items():
        share = (1 - p_phone) * weight / total
        assert counts[result] / answered == pytest.approx(share, abs=0.03), result


def test_some_requests_are_never_answered():
    console = ConsoleSimulator(load_config().with_overrides(console={"no_answer_probability": 1.0}))
    assert console.handle(request("embedded_professional"), T0) == []


def test_busy_clinicians_make_requests_wait():
    console = ConsoleSimulator(answered_config(clinicians=1, accept_delay=30, consult_duration=600))
    first = console.handle(request("embedded_professional", n=1), T0)
    second = console.handle(request("embedded_professional", n=2), T0 + timedelta(seconds=10))
    assert first[0].event.accepted_at == T0 + timedelta(seconds=30)
    assert second[0].event.accepted_at == first[1].event.completed_at
    two = ConsoleSimulator(answered_config(clinicians=2, accept_delay=30, consult_duration=600))
    two.handle(request("embedded_professional", n=1), T0)
    parallel = two.handle(request("embedded_professional", n=2), T0 + timedelta(seconds=10))
    assert parallel[0].event.accepted_at == T0 + timedelta(seconds=40)


def test_replies_never_precede_the_request():
    console = ConsoleSimulator(answered_config(accept_delay=5))
    later = T0 + timedelta(hours=3)
    emits = console.handle(request("embedded_professional", when=later), T0)
    assert emits[0].event.accepted_at == later + timedelta(seconds=5)
    assert emits[0].delay == pytest.approx(5)


def test_a_request_for_another_agency_is_declined():
    console = ConsoleSimulator(answered_config())
    emits = console.handle(request("external_hotline"), T0)
    assert len(emits) == 1 and isinstance(emits[0].event, HandoffDeclined)
    assert emits[0].event.reason == "out_of_scope"


def test_other_events_are_ignored():
    console = ConsoleSimulator(answered_config())
    accepted = console.handle(request("embedded_professional"), T0)[0].event
    assert console.handle(accepted, T0) == []
