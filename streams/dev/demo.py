"""`make demo`: a development broker (embedded tansu, or Apache Kafka), the bus worker and simulated agencies, shown live."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console
from rich.live import Live

from ..kafka.admin import create_topics
from .embedded_broker import free_port
from .demo_view import Snapshot, fetch, render, summary_line
from .processes import WORKER_READY_LINE, worker_process
from ..settings import Settings


class DemoError(RuntimeError):
    """Something the demo depends on failed; the message says what and where its log is."""


def _wait_ready(worker, deadline: float) -> None:
    while WORKER_READY_LINE not in worker.log():
        if not worker.running:
            raise DemoError(f"the worker exited (code {worker.returncode}); see {worker.log_path}")
        if time.monotonic() > deadline:
            raise DemoError(f"the worker was not ready in time; see {worker.log_path}")
        time.sleep(0.2)


def run_demo(
    settings: Settings,
    *,
    duration: float | None,
    model: str,
    sim_config: str | None,
    engine: str | None,
    run_dir: Path,
    kafka_version: str | None = None,
    console: Console | None = None,
) -> int:
    """Run everything until ``duration`` seconds pass or Ctrl-C; always stops what it started.

    ``engine``: the development broker to start ("tansu" or "kafka"); None uses the settings' brokers.
    """
    from ..connectors.simulators import load_config, start_simulators, stop_simulators

    console = console or Console()
    stop = threading.Event()
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt  # unwinds like Ctrl-C, stopping everything started so far

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    config = load_config(sim_config) if sim_config else load_config(_packaged_demo_config())
    with ExitStack() as stack:
        for sig, handler in previous.items():
            stack.callback(signal.signal, sig, handler)
        if engine is not None:
            from .engines import dev_broker

            broker = dev_broker(engine, run_dir, **({"kafka_version": kafka_version} if kafka_version else {}))
            console.print("starting Apache Kafka …" if engine == "kafka" else "starting the embedded broker …")
            stack.enter_context(broker)
            settings.kafka = settings.kafka.model_copy(
                update={"bootstrap_servers": broker.bootstrap_servers, **broker.client_tuning}
            )
        settings.worker.clock = "event-time"  # the simulators' clock runs faster than real time
        settings.worker.policy_model = model  # type: ignore[assignment]
        settings.worker.web_port = free_port()
        settings.worker.data_dir = run_dir / "worker"
        settings.feedback.psaps = config.cad.psap_id  # the simulated call center gets its own feedback topics
        settings.feedback.timezone = config.timezone
        create_topics(settings)
        worker = worker_process(settings, run_dir / "worker.log")
        console.print(f"starting the bus worker ({model} reference policy) …")
        stack.enter_context(worker)
        _wait_ready(worker, time.monotonic() + 90)
        threads = start_simulators(settings, config, None, stop)
        stack.callback(stop_simulators, threads, stop)
        base = f"http://{settings.worker.web_host}:{settings.worker.web_port}"
        console.print(f"worker ready: {base}/metrics · {base}/calls · logs in {run_dir}/")
        return _show(console, base, stop, threads, worker, duration, title=f"dispatchbus demo · {model}")
    return 0


def _packaged_demo_config() -> str:
    from importlib import resources

    return str(resources.files("dispatchbus.connectors.simulators") / "demo.yaml")


def _show(console: Console, base: str, stop: threading.Event, threads, worker, duration, *, title: str) -> int:
    started = time.monotonic()
    last_line = 0.0

    def check() -> None:
        if not worker.running:
            raise DemoError(f"the worker exited (code {worker.returncode}); see {worker.log_path}")
        for t in threads:
            if t.error is not None:
                raise DemoError(f"simulator {t.name} failed: {t.error}")

    def done() -> bool:
        return stop.is_set() or (duration is not None and time.monotonic() - started >= duration)

    def snapshot() -> Snapshot | None:
        try:
            return fetch(base)
        except OSError:  # the web server is a moment behind "Worker ready", or busy
            return None

    if console.is_terminal:
        with Live(console=console, refresh_per_second=2, screen=False) as live:
            while not done():
                check()
                if (snap := snapshot()) is not None:
                    live.update(render(snap, elapsed=time.monotonic() - started, title=title))
                stop.wait(1.0)
        return 0
    while not done():
        check()
        if time.monotonic() - last_line >= 5 and (snap := snapshot()) is not None:
            last_line = time.monotonic()
            console.print(summary_line(snap, time.monotonic() - started))
        stop.wait(0.5)
    if (snap := snapshot()) is not None:
        console.print(summary_line(snap, time.monotonic() - started))
    return 0
