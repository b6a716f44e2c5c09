"""`python -m bench.broker_growth`: does the broker's cost per fetch grow with what a partition holds?

A plain confluent-kafka producer offers small records at a fixed rate to a
topic with the call topics' partition count, a tailing consumer reads them,
and every window of the phase reports the end-to-end latency and (for a
broker whose process is known) the broker's CPU. The phase runs twice on fresh
topics: one record per produce batch (``linger.ms`` 0, how the benchmark's
sender offers load) and, as the baseline, the same records batched by a
50 ms linger.

On Apache Kafka both phases stay flat: a fetch finds its offset through the
segment's index. The embedded broker (tansu 0.6, memory storage) lists every
batch a partition has stored on each fetch that returns data, so with one
batch per record its CPU and the latency climb for as long as the phase lasts,
whatever reads the topic (see docs/benchmark.md, "The embedded broker's cost per fetch").
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dispatchbus import catalogue
from dispatchbus.dev.embedded_broker import EmbeddedBroker, isolated_settings
from dispatchbus.kafka.admin import create_topics, delete_topics_starting_with

from .measure import Cpu, percentile
from .stages import PASSTHROUGH
from .traffic import Collector, PacedSend, Sender

VALUE_BYTES = 200
"""The size of the issue's reference measurement's values."""
VALUE = b"x" * VALUE_BYTES

BASELINE_LINGER_MS = 50


@dataclass(frozen=True)
class Window:
    """One window of a phase: records received in it, their latency, and the broker's CPU meanwhile."""

    end_s: float
    received: int
    p50_ms: float
    p99_ms: float
    broker_percent: float


@dataclass(frozen=True)
class Phase:
    linger_ms: int
    windows: list[Window]
    sent: int
    received: int

    def growth(self) -> float:
        """p50 latency of the last window over that of the first (NaN with fewer than two windows)."""
        full = [w for w in self.windows if w.received]
        if len(full) < 2 or not full[0].p50_ms:
            return math.nan
        return full[-1].p50_ms / full[0].p50_ms


def windows_of(
    arrivals: list[tuple[float, float]], cpu_marks: list[tuple[float, float]], start: float
) -> list[Window]:
    """Cut (arrival time, latency s) pairs at the CPU marks' times ((time, broker CPU s), the first at ``start``)."""
    out = []
    for (t0, cpu0), (t1, cpu1) in zip(cpu_marks, cpu_marks[1:]):
        lat_ms = [lat * 1000 for at, lat in arrivals if t0 <= at < t1]
        out.append(Window(
            end_s=t1 - start,
            received=len(lat_ms),
            p50_ms=percentile(lat_ms, 50),
            p99_ms=percentile(lat_ms, 99),
            broker_percent=100 * (cpu1 - cpu0) / (t1 - t0) if t1 > t0 else math.nan,
        ))
    return out


def close_marks(marks: list[tuple[float, float]], last: tuple[float, float], every_s: float) -> None:
    """Add the mark taken when the sending ended; a stub of under half a window joins the window before it.

    The sending ends with the producer's flush, a few milliseconds after a
    mark may have been taken: a window of those would report noise.
    """
    if len(marks) > 1 and last[0] - marks[-1][0] < every_s / 2:
        marks[-1] = last
    else:
        marks.append(last)


def _sample_cpu(broker: Cpu, every_s: float, done: threading.Event, marks: list[tuple[float, float]]) -> None:
    """Append (time, broker CPU s) to ``marks`` now, every ``every_s`` and once more when ``done`` is set."""
    while True:
        marks.append((time.perf_counter(), broker.seconds()))
        if done.wait(every_s):
            close_marks(marks, (time.perf_counter(), broker.seconds()), every_s)
            return


def run_phase(
    bootstrap: str, broker: Cpu, prefix: str, workdir: Path, *, rate: float, seconds: float, window_s: float,
    linger_ms: int,
) -> Phase:
    """Offer ``rate`` records/s for ``seconds`` to a fresh topic and collect them; its topic is deleted after.

    The benchmark's own sender and collector (:mod:`bench.traffic`)
    do the pacing and note each record's send and arrival times.
    """
    settings = isolated_settings(bootstrap, workdir, prefix)
    spec = dataclasses.replace(PASSTHROUGH, name="bench.broker-growth",
                               description="Records offered to measure the broker alone.")
    topic = spec.full_name(settings.topics)
    create_topics(settings, (spec,))
    records = [(str(i).encode(), VALUE) for i in range(max(1, int(rate * seconds)))]
    sender = Sender(settings, linger_ms=linger_ms)
    marks: list[tuple[float, float]] = []
    try:
        with Collector(settings, topic) as collector:
            # Connections and the producer's id come first: one record there and back before the phase.
            sender.preload(topic, [(b"warm", VALUE)])
            if not collector.collect(1, timeout=60, keys={b"warm"}).count:
                raise RuntimeError(f"no record came back from {topic} within 60 s")
            with PacedSend(sender, topic, records, rate) as sending:
                sampler = threading.Thread(target=_sample_cpu, args=(broker, window_s, sending.done, marks),
                                           name="broker-growth-cpu", daemon=True)
                sampler.start()  # ends when the sending does, also when leaving the block on an error stops it
                arrived = collector.collect(len(records), timeout=3 * seconds + 60, keys={k for k, _ in records})
            sampler.join()
    finally:
        delete_topics_starting_with(settings, (f"{prefix}.",))
    arrivals = [(arrived.at[key], arrived.at[key] - at) for (key, _), at in zip(records, sending.sent)
                if key in arrived.at]
    return Phase(linger_ms, windows_of(arrivals, marks, marks[0][0]), len(sending.sent), arrived.count)


def report(phases: list[Phase], rate: float, out: IO[str]) -> None:
    """One line per window of each phase, then each phase's growth."""
    w = out.write
    for ph in phases:
        batching = "one batch per record" if ph.linger_ms == 0 else f"batched by a {ph.linger_ms} ms linger"
        w(f"\n{rate:,.0f} records/s, {batching}: {ph.sent:,} sent, {ph.received:,} received\n")
        w(f"   {'until':>7} {'received':>9} {'p50 ms':>8} {'p99 ms':>8} {'broker CPU %':>13}\n")
        for win in ph.windows:
            w(f"   {win.end_s:6.1f}s {win.received:9,} {win.p50_ms:8.1f} {win.p99_ms:8.1f} "
              f"{win.broker_percent:13.0f}\n")
    w("\nlast window's p50 / first window's\n")
    for ph in phases:
        w(f"   linger {ph.linger_ms:>3} ms   {ph.growth():.2f}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.broker_growth",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="records per second (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase (default: %(default)s)")
    parser.add_argument("--window", type=float, default=5.0, help="seconds per reported window (default: %(default)s)")
    parser.add_argument("--bootstrap", metavar="HOST:PORT", help="use this broker instead of starting one")
    parser.add_argument("--broker-pid", type=int, metavar="PID", help="with --bootstrap: the broker process to watch")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="broker-growth-")))
        bootstrap, pid = args.bootstrap, args.broker_pid
        if bootstrap is None:
            broker = stack.enter_context(EmbeddedBroker(log_file=workdir / "broker.log"))
            bootstrap, pid = broker.bootstrap_servers, broker.pid
        print(f"broker {bootstrap}; {catalogue.CALL_PARTITIONS} partitions; {VALUE_BYTES}-byte values", flush=True)
        phases = [
            run_phase(bootstrap, Cpu(pid), f"growth{i}-{linger}", workdir / f"phase{i}", rate=args.rate,
                      seconds=args.seconds, window_s=args.window, linger_ms=linger)
            for i, linger in enumerate((0, BASELINE_LINGER_MS))
        ]
    report(phases, args.rate, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
