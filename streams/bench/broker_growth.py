"""`python -m dispatchbus.bench.broker_growth`: does the broker's cost per fetch grow with what a partition holds?

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
whatever reads the topic (see docs/benchmark.md, round 17).
"""

from __future__ import annotations

import argparse
import math
import struct
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from confluent_kafka import Consumer, Producer

from .. import catalogue
from ..admin import create_topics, delete_topics_starting_with
from ..broker import EmbeddedBroker, isolated_settings
from ..catalogue import Agency, TopicSpec
from ..contract import events as ev
from .measure import Cpu, percentile

VALUE_BYTES = 200
"""The size of the issue's reference measurement's values."""

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


def run_phase(
    bootstrap: str, broker: Cpu, prefix: str, workdir: Path, *, rate: float, seconds: float, window_s: float,
    linger_ms: int,
) -> Phase:
    """Offer ``rate`` records/s for ``seconds`` to a fresh topic and tail it; its topic is deleted after."""
    settings = isolated_settings(bootstrap, workdir, prefix)
    spec = TopicSpec("bench.broker-growth", "Records offered to measure the broker alone.",
                     catalogue.CALL_PARTITIONS, "call_id", (ev.CallReceived,), (Agency.BUS,), (Agency.OPS,),
                     retention_days=1)
    topic = spec.full_name(settings.topics)
    create_topics(settings, (spec,))
    producer = Producer(settings.kafka.producer_config() | {"linger.ms": linger_ms})
    consumer = Consumer(settings.kafka.consumer_config(f"{prefix}-tail"))
    arrivals: list[tuple[float, float]] = []
    stop = threading.Event()

    def tail() -> None:
        while not stop.is_set():
            # consume() would wait for all of num_messages: wait for one record, then take what is fetched.
            first = consumer.poll(0.05)
            if first is None:
                continue
            now = time.perf_counter()
            for msg in (first, *consumer.consume(num_messages=999, timeout=0)):
                if msg.error() is None:
                    arrivals.append((now, now - struct.unpack_from("!d", msg.value())[0]))

    padding = b"x" * (VALUE_BYTES - 8)
    try:
        consumer.subscribe([topic])
        reader = threading.Thread(target=tail, name="broker-growth-tail", daemon=True)
        reader.start()
        # The first record waits for the group join; the phase starts once it is back.
        producer.produce(topic, key=b"warm", value=struct.pack("!d", time.perf_counter()) + padding)
        producer.flush(30)
        deadline = time.monotonic() + 60
        while not arrivals:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no record came back from {topic} within 60 s")
            time.sleep(0.01)
        arrivals.clear()
        start = time.perf_counter()
        marks = [(start, broker.seconds())]
        sent = 0
        while (now := time.perf_counter()) < start + seconds:
            if now >= marks[-1][0] + window_s:
                marks.append((now, broker.seconds()))
            delay = start + sent / rate - now
            if delay > 0:
                time.sleep(min(delay, 0.01))
                continue
            producer.produce(topic, key=str(sent).encode(), value=struct.pack("!d", time.perf_counter()) + padding)
            producer.poll(0)
            sent += 1
        marks.append((time.perf_counter(), broker.seconds()))
        producer.flush(30)
        deadline = time.monotonic() + 30
        while len(arrivals) < sent and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        consumer.close()
        delete_topics_starting_with(settings, (f"{prefix}.",))
    return Phase(linger_ms, windows_of(arrivals, marks, start), sent, len(arrivals))


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
    parser = argparse.ArgumentParser(prog="python -m dispatchbus.bench.broker_growth",
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
