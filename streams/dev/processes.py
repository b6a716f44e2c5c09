"""Child processes that are always stopped: the worker under the demo and under tests."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..settings import Settings


def dispatchbus_command(*args: str) -> list[str]:
    """argv running a dispatchbus subcommand with this interpreter."""
    return [sys.executable, "-m", "dispatchbus.cli.main", *args]


def child_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with every DISPATCHBUS_* variable taken from ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHBUS_")}
    env.update(settings.to_env())
    env.update(extra or {})
    return env


def _die_with_parent(parent: int) -> None:
    """In the child, before exec: ask Linux to TERM it when the parent dies (even by SIGKILL).

    A parent that died between the fork and this request sends no signal, so
    the child checks that ``parent`` is still its parent and exits otherwise.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


def child_preexec() -> object:
    """``preexec_fn`` for every child we start (None off Linux)."""
    return functools.partial(_die_with_parent, os.getpid()) if sys.platform.startswith("linux") else None


def stop_process_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Signal a child started with ``start_new_session`` and its group; KILL after ``timeout``; reap it."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class ChildProcess:
    """A subprocess in its own session, logging to a file; ``stop()`` sends TERM, then KILL."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = None

    def start(self) -> ChildProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=child_preexec(),  # type: ignore[arg-type]
        )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Signal the whole process group and reap it; escalate to KILL after ``timeout``."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process_group(proc, sig, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ChildProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def worker_process(settings: Settings, log_path: Path, *args: str) -> ChildProcess:
    """`dispatchbus worker` configured by ``settings``."""
    return ChildProcess(dispatchbus_command("worker", *args), child_env(settings), log_path)


WORKER_READY_LINE = "Worker ready"
"""Faust logs this once the worker has joined its group and started its agents."""
