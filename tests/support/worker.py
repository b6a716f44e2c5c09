"""Run `dispatchbus worker` as a child process against the test broker."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from dispatchbus.dev.processes import WORKER_READY_LINE, worker_process
from dispatchbus.settings import Settings

from .waiting import wait_for


class WorkerProcess:
    """A worker subprocess for one test; ``stop()`` always reaps it."""

    def __init__(self, settings: Settings, log_path: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self.child = worker_process(settings, log_path, *extra_args)

    def start(self) -> WorkerProcess:
        self.child.start()
        return self

    def log(self) -> str:
        return self.child.log()

    def metrics_text(self) -> str:
        url = f"http://{self.settings.worker.web_host}:{self.settings.worker.web_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read().decode()
        except OSError as exc:  # say why, so that a failure in CI can be diagnosed from its report
            state = "running" if self.child.running else f"exited with {self.child.returncode}"
            raise AssertionError(f"{url} unreachable ({exc}); the worker is {state}; its log ends:\n"
                                 f"{self.log()[-4000:]}") from exc

    def wait_ready(self, timeout: float = 60.0, after: int = 0) -> None:
        """Wait until the worker logs readiness (counting only log text after offset ``after``)."""

        def ready() -> bool:
            if not self.child.running:
                raise AssertionError(f"worker exited with {self.child.returncode}; log:\n{self.log()}")
            return WORKER_READY_LINE in self.log()[after:]

        wait_for(ready, timeout=timeout, what="worker ready")

    def stop(self, **kw) -> None:
        self.child.stop(**kw)


def subscribed_topics(app) -> set[str]:
    """Every topic the worker's app reads: its agents' topics and its tables' changelogs (and internal topics)."""
    from dispatchbus.worker import internal_topics

    found = set(internal_topics(app))
    for agent in app.agents.values():
        found.update(getattr(agent.channel, "topics", ()))
    return found
