"""Offline routing: `dispatchbus route` over generated calls, timed as a whole child process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dispatchbus.dev.synthetic import write_synthetic

_STATS = re.compile(r"route: (\d+) calls, (\d+) unit statuses, .* peak RSS (\d+) MiB")


@dataclass(frozen=True)
class OfflineRun:
    """One `dispatchbus route` run."""

    calls: int
    statuses: int
    seconds: float
    peak_rss_mib: float

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds


def generate(path: Path, calls: int, seed: int = 7) -> int:
    """Write ``calls`` synthetic calls (and the unit statuses among them) as JSON lines; returns the lines."""
    with open(path, "w", buffering=1 << 20) as out:
        return write_synthetic(out, calls, seed=seed)


def route_once(path: Path, *, model: str = "911-led", log: Path | None = None) -> OfflineRun:
    """Run `dispatchbus route --stats` on ``path`` (decisions to /dev/null); wall time and peak RSS.

    The time covers the whole child process (interpreter start and policy load
    included). Peak RSS is what the child reports: the largest of itself and
    the route worker processes it forked. (``wait4``'s ``ru_maxrss`` would
    include this process's own peak, which the child had before its ``exec``.)
    """
    argv = [sys.executable, "-m", "dispatchbus.cli.main", "route", "--stats", "--model", model, str(path)]
    err_path = log or path.with_suffix(".route.log")
    with open(os.devnull, "wb") as devnull, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=devnull, stderr=err, start_new_session=True)
        try:
            proc.wait()
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            raise
        seconds = time.perf_counter() - started
    text = err_path.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"dispatchbus route exited with {proc.returncode}: {text[-2000:]}")
    found = _STATS.search(text)
    if not found:
        raise RuntimeError(f"dispatchbus route printed no statistics: {text[-2000:]}")
    return OfflineRun(int(found.group(1)), int(found.group(2)), seconds, float(found.group(3)))
