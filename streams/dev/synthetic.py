"""Seeded, deterministic synthetic 911 traffic: calls plus responder unit statuses.

The call-type mix is loosely modelled on US call-center data: about 20 %
behavioural health, some fire and medical, mostly police-type calls. Calls
arrive as a Poisson process following a daily curve; each community responder
unit changes status a few times an hour. Used by tests and the offline routing
benchmark::

    python -m dispatchbus.dev.synthetic 1000000 --seed 7 > calls.jsonl
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import IO
from uuid import UUID

from dispatchbus.contract.events import CallReceived, UnitStatus
from dispatchbus.contract.jsonlines import parse_event

from ..policy.availability import from_epoch_ms, to_epoch_ms

DEFAULT_START = datetime(2026, 1, 5, 5, 0, tzinfo=timezone.utc)
"""Monday 2026-01-05 00:00 in New York; a million calls then span both 2026 DST changes."""

CALL_MIX: tuple[tuple[str, float], ...] = (
    # behavioural health, 20 %
    ("mental_health", 6.0),
    ("welfare_check", 5.0),
    ("intoxicated_person", 3.0),
    ("suicidal_ideation", 2.0),
    ("substance_use", 2.0),
    ("homelessness", 2.0),
    # other calls a community responder may take, 10 %
    ("disturbance", 4.0),
    ("noise_complaint", 3.0),
    ("neighbor_dispute", 1.5),
    ("trespass", 1.0),
    ("youth_truancy", 0.5),
    # fire and medical, 15.5 %
    ("medical", 11.0),
    ("fire", 3.0),
    ("overdose", 1.5),
    # police-type, 54.5 %
    ("traffic_accident", 8.0),
    ("theft", 7.0),
    ("suspicious_person", 6.0),
    ("alarm", 6.0),
    ("assault", 5.0),
    ("domestic_violence", 4.0),
    ("burglary", 4.0),
    ("vandalism", 3.0),
    ("traffic_hazard", 3.0),
    ("vehicle_theft", 2.0),
    ("fraud", 2.0),
    ("robbery", 1.5),
    ("shots_fired", 1.0),
    ("missing_person", 1.0),
    ("parking_complaint", 1.0),
)
"""(call type, share in percent)."""

UNITS: tuple[tuple[str, str], ...] = (("MRU-1", "MRU"), ("CRT-1", "CRT"), ("CRT-2", "CRT"))
"""(unit id, team) of the reference policy's community responder units."""

# Relative call volume by local hour of day (New York, UTC-5 approximated).
_HOURLY = (0.55, 0.45, 0.38, 0.32, 0.3, 0.35, 0.5, 0.75, 0.95, 1.05, 1.1, 1.15,
           1.2, 1.2, 1.2, 1.25, 1.35, 1.4, 1.35, 1.25, 1.15, 1.0, 0.85, 0.7)
_HOURLY_MEAN = sum(_HOURLY) / 24

# Probability of each screening flag, per call type (default: the "*" row).
_FLAGS: dict[str, tuple[float, float, float, float]] = {
    #                    weapon, violence, medical, danger
    "*": (0.01, 0.005, 0.01, 0.01),
    "assault": (0.15, 0.30, 0.10, 0.05),
    "domestic_violence": (0.10, 0.35, 0.05, 0.15),
    "robbery": (0.35, 0.10, 0.02, 0.10),
    "shots_fired": (0.90, 0.20, 0.10, 0.30),
    "disturbance": (0.04, 0.08, 0.01, 0.02),
    "neighbor_dispute": (0.02, 0.03, 0.005, 0.01),
    "medical": (0.0, 0.0, 0.70, 0.0),
    "overdose": (0.0, 0.0, 0.80, 0.02),
    "traffic_accident": (0.0, 0.0, 0.25, 0.02),
    "suicidal_ideation": (0.05, 0.0, 0.10, 0.15),
    "mental_health": (0.02, 0.01, 0.02, 0.03),
    "intoxicated_person": (0.01, 0.02, 0.05, 0.01),
}

_PRIORITY = {
    "fire": 1, "medical": 1, "overdose": 1, "shots_fired": 1, "robbery": 1,
    "assault": 2, "domestic_violence": 2, "suicidal_ideation": 2, "missing_person": 2,
    "traffic_accident": 2, "burglary": 3, "mental_health": 3, "welfare_check": 3,
    "disturbance": 3, "noise_complaint": 5, "parking_complaint": 5, "youth_truancy": 4,
    "homelessness": 4, "fraud": 4, "vandalism": 4, "trespass": 4,
}

_NARRATIVES = (
    "caller reports the situation is ongoing",
    "caller is a neighbour, not directly involved",
    "repeat caller for this address",
    "caller asks for someone to check on a relative",
    "caller unsure whether anyone is hurt",
    "caller will wait outside",
)

_CENTER = (40.7306, -73.9866)


def _iso(epoch_ms: int) -> str:
    moment = from_epoch_ms(epoch_ms)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if epoch_ms % 1000:
        text += f".{epoch_ms % 1000:03d}"
    return text + "Z"


def _uuid(rng: random.Random) -> str:
    return str(UUID(int=rng.getrandbits(128), version=4))


def _unit_statuses(rng: random.Random, start_ms: int) -> Iterator[tuple[int, int, dict]]:
    """(time, tiebreak, event object) for every unit, merged in time order, forever."""
    heap: list[tuple[int, int, str, str, str]] = []
    for order, (unit, team) in enumerate(UNITS):
        heapq.heappush(heap, (start_ms + order, order, unit, team, "available"))
    while True:
        at, order, unit, team, status = heapq.heappop(heap)
        yield at, order, {
            "type": "UnitStatus",
            "event_id": _uuid(rng),
            "correlation_id": None,
            "causation_id": None,
            "unit_id": unit,
            "team": team,
            "agency_type": "community_responder",
            "status": status,
            "occurred_at": _iso(at),
        }
        if status == "available":
            minutes = rng.expovariate(1 / 35)
            following = "out_of_service" if rng.random() < 0.06 else "busy"
        elif status == "busy":
            minutes = rng.uniform(15, 80)
            following = "available"
        else:
            minutes = rng.uniform(20, 120)
            following = "available"
        next_at = at + max(60_000, int(minutes * 60_000))
        heapq.heappush(heap, (next_at, order, unit, team, following))


def _calls(rng: random.Random, start_ms: int, calls_per_day: float) -> Iterator[tuple[int, dict]]:
    types = [t for t, _ in CALL_MIX]
    cumulative: list[float] = []
    total = 0.0
    for _, share in CALL_MIX:
        total += share
        cumulative.append(total)
    base_rate = calls_per_day / 86_400_000 / _HOURLY_MEAN  # per ms at weight 1
    peak = max(_HOURLY)
    at = start_ms
    number = 0
    while True:
        # Thinning: draw at the peak rate, keep with probability weight/peak.
        at += max(1, int(rng.expovariate(base_rate * peak)))
        local_hour = ((at // 3_600_000) - 5) % 24
        if rng.random() * peak > _HOURLY[local_hour]:
            continue
        number += 1
        call_type = rng.choices(types, cum_weights=cumulative)[0]
        p_weapon, p_violence, p_medical, p_danger = _FLAGS.get(call_type, _FLAGS["*"])
        screening = {
            "weapon_present": rng.random() < p_weapon,
            "violence_in_progress": rng.random() < p_violence,
            "medical_emergency": rng.random() < p_medical,
            "imminent_danger": rng.random() < p_danger,
        }
        priority = _PRIORITY.get(call_type, 3)
        if any(screening.values()):
            priority = min(priority, 2)
        lat = round(_CENTER[0] + rng.uniform(-0.1, 0.1), 5)
        lon = round(_CENTER[1] + rng.uniform(-0.1, 0.1), 5)
        zone = f"Z{int((lat - _CENTER[0] + 0.1) * 20) * 4 + int((lon - _CENTER[1] + 0.1) * 20) + 1:02d}"
        call_id = f"C-{number:08d}"
        yield at, {
            "type": "CallReceived",
            "event_id": _uuid(rng),
            "correlation_id": call_id,
            "causation_id": None,
            "call_id": call_id,
            "psap_id": "PSAP-1" if rng.random() < 0.7 else "PSAP-2",
            "received_at": _iso(at),
            "call_type": call_type,
            "screening": screening,
            "location": {"lat": lat, "lon": lon, "zone": zone},
            "priority": priority,
            "narrative": rng.choice(_NARRATIVES) if rng.random() < 0.7 else None,
            "call_taker_id": None,  # the contract's JSON form names every field
        }


def synthetic_objects(
    n_calls: int,
    *,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    calls_per_day: float = 2400.0,
) -> Iterator[dict]:
    """``n_calls`` calls and the unit statuses up to the last one, as contract JSON objects in time order."""
    rng = random.Random(seed)
    unit_rng = random.Random(seed * 7919 + 1)
    start_ms = to_epoch_ms(start)
    statuses = _unit_statuses(unit_rng, start_ms)
    next_status = next(statuses)
    for count, (at, call) in enumerate(_calls(rng, start_ms, calls_per_day)):
        if count >= n_calls:
            return
        while next_status[0] <= at:
            yield next_status[2]
            next_status = next(statuses)
        yield call


def synthetic_lines(n_calls: int, **options: object) -> Iterator[str]:
    """The same traffic as JSON lines (no trailing newline), identical to the contract's JSON-lines form."""
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    for obj in synthetic_objects(n_calls, **options):  # type: ignore[arg-type]
        yield dumps(obj)


def synthetic_events(n_calls: int, **options: object) -> Iterator[CallReceived | UnitStatus]:
    """The same traffic as validated contract events."""
    for obj in synthetic_objects(n_calls, **options):  # type: ignore[arg-type]
        yield parse_event(obj)  # type: ignore[misc]


def write_synthetic(stream: IO[str], n_calls: int, **options: object) -> int:
    """Write the traffic as JSON lines to ``stream``; returns the number of lines."""
    count = 0
    batch: list[str] = []
    for line in synthetic_lines(n_calls, **options):
        batch.append(line)
        if len(batch) >= 4096:
            stream.write("\n".join(batch) + "\n")
            count += len(batch)
            batch.clear()
    if batch:
        stream.write("\n".join(batch) + "\n")
        count += len(batch)
    return count


def main(argv: list[str] | None = None) -> int:
    """``python -m dispatchbus.dev.synthetic N [--seed S] [--calls-per-day R] [-o FILE]``."""
    parser = argparse.ArgumentParser(description="Write synthetic calls and unit statuses as JSON lines.")
    parser.add_argument("calls", type=int, help="number of calls")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calls-per-day", type=float, default=2400.0)
    parser.add_argument("-o", "--output", help="output file (default: stdout)")
    args = parser.parse_args(argv)
    options = {"seed": args.seed, "calls_per_day": args.calls_per_day}
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            write_synthetic(out, args.calls, **options)
    else:
        write_synthetic(sys.stdout, args.calls, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
