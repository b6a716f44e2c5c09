"""The 911 CAD simulator's pure core: call generation and its own police/EMS/fire dispatch."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from .sim_helpers import NY, ny, request, times

from dispatchbus import catalogue
from dispatchbus.connectors.simulators import CadSimulator, load_config
from dispatchbus.contract.events import (
    CallClosed,
    CallReceived,
    CallUpdated,
    DispatchAssigned,
    HandoffAccepted,
    HandoffDeclined,
    UnitCleared,
    UnitEnRoute,
    UnitOnScene,
    UnitStatus,
)

# chi-square critical values at p = 0.001
CHI2_999 = {23: 49.73}


def chi2_critical(df: int) -> float:
    """Wilson-Hilferty approximation of the 99.9th percentile of chi-square with ``df`` degrees."""
    return CHI2_999.get(df) or df * (1 - 2 / (9 * df) + 3.090 * (2 / (9 * df)) ** 0.5) ** 3


def chi2(observed: Counter, expected: dict) -> tuple[float, int]:
    stat = sum((observed.get(k, 0) - e) ** 2 / e for k, e in expected.items() if e > 0)
    return stat, sum(1 for e in expected.values() if e > 0) - 1


def test_start_announces_the_community_units():
    cad = CadSimulator(load_config())
    now = datetime(2026, 5, 4, 12, tzinfo=timezone.utc)
    emits = cad.start(now)
    assert all(e.topic is catalogue.UNIT_STATUS and e.delay == 0 for e in emits)
    assert [(e.event.unit_id, e.event.team, e.event.status) for e in emits] == [
        ("MRU-1", "MRU", "available"),
        ("CRT-1", "CRT", "available"),
        ("CRT-2", "CRT", "available"),
    ]
    assert all(isinstance(e.event, UnitStatus) and e.event.agency_type == "community_responder" for e in emits)


def test_arrivals_follow_the_hourly_volume_curve():
    config = load_config()
    cad = CadSimulator(config)
    start = ny(2026, 5, 4, 0)
    end = start + timedelta(days=28)
    hours: Counter = Counter()
    t = cad.next_arrival(start)
    while t < end:
        hours[t.astimezone(NY).hour] += 1
        t = cad.next_arrival(t)
    total_weight = sum(config.cad.hourly_volume)
    expected = {h: config.cad.calls_per_day * 28 * w / total_weight for h, w in enumerate(config.cad.hourly_volume)}
    stat, df = chi2(hours, expected)
    assert stat < chi2_critical(df), (stat, hours)
    assert sum(hours.values()) == pytest.approx(config.cad.calls_per_day * 28, rel=0.05)
    # the curve is visible: the early-evening peak sees about three times the pre-dawn trough
    assert hours[18] > 2.5 * hours[4]


@pytest.mark.parametrize("hour", [3, 10, 18])
def test_call_mix_follows_the_weights_of_the_local_hour(hour):
    config = load_config()
    cad = CadSimulator(config)
    when = ny(2026, 5, 4, hour, 30)
    n = 20000
    observed = Counter(cad.make_call(when).call_type for _ in range(n))
    weights = config.cad.call_mix.for_hour(hour)
    total = sum(weights.values())
    expected = {k: n * w / total for k, w in weights.items()}
    stat, df = chi2(observed, expected)
    assert stat < chi2_critical(df), (stat, observed)
    assert set(observed) <= {k for k, w in weights.items() if w > 0}


def test_hour_bands_shift_the_mix():
    cad = CadSimulator(load_config())
    night = Counter(cad.make_call(ny(2026, 5, 4, 1)).call_type for _ in range(10000))
    day = Counter(cad.make_call(ny(2026, 5, 4, 11)).call_type for _ in range(10000))
    assert night["noise_complaint"] > 3 * day["noise_complaint"]
    assert day["youth_truancy"] > 5 * night["youth_truancy"]


def test_the_mix_follows_local_time_across_daylight_saving():
    config = load_config()
    cad = CadSimulator(config)
    # 12:30 UTC is 07:30 in New York in January (EST), before the truancy band,
    # and 08:30 in July (EDT), inside it
    winter = datetime(2026, 1, 15, 12, 30, tzinfo=timezone.utc)
    summer = datetime(2026, 7, 15, 12, 30, tzinfo=timezone.utc)
    assert (winter.astimezone(NY).hour, summer.astimezone(NY).hour) == (7, 8)
    assert config.cad.call_mix.for_hour(8)["youth_truancy"] == pytest.approx(2.5 * config.cad.call_mix.for_hour(7)["youth_truancy"])
    n = 10000
    in_winter = Counter(cad.make_call(winter).call_type for _ in range(n))["youth_truancy"]
    in_summer = Counter(cad.make_call(summer).call_type for _ in range(n))["youth_truancy"]
    assert in_summer > 1.7 * in_winter


def test_screening_is_consistent_with_the_call_type():
    cad = CadSimulator(load_config())
    calls = [cad.make_call(ny(2026, 5, 4, 14)) for _ in range(20000)]
    by_type: dict[str, list[CallReceived]] = {}
    for call in calls:
        by_type.setdefault(call.call_type, []).append(call)
    medical = by_type["medical"]
    assert sum(c.screening.medical_emergency for c in medical) / len(medical) > 0.9
    assert not any(c.screening.weapon_present for c in by_type["noise_complaint"] + by_type["alarm"])
    assert all(c.priority == 1 for c in by_type["shots_fired"])
    for call in calls:
        s = call.screening
        if s.weapon_present or s.violence_in_progress or s.medical_emergency or s.imminent_danger:
            assert call.priority <= 2


def test_calls_are_well_formed_and_synthetic():
    config = load_config()
    cad = CadSimulator(config)
    zones = {z.name: z for z in config.cad.zones}
    calls = [cad.make_call(ny(2026, 5, 4, 14)) for _ in range(500)]
    assert len({c.call_id for c in calls}) == len(calls)
    assert len({c.event_id for c in calls}) == len(calls)
    for call in calls:
        assert call.psap_id == "PSAP-SIM-01"
        assert call.correlation_id == call.call_id
        assert call.narrative.startswith("SYNTHETIC TEST DATA")
        zone = zones[call.location.zone]
        assert abs(call.location.lat - zone.lat) < zone.radius_km / 111 + 1e-4


def test_a_seeded_run_is_repeatable():
    def run(seed: int) -> list:
        cad = CadSimulator(load_config().with_overrides(seed=seed))
        start = datetime(2026, 5, 4, 12, tzinfo=timezone.utc)
        emits = cad.start(start)
        for minute in range(1, 241):
            emits += cad.tick(start + timedelta(minutes=minute))
        return [e.event for e in emits]

    first, again, other = run(1), run(1), run(2)
    assert first == again
    assert [e.event_id for e in first] != [e.event_id for e in other]
    assert sum(isinstance(e, CallReceived) for e in first) == pytest.approx(480 / 24 * 4 * 1.2, rel=0.5)


def test_tick_emits_calls_once_in_time_order_and_updates_later():
    cad = CadSimulator(load_config().with_overrides(cad={"update_probability": 1.0}))
    start = datetime(2026, 5, 4, 12, tzinfo=timezone.utc)
    cad.start(start)
    received, updates = [], []
    for second in range(0, 4 * 3600, 20):
        now = start + timedelta(seconds=second)
        for emit in cad.tick(now):
            assert emit.topic is catalogue.CAD_CALLS
            if isinstance(emit.event, CallReceived):
                assert emit.event.received_at <= now and emit.delay == 0
                received.append(emit.event)
            else:
                assert isinstance(emit.event, CallUpdated)
                assert emit.event.updated_at >= now - timedelta(seconds=20)
                updates.append(emit.event)
    assert times_sorted([c.received_at for c in received])
    originals = {c.call_id: c for c in received}
    assert updates and all(u.call_id in originals for u in updates)
    for update in updates:
        call = originals[update.call_id]
        assert update.updated_at > call.received_at
        assert update.causation_id == call.event_id
        assert update.priority <= 2
        assert sum(vars(update.screening).values()) == sum(vars(call.screening).values()) + 1


def times_sorted(values) -> bool:
    return all(a <= b for a, b in zip(values, values[1:]))


def test_police_dispatch_timeline_and_call_closing():
    cad = CadSimulator(load_config())
    req = request("police", call_type="assault")
    now = req.requested_at
    emits = cad.handle(req, now)
    kinds = [type(e.event) for e in emits]
    assert kinds == [HandoffAccepted, DispatchAssigned, UnitEnRoute, UnitOnScene, UnitCleared]
    assert [e.topic for e in emits] == [catalogue.HANDOFF_REPLIES] + [catalogue.RESPONDER_ACTIVITY] * 4
    accepted, assigned, *_, cleared = (e.event for e in emits)
    assert accepted.handoff_id == req.event_id == accepted.causation_id
    assert accepted.agency == "police"
    assert assigned.agency_type == "police" and assigned.unit_id.startswith("P-") and assigned.team == "PD"
    assert all(e.event.call_id == req.call_id for e in emits)
    assert times_sorted(times(emits)) and times(emits)[0] >= now
    for emit in emits:
        assert emit.delay == pytest.approx((emit.event.event_time - now).total_seconds(), abs=0.001)
    # the CAD closes the call after the unit clears
    assert not [e for e in cad.tick(cleared.cleared_at) if isinstance(e.event, CallClosed)]
    closed = [e.event for e in cad.tick(cleared.cleared_at + timedelta(minutes=5)) if isinstance(e.event, CallClosed)]
    assert len(closed) == 1 and closed[0].call_id == req.call_id
    assert closed[0].disposition == cleared.outcome.category
    assert cad.calls_pending_close == 0


@pytest.mark.parametrize("agency, prefix", [("ems", "M-"), ("fire", "E-")])
def test_ems_and_fire(agency, prefix):
    cad = CadSimulator(load_config())
    emits = cad.handle(request(agency, call_type="medical"), datetime(2026, 5, 4, 16, tzinfo=timezone.utc))
    assigned = emits[1].event
    assert isinstance(assigned, DispatchAssigned)
    assert assigned.agency_type == agency and assigned.unit_id.startswith(prefix)


def test_a_busy_pool_makes_the_next_request_wait():
    config = load_config().with_overrides(cad={"dispatch": {"police": {"units": 1}}})
    cad = CadSimulator(config)
    first = cad.handle(request("police", n=1), datetime(2026, 5, 4, 16, tzinfo=timezone.utc))
    second = cad.handle(request("police", n=2), datetime(2026, 5, 4, 16, 1, tzinfo=timezone.utc))
    first_cleared = first[-1].event.cleared_at
    assert second[1].event.unit_id == first[1].event.unit_id == "P-1"
    assert second[1].event.assigned_at >= first_cleared


def test_a_request_for_another_agency_is_declined():
    cad = CadSimulator(load_config())
    emits = cad.handle(request("community_responder"), datetime(2026, 5, 4, 16, tzinfo=timezone.utc))
    assert len(emits) == 1
    assert isinstance(emits[0].event, HandoffDeclined) and emits[0].event.reason == "out_of_scope"
