"""The community responder teams simulator: the unit timeline and unit availability."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from .sim_helpers import request, times

from dispatchbus import catalogue
from dispatchbus.connectors.simulators import ResponderSimulator, load_config
from dispatchbus.contract.events import (
    DispatchAssigned,
    HandoffAccepted,
    HandoffDeclined,
    UnitCleared,
    UnitEnRoute,
    UnitOnScene,
    UnitStatus,
)

T0 = datetime(2026, 5, 4, 16, tzinfo=timezone.utc)
TIMELINE = [HandoffAccepted, UnitStatus, DispatchAssigned, UnitEnRoute, UnitOnScene, UnitCleared, UnitStatus]


def responders(**changes) -> ResponderSimulator:
    return ResponderSimulator(load_config().with_overrides(responders={"no_answer_probability": 0.0, **changes}))


@pytest.mark.parametrize("seed", range(5))
def test_full_timeline_in_order_with_non_decreasing_times(seed):
    sim = ResponderSimulator(load_config().with_overrides(seed=seed, responders={"no_answer_probability": 0.0}))
    req = request("community_responder", team="CRT")
    emits = sim.handle(req, T0)
    assert [type(e.event) for e in emits] == TIMELINE
    assert [e.topic for e in emits] == [
        catalogue.HANDOFF_REPLIES,
        catalogue.UNIT_STATUS,
        *[catalogue.RESPONDER_ACTIVITY] * 4,
        catalogue.UNIT_STATUS,
    ]
    stamps = times(emits)
    assert stamps[0] >= req.requested_at
    assert all(a <= b for a, b in zip(stamps, stamps[1:]))
    delays = [e.delay for e in emits]
    assert all(a <= b for a, b in zip(delays, delays[1:]))

    accepted, busy, assigned, en_route, on_scene, cleared, available = (e.event for e in emits)
    assert accepted.handoff_id == req.event_id == accepted.causation_id
    assert accepted.agency == "community_responder"
    unit = assigned.unit_id
    assert unit in {"CRT-1", "CRT-2"} and assigned.team == "CRT"
    assert assigned.agency_type == "community_responder"
    assert (busy.unit_id, busy.status, busy.team) == (unit, "busy", "CRT")
    assert (available.unit_id, available.status) == (unit, "available")
    assert busy.occurred_at == assigned.assigned_at and available.occurred_at == cleared.cleared_at
    assert {e.unit_id for e in (en_route, on_scene, cleared)} == {unit}
    assert {e.event.call_id for e in emits if hasattr(e.event, "call_id")} == {req.call_id}
    # each activity event is caused by the one before it
    assert assigned.causation_id == req.event_id
    assert en_route.causation_id == assigned.event_id
    assert on_scene.causation_id == en_route.event_id
    assert cleared.causation_id == on_scene.event_id


def test_a_busy_team_declines_for_capacity_until_its_unit_clears():
    sim = responders()
    first = sim.handle(request("community_responder", team="MRU", n=1), T0)
    assert first[2].event.unit_id == "MRU-1"
    cleared_at = first[5].event.cleared_at
    second = sim.handle(request("community_responder", team="MRU", n=2), T0 + timedelta(minutes=1))
    assert len(second) == 1 and isinstance(second[0].event, HandoffDeclined)
    assert second[0].event.reason == "no_capacity"
    third = sim.handle(request("community_responder", team="MRU", n=3), cleared_at)
    assert isinstance(third[0].event, HandoffAccepted) and third[2].event.unit_id == "MRU-1"


def test_units_of_a_team_are_used_in_turn():
    sim = responders()
    units = [sim.handle(request("community_responder", team="CRT", n=i), T0)[2].event.unit_id for i in range(2)]
    assert units == ["CRT-1", "CRT-2"]
    third = sim.handle(request("community_responder", team="CRT", n=3), T0)
    assert third[0].event.reason == "no_capacity"


def test_no_team_means_any_free_unit():
    sim = responders()
    units = [sim.handle(request("community_responder", n=i), T0)[2].event.unit_id for i in range(3)]
    assert sorted(units) == ["CRT-1", "CRT-2", "MRU-1"]


def test_unknown_team_or_agency_is_out_of_scope():
    sim = responders()
    for req in (request("community_responder", team="K9"), request("police")):
        emits = sim.handle(req, T0)
        assert len(emits) == 1 and emits[0].event.reason == "out_of_scope"


def test_police_backup_outcome():
    sim = responders(police_backup_probability=1.0)
    cleared = sim.handle(request("community_responder", team="CRT"), T0)[5].event
    assert cleared.outcome.police_backup_requested is True
    assert cleared.outcome.category == "police_backup_requested"


def test_outcomes_follow_the_configured_weights():
    config = load_config()
    sim = ResponderSimulator(config.with_overrides(responders={"no_answer_probability": 0.0}))
    n = 4000
    outcomes = []
    for i in range(n):
        emits = sim.handle(request("community_responder", n=i), T0 + timedelta(days=i))
        outcomes.append(emits[5].event.outcome)
    weights = config.responders.outcomes
    total = sum(weights.values())
    for category, weight in weights.items():
        share = sum(o.category == category for o in outcomes) / n
        assert share == pytest.approx(weight / total, abs=0.03), category
    assert sum(o.police_backup_requested for o in outcomes) / n < 0.02


def test_start_announces_units_only_when_asked():
    assert responders().start(T0) == []
    emits = responders(announce_on_start=True).start(T0)
    assert [(e.event.unit_id, e.event.status) for e in emits] == [
        ("MRU-1", "available"), ("CRT-1", "available"), ("CRT-2", "available"),
    ]
