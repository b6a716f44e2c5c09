"""The simulators' runtime without Kafka: clock, ids, scheduler, names."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from .sim_helpers import request

from dispatchbus import catalogue
from dispatchbus.connectors.simulators import ConsoleSimulator, ManualClock, SimClock, load_config
from dispatchbus.connectors.simulators.run import build_simulators, parse_names
from dispatchbus.connectors.simulators.runtime import Emit, IdFactory, Runner
from dispatchbus.settings import Settings

T0 = datetime(2026, 5, 4, 16, tzinfo=timezone.utc)


def test_sim_clock_runs_speed_times_faster():
    real = [100.0]
    clock = SimClock(T0, speed=60, monotonic=lambda: real[0])
    assert clock.now() == T0
    real[0] += 1.5
    assert clock.now() == T0 + timedelta(seconds=90)
    assert clock.real_seconds(1200) == 20


def test_sim_clock_from_config_uses_start_time_and_speed():
    config = load_config().with_overrides(start_time="2026-05-04T21:30:00", speed=30)
    clock = SimClock.from_config(config)
    assert clock.speed == 30
    assert abs((clock.now() - datetime(2026, 5, 5, 1, 30, tzinfo=timezone.utc)).total_seconds()) < 60


def test_ids_are_deterministic_per_seed_and_simulator():
    a, b = IdFactory(1, "console"), IdFactory(1, "console")
    assert [a() for _ in range(3)] == [b() for _ in range(3)]
    assert IdFactory(1, "console")() != IdFactory(2, "console")()
    assert IdFactory(1, "console")() != IdFactory(1, "hotline")()
    ids = IdFactory(1, "x")
    assert len({ids() for _ in range(1000)}) == 1000


def test_runner_releases_emits_when_the_clock_reaches_them():
    clock = ManualClock(T0, speed=60)
    sim = ConsoleSimulator(load_config().with_overrides(console={"no_answer_probability": 0.0}))
    runner = Runner(sim, Settings(), clock)
    emits = sim.handle(request("embedded_professional"), clock.now())
    runner.schedule(emits, clock.now())
    assert runner.due(clock.now()) == []
    assert runner.wait_seconds(clock.now()) == pytest.approx(min(Runner.poll_interval, emits[0].delay / 60))
    released = runner.due(clock.advance(emits[0].delay))
    assert [e.event for e in released] == [emits[0].event]
    released = runner.due(clock.advance(emits[1].delay))
    assert [e.event for e in released] == [emits[1].event]
    assert runner.pending == 0


def test_runner_keeps_scheduling_order_for_equal_times():
    clock = ManualClock(T0)
    runner = Runner(ConsoleSimulator(load_config()), Settings(), clock)
    events = [request("embedded_professional", n=i) for i in range(5)]
    runner.schedule([Emit(10, e, catalogue.HANDOFF_EMBEDDED) for e in events], T0)
    assert [e.event for e in runner.due(T0 + timedelta(seconds=10))] == events


def test_simulator_names():
    assert parse_names(None) == ["cad", "console", "hotline", "responders"]
    assert parse_names("responders, cad") == ["cad", "responders"]
    with pytest.raises(ValueError, match="unknown simulator"):
        parse_names("cad,police")


def test_built_simulators_share_one_clock():
    sims = build_simulators(Settings(), load_config(), "console,hotline")
    assert [s.name for s in sims] == ["console", "hotline"]
    assert sims[0].clock is sims[1].clock


def test_a_stand_down_drops_what_was_planned_for_that_call_but_unit_statuses():
    from dispatchbus.connectors.simulators import ResponderSimulator

    clock = ManualClock(T0)
    sim = ResponderSimulator(load_config().with_overrides(responders={"no_answer_probability": 0.0}))
    runner = Runner(sim, Settings(), clock)
    emits = sim.handle(request("community_responder"), clock.now())
    runner.schedule(emits, clock.now())
    call_id = emits[0].event.call_id
    statuses = [e for e in emits if not hasattr(e.event, "call_id")]
    assert statuses and len(statuses) < len(emits)
    assert runner.stand_down(call_id) == len(emits) - len(statuses)
    assert runner.pending == len(statuses) and runner.stand_down("another call") == 0
