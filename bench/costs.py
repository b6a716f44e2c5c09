"""The bus's own work on a new call, stage by stage, in process: no Kafka, no Faust, one thread.

Run as a child process by the benchmark (and alone)::

    python -m bench.costs [--calls N] [--json]

It takes the benchmark's calls through the worker's code for a new call, one
call after the other, and prints each stage's CPU time per call:

* decode: Avro body and validation into a ``CallReceived`` (``AvroSerde.decode``);
* route: the transition (policy, decision, handoff request, the new timeline);
* store: the timeline's changelog JSON (the table codec);
* encode: the decision and the handoff request to Avro.

What the worker adds in place (fetching, three produces, the table's
bookkeeping, metrics, the event loop) is not in these figures, so they are a
lower bound of its CPU per call. The policy and unit statuses are the ones
the benchmark's worker routes with.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from faust.serializers import codecs

from dispatchbus import catalogue
from dispatchbus.contract.serde import AvroSerde, ContractIds
from dispatchbus.lifecycle.transitions import Context, apply
from dispatchbus.policy.availability import AvailabilityBook
from dispatchbus.policy.reload import PolicyHolder
from dispatchbus.runtime import gc_tuning
from dispatchbus.runtime.tables import TIMELINE_CODEC
from dispatchbus.settings import Settings

from . import child_env, module_command
from .traffic import fresh_calls, unit_statuses

STAGES = ("decode", "route", "store", "encode")

WARMUP_CALLS = 500
"""Calls taken through every stage before timing (caches, first-use set-up)."""


@dataclass(frozen=True)
class CallCosts:
    """CPU microseconds per new call of each stage, over ``calls`` calls."""

    calls: int
    decode: float
    route: float
    store: float
    encode: float

    @property
    def total(self) -> float:
        return self.decode + self.route + self.store + self.encode

    def to_json(self) -> dict[str, float]:
        return asdict(self) | {"total": self.total}


def measure(calls: int, *, seed: int = 11) -> CallCosts:
    """Take ``calls`` fresh calls through the stages; CPU time of this thread per call, in microseconds."""
    settings = Settings()
    policy = PolicyHolder(settings.worker.policy_file, settings.worker.policy_model).current
    units = AvailabilityBook()
    for status in unit_statuses():
        units.record(status)
    ctx = Context(policy, units)
    serde = AvroSerde(ContractIds())
    codec = codecs.get_codec(TIMELINE_CODEC)
    source = catalogue.CAD_CALLS.name
    decisions, handoffs = catalogue.DECISIONS.name, catalogue.HANDOFF_RESPONDERS.name
    raw = [serde.encode(call, source) for call in fresh_calls(calls + WARMUP_CALLS, seed=seed, tag="C")]
    gc_tuning.install()  # as in the worker

    def run(records: list[bytes]) -> list[float]:
        # Call after call, as the worker goes: each stage finds the caches as the previous one left them.
        clock = time.thread_time
        spent = [0.0] * len(STAGES)
        kept: dict[str, object] = {}  # the worker's table holds every timeline, and its collector walks them
        for value in records:
            t0 = clock()
            event = serde.decode(value)
            t1 = clock()
            timeline, fx = apply(None, event, ctx)
            t2 = clock()
            kept[timeline.call_id] = timeline
            codec.dumps(timeline)
            t3 = clock()
            for decision in fx.decisions:
                serde.encode(decision, decisions)
            for request in fx.handoffs:
                serde.encode(request, handoffs)
            t4 = clock()
            spent[0] += t1 - t0
            spent[1] += t2 - t1
            spent[2] += t3 - t2
            spent[3] += t4 - t3
        return spent

    run(raw[:WARMUP_CALLS])
    gc.collect()
    seconds = run(raw[WARMUP_CALLS:])
    return CallCosts(calls, *(s / calls * 1e6 for s in seconds))


def measure_in_child(calls: int, timeout: float = 300.0) -> CallCosts:
    """:func:`measure` in a fresh interpreter (a process of its own, like the worker's)."""
    argv = module_command("bench.costs", "--calls", str(calls), "--json")
    done = subprocess.run(argv, env=child_env(os.environ), capture_output=True, text=True, timeout=timeout,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.costs exited with {done.returncode}: {done.stderr[-2000:]}")
    figures = json.loads(done.stdout)
    return CallCosts(figures["calls"], *(figures[stage] for stage in STAGES))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.costs", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls timed (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("--calls: must be at least 1")
    costs = measure(args.calls)
    if args.json:
        print(json.dumps(costs.to_json()))
    else:
        for stage in (*STAGES, "total"):
            print(f"{stage:8} {getattr(costs, stage):7.1f} us per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
