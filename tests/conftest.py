"""Shared fixtures: one embedded broker per test session, unique topic prefixes per test."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatchbus.kafka.admin import create_topics
from dispatchbus.dev.embedded_broker import EmbeddedBroker, isolated_settings
from dispatchbus.settings import Settings

from .support.worker import WorkerProcess


@pytest.fixture
def restore_switch_interval() -> Iterator[None]:
    """Puts the interpreter's switch interval back after a test that lets the worker's code change it."""
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """The embedded Kafka-protocol broker, started once per test session."""
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_file=log) as running:
        yield running


@pytest.fixture
def bus_settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    """Settings with a unique topic prefix; the catalogue's topics already exist."""
    settings = isolated_settings(broker.bootstrap_servers, tmp_path, f"t{uuid.uuid4().hex[:10]}")
    create_topics(settings)
    return settings


@pytest.fixture
def bus(bus_settings: Settings) -> Iterator:
    """The worker's Faust app built in the test process; its outbox's producer is closed at teardown.

    The app holds the outbox in reference cycles, so without the close its producer could outlive the
    session broker and log reconnection failures at the end of the run.
    """
    from dispatchbus.app import create_app

    built = create_app(bus_settings)
    yield built
    built.outbox.close(timeout=5)


@pytest.fixture
def start_worker(bus_settings: Settings, tmp_path: Path) -> Iterator:
    """Factory starting `dispatchbus worker` subprocesses; all are stopped at teardown."""
    started: list[WorkerProcess] = []

    def start(*extra_args: str, settings: Settings | None = None, wait: bool = True) -> WorkerProcess:
        worker = WorkerProcess(settings or bus_settings, tmp_path / f"worker-{len(started)}.log", extra_args)
        started.append(worker)
        worker.start()
        if wait:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


def pytest_configure(config: pytest.Config) -> None:
    """A TERM (e.g. a CI timeout) unwinds like Ctrl-C, so fixtures still stop brokers and workers."""
    import signal

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
