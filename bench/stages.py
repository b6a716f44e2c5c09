"""One repetition of one live pipeline: saturation throughput, then latency at a fixed offered load.

Each repetition gets fresh topics (its own prefix) with the catalogue's
partition counts, deleted again when it ends, and a fresh processor child
process:

1. the calls are produced to ``cad.calls`` before the processor starts; the
   processor then drains them as fast as it can, and throughput is the number
   of outputs over the time from 20 ms after the first output to the last, as
   the collector receives them (the processor's start-up is not counted; see
   :meth:`~bench.traffic.Arrivals.window`);
2. then fresh calls are offered at a fixed rate to the same running
   processor, and each call's latency is the time from handing it to the
   producer to receiving its output (keyed by ``call_id``).
3. the worker only: a responder's whole visit (dispatched, on scene,
   cleared) to some of the drained calls is preloaded, and throughput is
   those reply events per second, from the first call's outcome feedback to
   the last (the path that each later event of a call takes).

CPU seconds are read from /proc/<pid>/stat of the processor process, and of
the broker when its pid is known, over each phase.

:func:`drain_only` runs the first phase alone, so that the drains of two
processors can be paired back to back (the throughput ratio), and
:func:`latency_only` the offered load alone on fresh topics (the p99 ratio).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatchbus import catalogue
from dispatchbus.catalogue import Agency, TopicSpec
from dispatchbus.contract import events as ev
from dispatchbus.contract.serde import serde_from_settings
from dispatchbus.dev.embedded_broker import isolated_settings
from dispatchbus.dev.processes import WORKER_READY_LINE, ChildProcess, child_env, worker_process
from dispatchbus.kafka.admin import create_topics, delete_topics_starting_with
from dispatchbus.settings import Settings

from . import child_env as harness_env
from . import module_command
from .baseline_passthrough import READY_LINE as PASSTHROUGH_READY
from .measure import Cpu, cpu_seconds, percentile
from .traffic import Collector, PacedSend, Sender, encode, fresh_calls, responder_lifecycles, unit_statuses

PASSTHROUGH = TopicSpec(
    "bench.passthrough",
    "Benchmark floors' output: the calls, forwarded.",
    catalogue.CALL_PARTITIONS,
    "call_id",
    (ev.CallReceived,),
    (Agency.BUS,),
    (Agency.OPS,),
    retention_days=1,
)
"""Where the floors forward the calls (same partition count as every call-keyed topic)."""

KINDS = ("raw", "faust", "worker")
TITLES = {
    "raw": "raw confluent-kafka pass-through (decode + encode)",
    "faust": "bare Faust agent (forwards bytes)",
    "worker": "routing worker (911-led, unit table)",
}


@dataclass(frozen=True)
class Phases:
    """How much traffic one repetition offers."""

    saturation_events: dict[str, int]
    """Calls preloaded for each pipeline (more for the faster floors, so each drain lasts seconds)."""
    rate: float
    latency_seconds: float
    warmup_seconds: float
    low_rate: float = 0.0
    """A second, lower offered load that the worker can sustain (0: none)."""
    low_seconds: float = 0.0
    idle_seconds: float = 2.0
    """How long the broker's CPU is sampled while the drained processor waits for input."""
    reply_calls: int = 0
    """Worker only, last: how many of the drained calls then get a responder's whole visit."""
    warm_calls: int = 1_000
    """Paired latency phases: calls a fresh processor drains before its offered load."""

    def loads(self) -> list[tuple[float, float]]:
        """(rate, seconds) of each latency phase, the lower load first."""
        out = [(self.low_rate, self.low_seconds)] if self.low_rate > 0 and self.low_seconds > 0 else []
        return out + [(self.rate, self.latency_seconds)]


@dataclass
class LoadRun:
    """Latency at one fixed offered load."""

    rate: float
    sent_rate: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    cpu_per_1000: float = math.nan
    broker_cpu_per_1000: float = math.nan
    lost: int = 0
    mismatched: int = 0

    def latency(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def p99_by_third(self) -> tuple[float, float]:
        """p99 of the first and of the last third of the counted calls, in the order they were sent.

        On a broker whose cost per fetch grows with what a partition holds (the
        embedded one), the last third's is the higher; on a steady one they agree.
        """
        third = len(self.latencies_ms) // 3
        if third == 0:
            return math.nan, math.nan
        return percentile(self.latencies_ms[:third], 99), percentile(self.latencies_ms[-third:], 99)

    def to_json(self) -> dict[str, object]:
        first, last = self.p99_by_third()
        return {
            "offered_rate": self.rate,
            "sent_rate": self.sent_rate,
            "latency_samples": len(self.latencies_ms),
            "latency_ms": {"p50": self.latency(50), "p99": self.latency(99), "p999": self.latency(99.9)},
            "p99_ms_first_third": first,
            "p99_ms_last_third": last,
            "cpu_s_per_1000": self.cpu_per_1000,
            "broker_cpu_s_per_1000": self.broker_cpu_per_1000,
            "lost": self.lost,
            "mismatched": self.mismatched,
        }


@dataclass
class ReplyRun:
    """The worker draining replies to calls it routed: dispatched, on scene, cleared."""

    calls: int
    events: int
    throughput: float
    """Reply events per second, from the first call's outcome feedback to the last."""
    cpu_per_1000: float
    broker_cpu_per_1000: float = math.nan

    def to_json(self) -> dict[str, object]:
        return {
            "calls": self.calls,
            "events": self.events,
            "throughput_eps": self.throughput,
            "cpu_s_per_1000": self.cpu_per_1000,
            "broker_cpu_s_per_1000": self.broker_cpu_per_1000,
        }


@dataclass
class PipelineRun:
    """The figures of one repetition of one pipeline."""

    kind: str
    events: int
    throughput: float
    cpu_per_1000_saturated: float
    started_s: float
    broker_cpu_per_1000_saturated: float = math.nan
    broker_idle_percent: float = math.nan
    """The broker's CPU, in % of one core, while this processor and the collector sit idle (their fetch loops)."""
    loads: dict[float, LoadRun] = field(default_factory=dict)
    escalations: int = 0
    replies: ReplyRun | None = None

    def at(self, rate: float) -> LoadRun | None:
        return self.loads.get(rate)

    def latency(self, q: float, rate: float | None = None) -> float:
        """Latency percentile at ``rate`` (default: the highest offered load)."""
        run = self.loads.get(rate if rate is not None else max(self.loads, default=0.0))
        return run.latency(q) if run is not None else math.nan

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "events": self.events,
            "throughput_eps": self.throughput,
            "cpu_s_per_1000_saturated": self.cpu_per_1000_saturated,
            "started_s": self.started_s,
            "broker_cpu_s_per_1000_saturated": self.broker_cpu_per_1000_saturated,
            "broker_idle_percent": self.broker_idle_percent,
            "loads": [run.to_json() for _, run in sorted(self.loads.items())],
            "escalations": self.escalations,
            "replies": self.replies.to_json() if self.replies is not None else None,
        }


def bench_settings(bootstrap: str, prefix: str, data_dir: Path) -> Settings:
    """Settings for one repetition on the embedded broker (its tuning; own prefix, app id and port)."""
    return isolated_settings(bootstrap, data_dir, prefix.rstrip("."))


def _processor(kind: str, settings: Settings, source: str, sink: str, log: Path) -> ChildProcess:
    if kind == "worker":
        return worker_process(settings, log)
    module = {"raw": "bench.baseline_passthrough", "faust": "bench.baseline_faust"}[kind]
    return ChildProcess(module_command(module, source, sink), harness_env(child_env(settings)), log)


def _ready_line(kind: str) -> str:
    return PASSTHROUGH_READY if kind == "raw" else WORKER_READY_LINE


class ProcessorDied(RuntimeError):
    """A processor child process exited during a measurement."""


@dataclass
class _Setup:
    """Fresh topics of one measured processor, and what feeds and reads them."""

    settings: Settings
    source: str
    sink: str
    serde: Any
    sender: Sender
    prefix: str

    def delete_topics(self) -> None:
        # Every processor leaves the broker as it found it: its topics (the catalogue's, and Faust's
        # changelogs and internal topics named after the app id) would otherwise stay in memory.
        name = self.prefix.rstrip(".")
        delete_topics_starting_with(self.settings, (f"{name}.", f"{name}-"))


def _setup(kind: str, bootstrap: str, prefix: str, data_dir: Path) -> _Setup:
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = bench_settings(bootstrap, prefix, data_dir)
    specs = catalogue.CATALOGUE if kind == "worker" else (catalogue.CAD_CALLS, PASSTHROUGH)
    create_topics(settings, specs)
    sink_spec = catalogue.DECISIONS if kind == "worker" else PASSTHROUGH
    serde = serde_from_settings(settings)
    return _Setup(settings, catalogue.CAD_CALLS.full_name(settings.topics), sink_spec.full_name(settings.topics),
                  serde, Sender(settings), prefix)


def _preload_backlog(kind: str, setup: _Setup, calls: list[ev.CallReceived]) -> list[tuple[bytes, bytes]]:
    if kind == "worker":
        units = catalogue.UNIT_STATUS.full_name(setup.settings.topics)
        setup.sender.preload(units, encode(setup.serde, units, unit_statuses(), "unit_id"))
    backlog = encode(setup.serde, setup.source, calls, "call_id")
    setup.sender.preload(setup.source, backlog)
    return backlog


@dataclass(frozen=True)
class Drain:
    """A fresh processor draining a preloaded backlog of calls."""

    kind: str
    events: int
    throughput: float
    """Outputs per second as the collector receives them, over the window of ``Arrivals.window``."""
    cpu_per_1000: float
    broker_cpu_per_1000: float
    started_s: float
    """From spawning the processor to its first output."""

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind, "events": self.events, "throughput_eps": self.throughput,
            "cpu_s_per_1000": self.cpu_per_1000, "broker_cpu_s_per_1000": self.broker_cpu_per_1000,
            "started_s": self.started_s,
        }


def _drain(
    kind: str, backlog: list[tuple[bytes, bytes]], collector: Collector, child: ChildProcess, log: Path, broker: Cpu
) -> Drain:
    """Wait for ``child`` (just spawned) to turn every record of ``backlog`` into an output."""
    pid = child.proc.pid  # type: ignore[union-attr]
    spawned = time.perf_counter()
    marks = _CpuMarks(pid, broker)
    got = collector.collect(len(backlog), timeout=120 + len(backlog) / 200, on_first=marks.first,
                            on_open=marks.open, alive=_alive_check(kind, child, log))
    marks.end()
    if got.count < len(backlog) or got.first is None or got.last is None:
        _alive_check(kind, child, log)()
        raise RuntimeError(f"{kind}: only {got.count} of {len(backlog)} outputs arrived; log {log}")
    counted, span, start = got.window()
    cpu, broker_cpu = marks.since(start)
    per_1000 = 1000 / max(1, counted)
    return Drain(
        kind, got.count, counted / span if span > 0 else math.inf,
        cpu * per_1000, broker_cpu * per_1000, got.first - spawned,
    )


class _CpuMarks:
    """CPU seconds of a processor and of the broker at a rate window's possible starts and at its end."""

    def __init__(self, pid: int, broker: Cpu) -> None:
        self._pid, self._broker = pid, broker
        self._at: dict[str, tuple[float, float]] = {}

    def _mark(self, name: str) -> None:
        self._at[name] = (cpu_seconds(self._pid), self._broker.seconds())

    def first(self) -> None:
        self._mark("first")

    def open(self) -> None:
        self._mark("open")

    def end(self) -> None:
        self._mark("end")

    def since(self, start: str) -> tuple[float, float]:
        """Processor and broker CPU seconds from the mark ``start`` to the end."""
        (cpu0, broker0), (cpu1, broker1) = self._at[start], self._at["end"]
        return cpu1 - cpu0, broker1 - broker0


def _alive_check(kind: str, child: ChildProcess, log: Path) -> Callable[[], None]:
    def alive() -> None:
        if not child.running:
            raise ProcessorDied(f"{kind} processor exited with {child.returncode}; log {log}:\n{child.log()[-3000:]}")

    return alive


@dataclass
class _Fresh:
    """A processor started on fresh topics after a backlog was preloaded, and what it reads and writes."""

    setup: _Setup
    backlog: list[tuple[bytes, bytes]]
    collector: Collector
    child: ChildProcess
    log: Path


@contextmanager
def _fresh_processor(
    kind: str, bootstrap: str, label: str, workdir: Path, calls: list[ev.CallReceived]
) -> Iterator[_Fresh]:
    """Fresh topics named after ``label``, ``calls`` preloaded, then a collector and a ``kind`` processor.

    The processor and the collector stop when the block ends; the topics are
    deleted after a block that ended normally.
    """
    setup = _setup(kind, bootstrap, f"{label}.", (workdir / label).absolute())
    backlog = _preload_backlog(kind, setup, calls)
    log = workdir / f"{label}.log"
    with Collector(setup.settings, setup.sink) as collector, \
            _processor(kind, setup.settings, setup.source, setup.sink, log) as child:
        yield _Fresh(setup, backlog, collector, child, log)
    setup.delete_topics()


def drain_only(
    kind: str, bootstrap: str, label: str, calls: int, seed: int, workdir: Path, broker_pid: int | None = None
) -> Drain:
    """A fresh ``kind`` processor drains ``calls`` preloaded calls on fresh topics, and is stopped.

    The same first phase as :func:`run_pipeline`, without the latency and
    reply phases, so that drains of two processors can run back to back.
    """
    with _fresh_processor(kind, bootstrap, label, workdir, fresh_calls(calls, seed=seed, tag=label)) as fresh:
        return _drain(kind, fresh.backlog, fresh.collector, fresh.child, fresh.log, Cpu(broker_pid))


def run_pipeline(
    kind: str, bootstrap: str, run_tag: str, rep: int, phases: Phases, workdir: Path, broker_pid: int | None = None
) -> PipelineRun:
    """One repetition of ``kind`` ("raw", "faust" or "worker") on fresh topics; every child is stopped on return.

    With ``broker_pid`` (an embedded broker), the broker's CPU is measured over the same phases.
    """
    setup = _setup(kind, bootstrap, f"{run_tag}-{kind}{rep}.", (workdir / f"{kind}{rep}").absolute())
    settings, source, serde, sender = setup.settings, setup.source, setup.serde, setup.sender

    # Phase 1: preload, then let a fresh processor drain the backlog.
    seed = 1000 * rep + KINDS.index(kind)
    backlog_calls = fresh_calls(phases.saturation_events[kind], seed=seed, tag=f"S{rep}")
    backlog = _preload_backlog(kind, setup, backlog_calls)

    log = workdir / f"{kind}{rep}.log"
    with ExitStack() as stack:
        collector = stack.enter_context(Collector(settings, setup.sink))
        child = stack.enter_context(_processor(kind, settings, source, setup.sink, log))
        pid = child.proc.pid  # type: ignore[union-attr]
        broker = Cpu(broker_pid)
        alive = _alive_check(kind, child, log)
        drained = _drain(kind, backlog, collector, child, log, broker)
        _wait_ready(kind, child, log, alive)

        result = PipelineRun(kind, drained.events, drained.throughput, drained.cpu_per_1000, drained.started_s)
        result.broker_cpu_per_1000_saturated = drained.broker_cpu_per_1000
        result.broker_idle_percent = broker.percent_over(phases.idle_seconds)
        # Phase 2: fixed offered loads to the running processor.
        for i, (rate, seconds) in enumerate(phases.loads()):
            calls = fresh_calls(max(1, int(rate * seconds)), seed=seed + 500 + i, tag=f"L{rep}x{i}")
            result.loads[rate] = _offer(
                kind, calls, rate, phases.warmup_seconds, seconds, serde, sender, collector, source, pid, alive, broker
            )
        if kind == "worker":
            if phases.reply_calls:
                # Phase 3: the reply path (a timeline read, copied and written again per event, and the
                # outcome feedback of each ended call), which new calls alone never exercise.
                result.replies = _replies(
                    backlog_calls[: phases.reply_calls], settings, serde, sender, pid, alive, broker
                )
            with Collector(settings, catalogue.ESCALATIONS.full_name(settings.topics)) as esc:
                result.escalations = esc.collect(1 << 30, timeout=1.0).count
    setup.delete_topics()
    return result


def _wait_ready(kind: str, child: ChildProcess, log: Path, alive: Callable[[], None]) -> None:
    ready = _ready_line(kind)
    deadline = time.monotonic() + 60
    while ready not in child.log():
        alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{kind}: no '{ready}' in {log}")
        time.sleep(0.05)


def latency_only(
    kind: str, bootstrap: str, label: str, phases: Phases, seed: int, workdir: Path, broker_pid: int | None = None
) -> LoadRun:
    """A fresh ``kind`` processor on fresh topics takes ``phases.rate`` calls/s for ``phases.latency_seconds``.

    It first drains ``phases.warm_calls`` preloaded calls (its start-up and
    first batches are not measured), then the same offered load as
    :func:`run_pipeline`'s last phase, and is stopped; so that the latency of
    two processors can be paired back to back on topics with no history.
    """
    warm = fresh_calls(phases.warm_calls, seed=seed, tag=f"{label}w")
    with _fresh_processor(kind, bootstrap, label, workdir, warm) as fresh:
        pid = fresh.child.proc.pid  # type: ignore[union-attr]
        alive = _alive_check(kind, fresh.child, fresh.log)
        got = fresh.collector.collect(len(fresh.backlog), timeout=120 + len(fresh.backlog) / 200, alive=alive)
        if got.count < len(fresh.backlog):
            raise RuntimeError(
                f"{kind}: only {got.count} of {len(fresh.backlog)} warm-up outputs arrived; log {fresh.log}"
            )
        _wait_ready(kind, fresh.child, fresh.log, alive)
        calls = fresh_calls(max(1, int(phases.rate * phases.latency_seconds)), seed=seed + 1, tag=f"{label}l")
        setup = fresh.setup
        return _offer(kind, calls, phases.rate, phases.warmup_seconds, phases.latency_seconds, setup.serde,
                      setup.sender, fresh.collector, setup.source, pid, alive, Cpu(broker_pid))


def _offer(
    kind: str,
    calls: list[ev.CallReceived],
    rate: float,
    warmup_seconds: float,
    seconds: float,
    serde: Any,
    sender: Sender,
    collector: Collector,
    source: str,
    pid: int,
    alive: Callable[[], None],
    broker: Cpu,
) -> LoadRun:
    """Offer ``calls`` at ``rate`` per second; each one's latency is send → its output received."""
    records = encode(serde, source, calls, "call_id")
    keys = {k for k, _ in records}
    cpu0, broker0 = cpu_seconds(pid), broker.seconds()
    with PacedSend(sender, source, records, rate) as sending:
        arrived = collector.collect(
            len(records), timeout=3 * seconds + 60, keys=keys, keep_values=kind == "worker", alive=alive
        )
    cpu1, broker1 = cpu_seconds(pid), broker.seconds()
    sent = sending.sent
    warm = int(rate * warmup_seconds)
    latencies = [
        (arrived.at[key] - sent[i]) * 1000 for i, (key, _) in enumerate(records) if i >= warm and key in arrived.at
    ]
    span = sent[-1] - sent[0] if len(sent) > 1 else 0.0
    run = LoadRun(
        rate=rate,
        sent_rate=(len(sent) - 1) / span if span > 0 else math.nan,
        latencies_ms=latencies,
        cpu_per_1000=(cpu1 - cpu0) / max(1, arrived.count) * 1000,
        broker_cpu_per_1000=(broker1 - broker0) / max(1, arrived.count) * 1000,
        lost=len(records) - arrived.count,
    )
    if kind == "worker":
        by_key = {k: c for (k, _), c in zip(records, calls)}
        for key, value in arrived.values.items():
            decision = serde.decode(value)
            if not isinstance(decision, ev.RoutingDecision) or decision.causation_id != by_key[key].event_id:
                run.mismatched += 1
    return run


def _replies(
    calls: list[ev.CallReceived],
    settings: Settings,
    serde: Any,
    sender: Sender,
    pid: int,
    alive: Callable[[], None],
    broker: Cpu,
) -> ReplyRun:
    """Preload a responder's visit to each of ``calls`` (already routed) and time the worker through them.

    The clearing ends each call, and the worker's outcome feedback for it is
    the output counted, so each output stands for one call's events.
    """
    topic = catalogue.RESPONDER_ACTIVITY.full_name(settings.topics)
    with Collector(settings, catalogue.DECISIONS.full_name(settings.topics)) as decided:
        first = decided.collect(len(calls), timeout=60, keys={c.call_id.encode() for c in calls}, keep_values=True,
                                alive=alive)
    decisions = {key.decode(): serde.decode(value) for key, value in first.values.items()}
    records = encode(serde, topic, responder_lifecycles(calls, decisions), "call_id")
    per_call = len(records) // len(calls)
    marks = _CpuMarks(pid, broker)
    with Collector(settings, catalogue.FEEDBACK.full_name(settings.topics)) as feedback:
        sender.preload(topic, records)
        got = feedback.collect(len(calls), timeout=120 + len(records) / 200, on_first=marks.first,
                               on_open=marks.open, alive=alive)
        marks.end()
    if got.count < len(calls) or got.first is None or got.last is None:
        alive()
        raise RuntimeError(f"worker: only {got.count} of {len(calls)} calls ended with outcome feedback")
    counted, span, start = got.window()
    events = per_call * counted
    cpu, broker_cpu = marks.since(start)
    return ReplyRun(
        calls=got.count,
        events=per_call * got.count,
        throughput=events / span if span > 0 else math.inf,
        cpu_per_1000=cpu / max(1, events) * 1000,
        broker_cpu_per_1000=broker_cpu / max(1, events) * 1000,
    )


def fresh_run_tag() -> str:
    """A topic-prefix stem unique to one benchmark run."""
    return f"bench{uuid.uuid4().hex[:8]}"
