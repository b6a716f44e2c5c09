"""`python -m bench`: the bus against a raw Kafka pass-through and a bare Faust agent, in one run.

Everything runs on one embedded broker (or ``--bootstrap``): for each
repetition the raw pass-through, the bare Faust agent and the routing worker
are measured one after the other on fresh topics with the catalogue's
partition counts; then pairs of drains (bare Faust and the worker) and pairs
of latency phases (the raw pass-through and the worker) run back to back for
the targets' ratios, and `dispatchbus route` is timed offline. Figures are
printed as median [min–max] over the repetitions, with the targets and
whether this run met them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from .costs import STAGES, CallCosts, measure_in_child
from .measure import Spread, machine, median_interval, versions
from .offline import OfflineRun, generate, route_once
from .stages import (
    KINDS, TITLES, Drain, LoadRun, Phases, PipelineRun, drain_only, fresh_run_tag, latency_only, run_pipeline,
)


@dataclass(frozen=True)
class Plan:
    """Sizes of a benchmark run."""

    name: str
    repetitions: int
    phases: Phases
    offline_calls: int
    cost_calls: int
    """Calls taken through the bus's stages in process (:mod:`bench.costs`) per repetition."""
    pairs: int
    """Back-to-back drains of bare Faust and the worker (alternating which goes first) for the throughput ratio."""
    latency_pairs: int
    """Back-to-back offered loads to a fresh raw pass-through and a fresh worker (alternating) for the p99 ratio."""


PLANS = {
    "full": Plan(
        "full", 3,
        Phases({"raw": 60_000, "faust": 30_000, "worker": 15_000}, rate=1000, latency_seconds=15, warmup_seconds=2,
               low_rate=500, low_seconds=10, reply_calls=5_000),
        1_000_000, 20_000, 12, 10,
    ),
    "quick": Plan(
        "quick", 3,
        Phases({"raw": 20_000, "faust": 10_000, "worker": 6_000}, rate=1000, latency_seconds=6, warmup_seconds=1,
               low_rate=500, low_seconds=4, reply_calls=2_000, warm_calls=500),
        200_000, 10_000, 4, 4,
    ),
    "smoke": Plan(
        "smoke", 1,
        Phases({"raw": 300, "faust": 300, "worker": 300}, rate=1000, latency_seconds=1.5, warmup_seconds=0.25,
               low_rate=200, low_seconds=1, idle_seconds=0.5, reply_calls=100, warm_calls=100),
        3_000, 300, 1, 1,
    ),
}
"""Sizes: the whole full run takes about 22 minutes on 2 cores, quick about 8, smoke about one.

Twelve pairs of drains, because one pair's ratio moves with the host by up to
2 x: the median of six landed 0.74 and 0.92 in two runs of the same code, and
twelve give a 95 % interval of the median
(:func:`bench.measure.median_interval`). Ten latency pairs (the
second smallest and largest ratio bracket the median at 98 %): the p99 ratio
of three repetitions spread from 1.60 to 4.35 in one run.
"""

TARGETS = {
    "worker_vs_faust_throughput": 0.80,
    "worker_vs_raw_p99": 2.0,
    "offline_events_per_s": 50_000,
}


@dataclass
class Results:
    """Everything one benchmark run measured."""

    plan: Plan
    command: str
    machine: dict[str, Any]
    versions: dict[str, str]
    broker: str
    pipelines: dict[str, list[PipelineRun]]
    offline: list[OfflineRun]
    costs: list[CallCosts] = field(default_factory=list)
    pairs: list[dict[str, Drain]] = field(default_factory=list)
    latency_pairs: list[dict[str, LoadRun]] = field(default_factory=list)
    seconds: float = math.nan

    # -- derived figures ------------------------------------------------------

    def spread(self, kind: str, figure: Callable[[PipelineRun], float]) -> Spread:
        return Spread.of(figure(run) for run in self.pipelines.get(kind, []))

    def paired(
        self, num: str, den: str, figure: Callable[[PipelineRun], float],
        den_figure: Callable[[PipelineRun], float] | None = None,
    ) -> Spread:
        """Per-repetition ratio ``figure(num) / den_figure(den)`` (same repetition, same broker state).

        ``den_figure`` defaults to ``figure``.
        """
        below = den_figure or figure
        pairs = zip(self.pipelines.get(num, []), self.pipelines.get(den, []))
        return Spread.of(figure(a) / below(b) for a, b in pairs if below(b) > 0)

    def _pair_ratios(self) -> list[float]:
        return [pair["worker"].throughput / pair["faust"].throughput for pair in self.pairs
                if pair["faust"].throughput > 0]

    def paired_drains(self, kind: str | None = None) -> Spread:
        """Throughput of ``kind`` in the paired drains, or (no kind) the worker / bare-Faust ratio per pair."""
        if kind is not None:
            return Spread.of(pair[kind].throughput for pair in self.pairs)
        return Spread.of(self._pair_ratios())

    def paired_drains_interval(self) -> tuple[float, float, float] | None:
        """The 95 % interval of the per-pair ratio's median (:func:`median_interval`); None below 6 pairs."""
        return median_interval(self._pair_ratios())

    def _latency_pair_ratios(self) -> list[float]:
        return [pair["worker"].latency(99) / pair["raw"].latency(99) for pair in self.latency_pairs
                if pair["raw"].latency(99) > 0]

    def paired_latency(self, kind: str | None = None, q: float = 99) -> Spread:
        """``kind``'s latency percentile ``q`` in the latency pairs, or (no kind) the worker / raw p99 per pair."""
        if kind is not None:
            return Spread.of(pair[kind].latency(q) for pair in self.latency_pairs)
        return Spread.of(self._latency_pair_ratios())

    def paired_latency_interval(self) -> tuple[float, float, float] | None:
        """The 95 % interval of the per-pair p99 ratio's median; None below 6 pairs."""
        return median_interval(self._latency_pair_ratios())

    def cost(self, stage: str) -> Spread:
        """CPU microseconds per new call of one in-process stage (or ``total``), over the repetitions."""
        return Spread.of(getattr(c, stage) for c in self.costs)

    def call_budget_us(self) -> Spread:
        """What a call may cost in all at the throughput target: 1 / (target x bare-Faust events/s).

        Bare Faust's figure is the one the target compares with: the paired drains' when there are any.
        """
        bound = TARGETS["worker_vs_faust_throughput"]
        floors = [p["faust"] for p in self.pairs] if self.pairs else self.pipelines.get("faust", [])
        return Spread.of(1e6 / (bound * r.throughput) for r in floors if r.throughput > 0)

    def targets(self) -> list[dict[str, Any]]:
        thr = self.paired_drains() if self.pairs else self.paired("worker", "faust", _throughput)
        p99 = self.paired_latency() if self.latency_pairs else self.paired("worker", "raw", lambda r: r.latency(99))
        off = Spread.of(r.calls_per_s for r in self.offline)
        rows = [
            ("worker / bare-Faust throughput" + (", paired drains" if self.pairs else ""), thr, ">=",
             TARGETS["worker_vs_faust_throughput"], self.paired_drains_interval() if self.pairs else None),
            ("worker p99 / raw p99 at the offered load" + (", paired" if self.latency_pairs else ""), p99, "<=",
             TARGETS["worker_vs_raw_p99"], self.paired_latency_interval() if self.latency_pairs else None),
            ("offline route calls/s", off, ">=", TARGETS["offline_events_per_s"], None),
        ]
        out = []
        for name, spread, op, bound, interval in rows:
            value = spread.median
            met = None if math.isnan(value) else (value >= bound if op == ">=" else value <= bound)
            out.append({"target": name, "median": value, "min": spread.low, "max": spread.high,
                        "op": op, "bound": bound, "met": met})
            if interval is not None:
                out[-1]["median_interval"] = {"low": interval[0], "high": interval[1], "coverage": interval[2]}
        return out

    def to_json(self) -> dict[str, Any]:
        def summary(kind: str) -> dict[str, Any]:
            return {
                "throughput_eps": self.spread(kind, _throughput).to_json(),
                "latency_ms": {
                    q: self.spread(kind, lambda r, p=p: r.latency(p)).to_json()
                    for q, p in (("p50", 50), ("p99", 99), ("p999", 99.9))
                },
                "cpu_s_per_1000_saturated": self.spread(kind, lambda r: r.cpu_per_1000_saturated).to_json(),
                "broker_cpu_s_per_1000_saturated": self.spread(
                    kind, lambda r: r.broker_cpu_per_1000_saturated
                ).to_json(),
                "broker_idle_percent": self.spread(kind, lambda r: r.broker_idle_percent).to_json(),
                "loads": {
                    f"{rate:g}/s": {
                        "latency_ms": {
                            q: self.spread(kind, lambda r, p=p, rate=rate: r.latency(p, rate)).to_json()
                            for q, p in (("p50", 50), ("p99", 99), ("p999", 99.9))
                        },
                        "cpu_s_per_1000": self.spread(kind, lambda r, rate=rate: _load_figure(r, rate, "cpu")).to_json(),
                        "broker_cpu_s_per_1000": self.spread(
                            kind, lambda r, rate=rate: _load_figure(r, rate, "broker")
                        ).to_json(),
                        "p99_ms_first_third": self.spread(
                            kind, lambda r, rate=rate: _load_figure(r, rate, "first")
                        ).to_json(),
                        "p99_ms_last_third": self.spread(
                            kind, lambda r, rate=rate: _load_figure(r, rate, "last")
                        ).to_json(),
                    }
                    for rate, _ in self.plan.phases.loads()
                },
                "runs": [r.to_json() for r in self.pipelines.get(kind, [])],
            } | ({
                "replies": {
                    "throughput_eps": self.spread(kind, _reply_throughput).to_json(),
                    "cpu_s_per_1000": self.spread(kind, lambda r: _reply_figure(r, "cpu")).to_json(),
                    "broker_cpu_s_per_1000": self.spread(kind, lambda r: _reply_figure(r, "broker")).to_json(),
                }
            } if kind == "worker" else {})

        return {
            "plan": self.plan.name,
            "command": self.command,
            "repetitions": self.plan.repetitions,
            "phases": vars(self.plan.phases),
            "machine": self.machine,
            "versions": self.versions,
            "broker": self.broker,
            "seconds": self.seconds,
            "pipelines": {kind: summary(kind) for kind in KINDS if kind in self.pipelines},
            "ratios": {
                "worker_vs_faust_throughput": self.paired("worker", "faust", _throughput).to_json(),
                "worker_vs_raw_throughput": self.paired("worker", "raw", _throughput).to_json(),
                "worker_vs_raw_p99": self.paired("worker", "raw", lambda r: r.latency(99)).to_json(),
                "worker_replies_vs_faust_throughput": self.paired(
                    "worker", "faust", _reply_throughput, _throughput
                ).to_json(),
                "worker_vs_raw_p99_at_low_rate": self.paired(
                    "worker", "raw", lambda r: r.latency(99, self.plan.phases.low_rate)
                ).to_json(),
            },
            "offline": {
                "calls": self.offline[0].calls if self.offline else 0,
                "calls_per_s": Spread.of(r.calls_per_s for r in self.offline).to_json(),
                "peak_rss_mib": Spread.of(r.peak_rss_mib for r in self.offline).to_json(),
                "runs": [vars(r) | {"calls_per_s": r.calls_per_s} for r in self.offline],
            },
            "paired_drains": {
                "pairs": len(self.pairs),
                "faust_eps": self.paired_drains("faust").to_json(),
                "worker_eps": self.paired_drains("worker").to_json(),
                "worker_vs_faust_throughput": self.paired_drains().to_json(),
                "runs": [{kind: drain.to_json() for kind, drain in pair.items()} for pair in self.pairs],
            },
            "paired_latency": {
                "pairs": len(self.latency_pairs),
                "offered_rate": self.plan.phases.rate,
                "raw_p99_ms": self.paired_latency("raw").to_json(),
                "worker_p99_ms": self.paired_latency("worker").to_json(),
                "worker_vs_raw_p99": self.paired_latency().to_json(),
                "runs": [{kind: load.to_json() for kind, load in pair.items()} for pair in self.latency_pairs],
            },
            "costs_us_per_call": {stage: self.cost(stage).to_json() for stage in (*STAGES, "total")}
            | {"calls": self.costs[0].calls if self.costs else 0},
            "call_budget_us": self.call_budget_us().to_json(),
            "targets": self.targets(),
        }


def _throughput(run: PipelineRun) -> float:
    return run.throughput


def _reply_throughput(run: PipelineRun) -> float:
    return run.replies.throughput if run.replies is not None else math.nan


def _reply_figure(run: PipelineRun, what: str) -> float:
    if run.replies is None:
        return math.nan
    return {"cpu": run.replies.cpu_per_1000, "broker": run.replies.broker_cpu_per_1000}[what]


def _load_figure(run: PipelineRun, rate: float, what: str) -> float:
    load = run.at(rate)
    if load is None:
        return math.nan
    if what in ("first", "last"):
        return load.p99_by_third()[what == "last"]
    return {"cpu": load.cpu_per_1000, "broker": load.broker_cpu_per_1000, "sent": load.sent_rate}[what]


# -- the report ------------------------------------------------------------------


def report(res: Results, out: IO[str]) -> None:
    """Print the figures as a plain-text report."""
    p = res.plan
    m, v = res.machine, res.versions
    w = out.write
    w(f"\ndispatchbus benchmark ({p.name} run, {p.repetitions} repetition(s); median [min–max])\n")
    w(f"command:  {res.command}\n")
    w(f"machine:  {m['cores']} cores, {m['cpu']}, {m['memory_gib']} GiB, {m['os']}\n")
    w("versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + "\n")
    ph = p.phases
    w(
        f"broker:   {res.broker}; cad.calls and the output topics have 6 partitions; "
        f"consumers fetch-wait 10 ms\n"
        f"load:     saturation = {', '.join(f'{k} {v:,}' for k, v in ph.saturation_events.items())} calls "
        f"preloaded, drained by a fresh process; "
        f"latency = " + ", then ".join(f"{r:,.0f} calls/s for {t:g} s" for r, t in ph.loads())
        + f" (the first {ph.warmup_seconds:g} s of each not counted)"
        + (f"; then replies = a responder's visit (dispatched, on scene, cleared) to {ph.reply_calls:,} of the "
           f"worker's routed calls, "
           f"preloaded" if ph.reply_calls else "")
        + "\n\n"
    )
    for n, kind in zip(("1 ", "1b", "2 "), KINDS):
        if kind not in res.pipelines:
            continue

        def fig(f: Callable[[PipelineRun], float], digits: int, kind: str = kind) -> str:
            return res.spread(kind, f).format(digits)

        w(
            f"{n} {TITLES[kind]}\n"
            f"   {'saturation':18} {fig(_throughput, 0)} events/s; "
            f"CPU {fig(lambda r: r.cpu_per_1000_saturated, 2)} s per 1000 events "
            f"(broker {fig(lambda r: r.broker_cpu_per_1000_saturated, 2)})\n"
        )
        for rate, _ in ph.loads():
            w(
                f"   {f'at {rate:,.0f}/s':18} p50 {fig(lambda r, q=rate: r.latency(50, q), 1)} ms, "
                f"p99 {fig(lambda r, q=rate: r.latency(99, q), 1)} ms, "
                f"p999 {fig(lambda r, q=rate: r.latency(99.9, q), 1)} ms; "
                f"CPU {fig(lambda r, q=rate: _load_figure(r, q, 'cpu'), 2)} s per 1000 events "
                f"(broker {fig(lambda r, q=rate: _load_figure(r, q, 'broker'), 2)})\n"
                f"   {'':18} p99 of the first third of the calls "
                f"{fig(lambda r, q=rate: _load_figure(r, q, 'first'), 1)} ms, of the last third "
                f"{fig(lambda r, q=rate: _load_figure(r, q, 'last'), 1)} ms\n"
            )
        w(f"   {'idle':18} broker CPU {fig(lambda r: r.broker_idle_percent, 0)} % of a core while this "
          f"processor and the collector wait for input\n")
        if kind == "worker" and ph.reply_calls:
            w(
                f"   {'replies':18} {fig(_reply_throughput, 0)} events/s (dispatched, on scene, cleared for "
                f"{ph.reply_calls:,} of the routed calls); CPU {fig(lambda r: _reply_figure(r, 'cpu'), 2)} s per "
                f"1000 events (broker {fig(lambda r: _reply_figure(r, 'broker'), 2)})\n"
            )
    for kind in KINDS:
        for i, run in enumerate(res.pipelines.get(kind, []), 1):
            notes = []
            for rate, load in sorted(run.loads.items()):
                if load.lost:
                    notes.append(f"{load.lost} outputs missing at {rate:,.0f}/s")
                if load.mismatched:
                    notes.append(f"{load.mismatched} decisions with the wrong causation_id at {rate:,.0f}/s")
                if not math.isnan(load.sent_rate) and load.sent_rate < 0.95 * rate:
                    notes.append(f"sender reached only {load.sent_rate:,.0f}/s of {rate:,.0f}/s")
            if run.escalations:
                notes.append(f"{run.escalations} handoff deadlines fired")
            if notes:
                w(f"   note: {kind} repetition {i}: {'; '.join(notes)}\n")
    w("\n3  ratios (per repetition)\n")
    ratio_rows = (
        ("worker / bare-Faust throughput", res.paired("worker", "faust", _throughput), 2),
        ("worker / raw throughput", res.paired("worker", "raw", _throughput), 3),
        ("worker replies / bare-Faust throughput", res.paired("worker", "faust", _reply_throughput, _throughput), 2),
        ("worker p99 / raw p99 at the offered load", res.paired("worker", "raw", lambda r: r.latency(99)), 2),
        ("worker p99 / bare-Faust p99 at the offered load", res.paired("worker", "faust", lambda r: r.latency(99)), 2),
    )
    if ph.low_rate:
        low = ph.low_rate
        ratio_rows += (
            (f"worker p99 / raw p99 at {low:,.0f}/s", res.paired("worker", "raw", lambda r: r.latency(99, low)), 2),
            (f"worker p99 / bare-Faust p99 at {low:,.0f}/s",
             res.paired("worker", "faust", lambda r: r.latency(99, low)), 2),
        )
    for label, spread, digits in ratio_rows:
        w(f"   {label:50} {spread.format(digits)}\n")
    w(f"   {'worker start-up to first decision, s':50} {res.spread('worker', lambda r: r.started_s).format(1)}\n")
    if res.pairs:
        w(
            f"\n3b paired drains: {len(res.pairs)} x a fresh bare-Faust agent and a fresh worker draining "
            f"{ph.saturation_events['faust']:,} and {ph.saturation_events['worker']:,} preloaded calls back to back "
            f"(which goes first alternates)\n"
            f"   {'bare Faust, events/s':50} {res.paired_drains('faust').format(0)}\n"
            f"   {'worker, events/s':50} {res.paired_drains('worker').format(0)}\n"
            f"   {'worker / bare-Faust throughput, per pair':50} {res.paired_drains().format(2)}\n"
        )
        _write_interval(w, res.paired_drains_interval())
    if res.latency_pairs:
        w(
            f"\n3c paired latency: {len(res.latency_pairs)} x a fresh raw pass-through and a fresh worker on fresh "
            f"topics, each draining {ph.warm_calls:,} calls and then taking {ph.rate:,.0f} calls/s for "
            f"{ph.latency_seconds:g} s (the first {ph.warmup_seconds:g} s not counted), back to back "
            f"(which goes first alternates)\n"
            f"   {'raw p50 / p99, ms':50} {res.paired_latency('raw', 50).format(1)} / "
            f"{res.paired_latency('raw').format(1)}\n"
            f"   {'worker p50 / p99, ms':50} {res.paired_latency('worker', 50).format(1)} / "
            f"{res.paired_latency('worker').format(1)}\n"
            f"   {'worker p99 / raw p99, per pair':50} {res.paired_latency().format(2)}\n"
        )
        _write_interval(w, res.paired_latency_interval())
        for i, lpair in enumerate(res.latency_pairs, 1):
            for kind, load in lpair.items():
                if load.lost or load.mismatched:
                    w(f"   note: {kind} in latency pair {i}: {load.lost} outputs missing, "
                      f"{load.mismatched} decisions with the wrong causation_id\n")
    if res.offline:
        off = Spread.of(r.calls_per_s for r in res.offline)
        rss = Spread.of(r.peak_rss_mib for r in res.offline)
        first = res.offline[0]
        w(
            f"\n4  dispatchbus route (offline), {first.calls:,} calls + {first.statuses:,} unit statuses, "
            f"whole process, default jobs\n"
            f"   {'calls/s':50} {off.format(0)}\n"
            f"   {'peak RSS, MiB (VmHWM)':50} {rss.format(0)}\n"
        )
    if res.costs:
        _report_costs(res, w)
    w("\ntargets\n")
    for t in res.targets():
        verdict = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
        digits = 0 if t["bound"] >= 100 else 2
        interval = t.get("median_interval")
        within = f" (the median's interval {interval['low']:.2f}–{interval['high']:.2f})" if interval else ""
        w(f"   {t['target']:50} {t['median']:,.{digits}f} (want {t['op']} {t['bound']:,.{digits}f}): {verdict}{within}\n")
    w(f"\ntotal {res.seconds / 60:.1f} min\n")


T = TypeVar("T")


def alternating_pairs(count: int, kinds: tuple[str, str], measure: Callable[[int, str], T]) -> list[dict[str, T]]:
    """``count`` pairs of ``measure(i, kind)`` for both kinds back to back, the first of each pair alternating.

    The host's speed drifts within minutes on a shared VM, so the two halves of
    a pair run as close together as they can, and neither kind always goes first.
    """
    return [{kind: measure(i, kind) for kind in (kinds if i % 2 == 0 else kinds[::-1])} for i in range(count)]


def _write_interval(w: Callable[[str], Any], interval: tuple[float, float, float] | None) -> None:
    """The line under a paired ratio with the interval of its median (none below 6 pairs)."""
    if interval is not None:
        low, high, coverage = interval
        w(f"   {f'{coverage * 100:.0f} % interval of that median':50} {low:.2f}–{high:.2f}\n")


COST_LABELS = {
    "decode": "decode (Avro body + validation)",
    "route": "route (policy, decision, handoff, timeline)",
    "store": "store (the timeline's changelog JSON)",
    "encode": "encode (decision + handoff request to Avro)",
    "total": "total",
}


def _report_costs(res: Results, w: Callable[[str], Any]) -> None:
    # In the drains the throughput target is judged on: the paired ones when there are any.
    if res.pairs:
        worker_us = Spread.of(pair["worker"].cpu_per_1000 * 1000 for pair in res.pairs)
    else:
        worker_us = res.spread("worker", lambda r: r.cpu_per_1000_saturated * 1000)
    budget = res.call_budget_us()
    w(
        f"\n5  the bus's own work per new call, in process (no Kafka, no Faust; "
        f"python -m bench.costs, {res.costs[0].calls:,} calls), CPU us per call\n"
    )
    for stage in (*STAGES, "total"):
        w(f"   {COST_LABELS[stage]:50} {res.cost(stage).format(1)}\n")
    w(f"   {'worker CPU per call in its drains, us':50} {worker_us.format(0)}\n")
    bound = TARGETS["worker_vs_faust_throughput"]
    w(f"   {f'a call in all at {bound:.0%} of bare-Faust throughput, us':50} {budget.format(0)}\n")


# -- running ---------------------------------------------------------------------


def _terminate_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so every ``finally`` stops its child processes."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def run(
    plan: Plan,
    *,
    bootstrap: str | None = None,
    broker_pid: int | None = None,
    workdir: Path,
    command: str = "python -m bench",
    progress: IO[str] = sys.stderr,
    offline: bool = True,
) -> Results:
    """Run the benchmark; starts (and always stops) its own embedded broker unless ``bootstrap`` is given."""
    from dispatchbus.dev.embedded_broker import EmbeddedBroker

    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)

    def say(text: str) -> None:
        progress.write(f"[{time.perf_counter() - started:6.1f}s] {text}\n")
        progress.flush()

    results = Results(plan, command, machine(), versions(), "", {}, [])
    with ExitStack() as stack:
        if bootstrap is None:
            broker = stack.enter_context(EmbeddedBroker(log_file=workdir / "broker.log"))
            bootstrap = broker.bootstrap_servers
            broker_pid = broker.pid
            results.broker = f"embedded tansu on {bootstrap} (memory storage)"
        else:
            results.broker = f"{bootstrap} (given)"
        run_tag = fresh_run_tag()
        say(f"broker {bootstrap}; topic prefixes {run_tag}-*; logs in {workdir}")
        for rep in range(1, plan.repetitions + 1):
            for kind in KINDS:
                say(f"repetition {rep}/{plan.repetitions}: {TITLES[kind]}")
                run_ = run_pipeline(kind, bootstrap, run_tag, rep, plan.phases, workdir, broker_pid)
                results.pipelines.setdefault(kind, []).append(run_)
                say(
                    f"  {run_.throughput:,.0f} events/s; p50 {run_.latency(50):.1f} ms, p99 {run_.latency(99):.1f} ms "
                    f"at {plan.phases.rate:,.0f}/s"
                )

        def drain(i: int, kind: str) -> Drain:
            say(f"pair {i + 1}/{plan.pairs}: {TITLES[kind]} drains {plan.phases.saturation_events[kind]:,} calls")
            drained = drain_only(kind, bootstrap, f"{run_tag}-pair{i + 1}{kind}",
                                 plan.phases.saturation_events[kind], 9000 + i, workdir, broker_pid)
            say(f"  {drained.throughput:,.0f} events/s")
            return drained

        def load(i: int, kind: str) -> LoadRun:
            say(f"latency pair {i + 1}/{plan.latency_pairs}: {TITLES[kind]} at {plan.phases.rate:,.0f} calls/s")
            loaded = latency_only(kind, bootstrap, f"{run_tag}-lat{i + 1}{kind}", plan.phases, 7000 + 10 * i,
                                  workdir, broker_pid)
            say(f"  p50 {loaded.latency(50):.1f} ms, p99 {loaded.latency(99):.1f} ms")
            return loaded

        results.pairs = alternating_pairs(plan.pairs, ("faust", "worker"), drain)
        results.latency_pairs = alternating_pairs(plan.latency_pairs, ("raw", "worker"), load)
    for rep in range(1, plan.repetitions + 1):
        say(f"repetition {rep}/{plan.repetitions}: the bus's stages in process")
        costs = measure_in_child(plan.cost_calls)
        results.costs.append(costs)
        say(f"  {costs.total:.1f} us per call")
    if offline:
        scratch = Path(tempfile.mkdtemp(prefix="route-", dir=workdir))
        try:
            calls = scratch / "calls.jsonl"
            say(f"generating {plan.offline_calls:,} calls for dispatchbus route")
            generate(calls, plan.offline_calls)
            for rep in range(1, plan.repetitions + 1):
                say(f"repetition {rep}/{plan.repetitions}: dispatchbus route")
                off = route_once(calls, log=scratch / f"route{rep}.log")
                results.offline.append(off)
                say(f"  {off.calls_per_s:,.0f} calls/s, peak RSS {off.peak_rss_mib:,.0f} MiB")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    results.seconds = time.perf_counter() - started
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Throughput and latency of the bus against a raw Kafka pass-through and a bare Faust agent.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="shorter phases, 4 paired drains and latency pairs, 200 000 offline calls (~8 min)")
    size.add_argument("--smoke", action="store_true", help="a few seconds per stage, one repetition (for tests)")
    parser.add_argument("--repetitions", type=int, default=None, help="override the plan's repetitions")
    parser.add_argument("--bootstrap", metavar="HOST:PORT", help="use this broker instead of starting one")
    parser.add_argument("--broker-pid", type=int, metavar="PID",
                        help="with --bootstrap: the local broker process whose CPU to measure")
    parser.add_argument("--workdir", type=Path, default=Path(".run/bench"), help="logs (default: %(default)s)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--no-offline", action="store_true", help="skip the offline route benchmark")
    args = parser.parse_args(argv)

    plan = PLANS["smoke" if args.smoke else "quick" if args.quick else "full"]
    if args.repetitions:
        plan = dataclasses.replace(plan, repetitions=args.repetitions)
    command = "python -m bench" + (" --smoke" if args.smoke else " --quick" if args.quick else "")
    if args.repetitions:
        command += f" --repetitions {args.repetitions}"
    _terminate_on_sigterm()
    try:
        results = run(plan, bootstrap=args.bootstrap, broker_pid=args.broker_pid, workdir=args.workdir,
                      command=command, offline=not args.no_offline)
    except KeyboardInterrupt:
        print("interrupted; every process the benchmark started has been stopped", file=sys.stderr)
        return 130
    report(results, sys.stdout)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results.to_json(), indent=2, default=str) + "\n")
    return 0
