"""Start simulators in threads, and the ``python -m dispatchbus.connectors.simulators`` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from dispatchbus.kafka.admin import create_topics
from dispatchbus.settings import Settings

from .cad import CadSimulator
from .config import ConfigError, SimulatorConfig, load_config
from .console import ConsoleSimulator
from .hotline import HotlineSimulator
from .responders import ResponderSimulator
from .runtime import Clock, SimClock, Simulator

log = logging.getLogger(__name__)

SIMULATORS: dict[str, type[Simulator]] = {
    "cad": CadSimulator,
    "console": ConsoleSimulator,
    "hotline": HotlineSimulator,
    "responders": ResponderSimulator,
}
"""Every simulator by name, in start order."""


class SimulatorThread(threading.Thread):
    """Runs one simulator; ``error`` holds the exception that ended it, if any."""

    def __init__(self, simulator: Simulator, stop_event: threading.Event) -> None:
        super().__init__(name=f"sim-{simulator.name}", daemon=True)
        self.simulator = simulator
        self.stop_event = stop_event
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.simulator.run(self.stop_event)
        except BaseException as exc:  # reported through .error and the log
            self.error = exc
            log.exception("%s simulator failed", self.simulator.name)


def parse_names(names: str | Iterable[str] | None) -> list[str]:
    """Simulator names from ``"cad,console"`` or a list (None: all), in start order."""
    if names is None:
        return list(SIMULATORS)
    items = names.split(",") if isinstance(names, str) else list(names)
    wanted = {n.strip() for n in items if n.strip()}
    unknown = wanted - set(SIMULATORS)
    if unknown:
        raise ValueError(f"unknown simulator(s) {', '.join(sorted(unknown))}; choose from {', '.join(SIMULATORS)}")
    return [n for n in SIMULATORS if n in wanted]


def build_simulators(
    settings: Settings,
    config: SimulatorConfig | str | Path | None = None,
    names: str | Iterable[str] | None = None,
    *,
    clock: Clock | None = None,
) -> list[Simulator]:
    """The chosen simulators, sharing one simulated clock."""
    if not isinstance(config, SimulatorConfig):
        config = load_config(config)
    clock = clock or SimClock.from_config(config)
    return [SIMULATORS[n](config, settings=settings, clock=clock) for n in parse_names(names)]


def start_simulators(
    settings: Settings,
    config: SimulatorConfig | str | Path | None = None,
    names: str | Iterable[str] | None = None,
    stop_event: threading.Event | None = None,
    *,
    clock: Clock | None = None,
) -> list[SimulatorThread]:
    """Start the chosen simulators (default: all) in daemon threads; set ``stop_event`` to stop them.

    Topics must exist already (see :func:`dispatchbus.kafka.admin.create_topics`).
    Join the returned threads after setting ``stop_event``: each closes its
    clients on the way out.
    """
    stop_event = stop_event or threading.Event()
    threads = [SimulatorThread(sim, stop_event) for sim in build_simulators(settings, config, names, clock=clock)]
    for thread in threads:
        thread.start()
    return threads


def stop_simulators(threads: Iterable[SimulatorThread], stop_event: threading.Event, timeout: float = 15.0) -> None:
    """Set ``stop_event`` and wait for every thread to close its clients."""
    stop_event.set()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            log.warning("%s did not stop within %.0fs", thread.name, timeout)


# --- command line ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dispatchbus.connectors.simulators",
        description="Run agency simulators (911 CAD, clinicians' console, crisis hotline, "
        "community responders) against the bus's Kafka topics. All data is synthetic.",
    )
    parser.add_argument("--config", metavar="FILE", help="simulator config YAML (default: the packaged default.yaml)")
    parser.add_argument(
        "--only", metavar="NAMES", default=",".join(SIMULATORS),
        help=f"comma-separated simulators to run (default: {','.join(SIMULATORS)})",
    )
    parser.add_argument("--duration", metavar="S", type=float, help="stop after S real seconds (default: until Ctrl-C)")
    parser.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka bootstrap servers (default: from settings)")
    parser.add_argument("--topic-prefix", metavar="PREFIX", help="catalogue topic prefix (default: from settings)")
    parser.add_argument("--speed", type=float, help="override the config's speed (simulated s per real s)")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    parser.add_argument("--start-time", metavar="WHEN", help="override the config's start_time (ISO or HH:MM)")
    parser.add_argument(
        "--no-create-topics", action="store_true", help="do not create missing catalogue topics before starting"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
    )
    prog = "dispatchbus simulators"
    try:
        names = parse_names(args.only)
        config = load_config(args.config)
        overrides = {
            k: v
            for k, v in (("speed", args.speed), ("seed", args.seed), ("start_time", args.start_time))
            if v is not None
        }
        if overrides:
            config = config.with_overrides(**overrides)
    except (ConfigError, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2

    settings = Settings()
    if args.bootstrap:
        settings.kafka.bootstrap_servers = args.bootstrap
    if args.topic_prefix is not None:
        settings.topics.prefix = args.topic_prefix
    if not args.no_create_topics:
        try:
            created = create_topics(settings)
        except Exception as exc:  # confluent-kafka raises KafkaException or times out
            print(f"{prog}: cannot create topics on {settings.kafka.bootstrap_servers}: {exc}", file=sys.stderr)
            return 1
        if created:
            log.info("created %d topics", len(created))

    stop_event = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop_event.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    threads: list[SimulatorThread] = []
    try:
        threads = start_simulators(settings, config, names, stop_event)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while not stop_event.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not any(t.is_alive() for t in threads):
                break
            stop_event.wait(0.2)
    finally:
        stop_simulators(threads, stop_event)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    failed = [t for t in threads if t.error is not None]
    return 1 if failed else 0
