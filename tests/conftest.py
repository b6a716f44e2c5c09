"""Shared fixtures: one broker per test session, unique topic prefixes per test.

The session's broker is Apache Kafka unless ``--engine tansu`` (or ``DISPATCHBUS_TEST_ENGINE=tansu``)
asks for the embedded broker. Apache Kafka's jars are resolved with Maven the first time
(``make kafka-jars``). Every test that uses the broker carries the ``broker`` marker.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatchbus.kafka.admin import create_topics
from dispatchbus.dev.embedded_broker import EmbeddedBroker, isolated_settings
from dispatchbus.dev.engines import ENGINES, dev_broker
from dispatchbus.dev.kafka_broker import DEFAULT_KAFKA_VERSION, KafkaBroker
from dispatchbus.dev.kafka_security import SecuredKafkaBroker
from dispatchbus.settings import Settings

from .support.worker import WorkerProcess


@pytest.fixture
def restore_switch_interval() -> Iterator[None]:
    """Puts the interpreter's switch interval back after a test that lets the worker's code change it."""
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


TEST_ENGINE_ENV = "DISPATCHBUS_TEST_ENGINE"
TEST_KAFKA_VERSION_ENV = "DISPATCHBUS_TEST_KAFKA_VERSION"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--engine", choices=ENGINES, default=os.environ.get(TEST_ENGINE_ENV) or "kafka",
        help=f"the session broker: Apache Kafka (default) or the embedded tansu broker (env {TEST_ENGINE_ENV})",
    )
    parser.addoption(
        "--kafka-version", default=os.environ.get(TEST_KAFKA_VERSION_ENV) or DEFAULT_KAFKA_VERSION,
        help=f"Apache Kafka's version for --engine kafka (env {TEST_KAFKA_VERSION_ENV}; default {DEFAULT_KAFKA_VERSION})",
    )


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs the session broker is a ``broker`` test (``-m broker`` selects them all)."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "kafka" in names and not item.get_closest_marker("kafka"):
            item.add_marker(pytest.mark.kafka)
        if ("broker" in names or "kafka" in names) and not item.get_closest_marker("broker"):
            item.add_marker(pytest.mark.broker)


def pytest_report_header(config: pytest.Config) -> str:
    engine = config.getoption("engine")
    return f"dispatchbus broker engine: {engine}" + (
        f" {config.getoption('kafka_version')}" if engine == "kafka" else ""
    )


@pytest.fixture(scope="session")
def broker_engine(request: pytest.FixtureRequest) -> str:
    """The session's engine ("kafka" or "tansu"), for tests that start a broker of their own (the demo)."""
    return request.config.getoption("engine")


@pytest.fixture(scope="session")
def broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[EmbeddedBroker | KafkaBroker]:
    """The session's broker (``--engine``), started once per test session and stopped at its end."""
    engine, version = request.config.getoption("engine"), request.config.getoption("kafka_version")
    with dev_broker(engine, tmp_path_factory.mktemp("broker"), kafka_version=version) as running:
        yield running


@pytest.fixture(scope="session")
def secured_broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[SecuredKafkaBroker]:
    """Apache Kafka with SASL_SSL (SCRAM-SHA-512), mutual-TLS listeners and the standard authorizer.

    Whatever ``--engine`` says: the embedded broker has no authentication, TLS or ACLs. Started once,
    by the first test that needs it, and stopped at the session's end.
    """
    run_dir = tmp_path_factory.mktemp("secured-broker")
    with SecuredKafkaBroker(log_file=run_dir / "broker.log", run_dir=run_dir / "kafka",
                            version=request.config.getoption("kafka_version")) as running:
        yield running


def _prefixed_settings(broker: EmbeddedBroker | KafkaBroker, tmp_path: Path) -> Settings:
    settings = isolated_settings(
        broker.bootstrap_servers, tmp_path, f"t{uuid.uuid4().hex[:10]}", broker.client_tuning
    )
    create_topics(settings)
    return settings


@pytest.fixture
def bus_settings(broker: EmbeddedBroker | KafkaBroker, tmp_path: Path) -> Settings:
    """Settings with a unique topic prefix; the catalogue's topics already exist."""
    return _prefixed_settings(broker, tmp_path)


@pytest.fixture(scope="session")
def kafka(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """Apache Kafka itself, for the ``kafka`` tests (topic configs it enforces, its transactions): the
    session's broker under ``--engine kafka``, else one of its own for the session."""
    if request.config.getoption("engine") == "kafka":
        yield request.getfixturevalue("broker")
        return
    with KafkaBroker(run_dir=tmp_path_factory.mktemp("kafka"), version=request.config.getoption("kafka_version")) as running:
        yield running


@pytest.fixture
def kafka_settings(kafka: KafkaBroker, tmp_path: Path) -> Settings:
    """As ``bus_settings``, on Apache Kafka (``kafka``)."""
    return _prefixed_settings(kafka, tmp_path)


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
