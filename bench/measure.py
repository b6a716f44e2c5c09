"""Figures and their spread, process CPU time, and what machine and versions a run used."""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of unsorted ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median_interval(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float, float] | None:
    """A distribution-free interval for the median of what ``values`` were drawn from: (low, high, coverage).

    The k-th smallest and the k-th largest of n independent values bracket
    that median with probability 1 - 2 P(Binomial(n, 1/2) < k), whatever the
    distribution; k is the largest whose coverage is at least ``confidence``.
    None when there are too few values for it (fewer than 6 at 95 %).
    """
    ordered = sorted(v for v in values if v is not None and not math.isnan(v))
    n = len(ordered)
    interval = None
    below = 0.0  # P(Binomial(n, 1/2) < k)
    for k in range(1, n // 2 + 1):
        below += math.comb(n, k - 1) / 2**n
        coverage = 1 - 2 * below
        if coverage < confidence:
            break
        interval = (ordered[k - 1], ordered[n - k], coverage)
    return interval


@dataclass(frozen=True)
class Spread:
    """The median of repeated figures and their range."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        vals = [v for v in values if v is not None and not math.isnan(v)]
        if not vals:
            return cls(math.nan, math.nan, math.nan, 0)
        return cls(statistics.median(vals), min(vals), max(vals), len(vals))

    def format(self, digits: int = 0, scale: float = 1.0) -> str:
        """``median [low–high]`` (just the median for a single figure)."""
        if self.n == 0:
            return "n/a"
        fmt = f"{{:,.{digits}f}}"
        med = fmt.format(self.median * scale)
        if self.n == 1:
            return med
        return f"{med} [{fmt.format(self.low * scale)}–{fmt.format(self.high * scale)}]"

    def to_json(self) -> dict[str, float | int]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.n}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # The command name may contain spaces and parentheses: fields start after the last ')'.
    fields = stat[stat.rindex(b")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _CLOCK_TICKS


class Cpu:
    """CPU seconds of one process, or NaN when there is none to watch (a broker not started here)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def seconds(self) -> float:
        return cpu_seconds(self.pid) if self.pid is not None else math.nan

    def percent_over(self, seconds: float) -> float:
        """% of one core the process uses over the next ``seconds`` (a measurement window, not a wait)."""
        if self.pid is None or seconds <= 0:
            return math.nan
        start, t0 = self.seconds(), time.perf_counter()
        time.sleep(seconds)
        return 100 * (self.seconds() - start) / (time.perf_counter() - t0)


def machine() -> dict[str, str | int | float]:
    """Cores, CPU model, memory and OS of this machine."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gib = math.nan
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory_gib = round(int(line.split()[1]) / 1024**2, 1)
                    break
    except OSError:
        pass
    return {
        "cores": os.cpu_count() or 0,
        "cpu": model,
        "memory_gib": memory_gib,
        "os": platform.platform(terse=True),
    }


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def tansu_version() -> str:
    """The embedded broker's version (``tansu --version``), or why it is unknown."""
    try:
        from dispatchbus.dev.embedded_broker import broker_binary

        out = subprocess.run([broker_binary(), "--version"], capture_output=True, text=True, timeout=10)
        return (out.stdout.strip() or out.stderr.strip()).removeprefix("tansu ").strip() or "unknown"
    except Exception as exc:  # missing package or binary: say so in the report
        return f"unknown ({exc})"


def versions() -> dict[str, str]:
    """Versions of Python and of every component on the measured paths."""
    import confluent_kafka

    return {
        "python": platform.python_version(),
        "faust-streaming": _version("faust-streaming"),
        "aiokafka": _version("aiokafka"),
        "confluent-kafka": f"{confluent_kafka.version()} (librdkafka {confluent_kafka.libversion()[0]})",
        "fastavro": _version("fastavro"),
        "pydantic": _version("pydantic"),
        "tansu": tansu_version(),
    }
