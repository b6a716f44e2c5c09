"""Run `dispatchbus worker` as a child process against the test broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from dispatchbus.settings import Settings

from .waiting import wait_for


class WorkerProcess:
    """A worker subprocess; ``stop()`` always reaps it (TERM, then KILL)."""

    def __init__(self, settings: Settings, log_path: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self.log_path = log_path
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHBUS_")}
        env.update(self.settings.to_env())
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dispatchbus.cli.main", "worker", *self.extra_args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def metrics_text(self) -> str:
        url = f"http://{self.settings.worker.web_host}:{self.settings.worker.web_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read().decode()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the worker has joined its group and started its agents."""

        def ready() -> bool:
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}; log:\n{self.log()}")
            return "Worker ready" in self.log()

        wait_for(ready, timeout=timeout, what="worker ready")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._log.close()
