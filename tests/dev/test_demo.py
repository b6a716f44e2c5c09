"""`dispatchbus demo` runs end to end and never leaves a process behind."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ..support.waiting import wait_for

pytestmark = pytest.mark.broker


def processes_using(run_dir: Path) -> list[int]:
    """PIDs whose command line, environment or open files mention ``run_dir`` (demo, worker, broker log)."""
    needle = str(run_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        try:
            blob += b"".join(os.readlink(fd).encode() for fd in (entry / "fd").iterdir())
        except OSError:
            pass
        if needle in blob:
            found.append(int(entry.name))
    return found


def wait_until_gone(run_dir: Path, timeout: float) -> None:
    """Wait until no process uses ``run_dir``; on a timeout, name the ones still running."""
    try:
        wait_for(lambda: not processes_using(run_dir), timeout=timeout, what="demo children gone")
    except AssertionError:
        left = []
        for pid in processes_using(run_dir):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            left.append(f"{pid}: {cmdline[:200]}")
        raise AssertionError(f"still running {timeout:g} s after the demo ended: {left}") from None


def start_demo(run_dir: Path, engine: str, *args: str) -> subprocess.Popen:
    """`dispatchbus demo` on a broker of the session's engine, started by the demo itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHBUS_")}
    return subprocess.Popen(
        [sys.executable, "-m", "dispatchbus.cli.main", "demo", "--run-dir", str(run_dir), "--engine", engine, *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find child processes")
def test_demo_runs_for_its_duration_and_stops_everything(tmp_path, broker_engine):
    run_dir = tmp_path / "demo"
    demo = start_demo(run_dir, broker_engine, "--duration", "20")
    try:
        out, _ = demo.communicate(timeout=240)
    finally:
        demo.kill()
    assert demo.returncode == 0, out
    assert "worker ready" in out and "decisions" in out
    assert (run_dir / "worker.log").exists()
    wait_until_gone(run_dir, timeout=20)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find child processes")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_demo_leaves_no_broker_or_worker(tmp_path, sig, broker_engine):
    run_dir = tmp_path / "demo"
    demo = start_demo(run_dir, broker_engine)
    try:
        # the demo itself, the broker (its log) and the worker
        wait_for(lambda: (run_dir / "worker.log").exists() and len(processes_using(run_dir)) >= 3,
                 timeout=120, what="broker and worker started")
        os.kill(demo.pid, sig)
        demo.wait(timeout=60)
    finally:
        demo.kill()
    # The children stop on the SIGTERM the kernel sends when their parent dies, each gracefully, and
    # on a loaded machine that can take a while; what matters is that none is left behind.
    wait_until_gone(run_dir, timeout=90)
