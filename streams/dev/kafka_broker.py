"""Apache Kafka (KRaft, one node) from Maven Central's jars, for development and tests.

The same interface as the embedded broker (:class:`dispatchbus.dev.embedded_broker.EmbeddedBroker`): a context
manager with ``bootstrap_servers``, ``log_file``, ``pid`` and ``running``; and, since its log dirs
persist, :meth:`KafkaBroker.kill` (SIGKILL) and :meth:`KafkaBroker.restart` on the same dirs and ports.

The jars come from ``deploy/jvm/kafka/pom.xml``: :func:`ensure_jars` copies them once into
``.run/jvm/kafka-<version>/lib`` (``make kafka-jars``; Maven's own cache makes it cheap to redo) and
writes a stamp that says it is done. Needs ``java`` (17+) and, to resolve, ``mvn``.

    python -m dispatchbus.dev.kafka_broker resolve [--version 4.1.1]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

from .embedded_broker import BrokerError, free_port, wait_until_answering

log = logging.getLogger(__name__)

DEFAULT_KAFKA_VERSION = "3.9.1"
"""The version docker-compose.yml runs."""

KAFKA_CLIENT_TUNING: Mapping[str, object] = {}
"""KafkaSettings every client of Apache Kafka needs: none, the defaults are meant for it."""

HEAP = "512m"
"""The JVM's largest heap: enough for the test suite's topics, small for a 2-core, shared machine."""

_POM_REL = Path("deploy/jvm/kafka/pom.xml")
_STAMP = ".resolved"

_LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.log.UnifiedLog=WARN
log4j.logger.org.apache.kafka.server.config=WARN
log4j.logger.kafka.server.KafkaConfig=WARN
log4j.logger.org.apache.kafka.common.config.AbstractConfig=WARN
"""
"""Kafka 3.x logs through reload4j; this configuration is its console, i.e. the log file."""

_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = warn
logger.storage.name = org.apache.kafka.storage.internals.log
logger.storage.level = warn
logger.unified.name = kafka.log.UnifiedLog
logger.unified.level = warn
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = warn
logger.kconfig.name = kafka.server.KafkaConfig
logger.kconfig.level = warn
"""
"""Kafka 4.x logs through Log4j 2."""


def repository_root() -> Path:
    """The checkout this package runs from (the folder holding ``deploy/jvm/kafka/pom.xml``)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / _POM_REL).is_file():
            return parent
    raise BrokerError(f"cannot find {_POM_REL} above {Path(__file__).resolve().parent}: run from a checkout")


def jars_home(version: str = DEFAULT_KAFKA_VERSION, root: Path | None = None) -> Path:
    """Where the jars of ``version`` are cached: ``.run/jvm/kafka-<version>`` (its ``lib`` and stamp)."""
    return (root or repository_root()) / ".run" / "jvm" / f"kafka-{version}"


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def maven_command(version: str, output_dir: Path, pom: Path) -> list[str]:
    """The Maven command that copies the jars of ``version`` into ``output_dir``."""
    cmd = ["mvn", "-q", "-B", "-f", str(pom)]
    if version.split(".")[0] != "3":
        cmd.append("-Pkafka4")  # Log4j 2 as the backend instead of reload4j
    return [*cmd, f"-Dkafka.version={version}", "dependency:copy-dependencies", f"-DoutputDirectory={output_dir}"]


def ensure_jars(version: str = DEFAULT_KAFKA_VERSION, root: Path | None = None) -> Path:
    """The ``lib`` folder holding Kafka ``version``'s jars; resolved with Maven unless its stamp says done.

    The stamp records the pom's digest: a changed pom resolves again.
    """
    root = root or repository_root()
    pom = root / _POM_REL
    home = jars_home(version, root)
    lib, stamp = home / "lib", home / _STAMP
    wanted = f"{version} {_pom_digest(pom)}"
    if stamp.is_file() and stamp.read_text().strip() == wanted and any(lib.glob("kafka_2.13-*.jar")):
        stamp.touch()  # newer than the pom again: make's target is up to date
        return lib
    if shutil.which("mvn") is None:
        raise BrokerError("resolving Apache Kafka's jars needs Maven ('mvn'; apt-get install maven)")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    log.info("resolving Apache Kafka %s with Maven into %s", version, lib)
    done = subprocess.run(maven_command(version, lib, pom), capture_output=True, text=True)
    if done.returncode != 0 or not any(lib.glob("kafka_2.13-*.jar")):
        raise BrokerError(f"Maven could not resolve Apache Kafka {version}:\n{(done.stdout + done.stderr)[-3000:]}")
    stamp.write_text(wanted + "\n")
    return lib


def java_binary() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise BrokerError("Apache Kafka needs Java 17+ ('java'; apt-get install openjdk-17-jre-headless)")
    return found


def random_cluster_id() -> str:
    """A cluster id as ``kafka-storage random-uuid`` makes them (URL-safe base64 of 16 bytes, not '-' first)."""
    while True:
        encoded = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not encoded.startswith("-"):
            return encoded


class KafkaBroker:
    """One Apache Kafka node (broker and controller, KRaft) on loopback ports, its data under ``run_dir``.

    :meth:`start` formats the log dirs afresh; :meth:`restart` starts again on them. Use as a context
    manager or call start()/stop().
    """

    engine = "kafka"
    client_tuning: Mapping[str, object] = KAFKA_CLIENT_TUNING

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_file: Path | None = None,
        *,
        run_dir: Path | None = None,
        version: str = DEFAULT_KAFKA_VERSION,
        heap: str = HEAP,
        broker_config: Mapping[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.controller_port = free_port(host)
        self.run_dir = (run_dir or jars_home(version).parent.parent / "kafka").resolve()
        self.log_file = log_file or self.run_dir / "kafka.log"
        self.version = version
        self.heap = heap
        self.extra_config = dict(broker_config or {})
        self.cluster_id: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def config_file(self) -> Path:
        return self.run_dir / "server.properties"

    def server_properties(self) -> dict[str, str]:
        """The node's configuration: production's broker settings (docker-compose.yml) for one node."""
        listeners = f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}"
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "listeners": listeners,
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # A node restarted after a SIGKILL cannot register until its old registration's session
            # expires (9 s by default): on one node that is all of it, so expire it sooner.
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "3000",
            **self.extra_config,
        }

    def _write_config(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        lines = [f"{k}={v}" for k, v in self.server_properties().items()]
        self.config_file.write_text("\n".join(lines) + "\n")
        (self.run_dir / "log4j.properties").write_text(_LOG4J)
        (self.run_dir / "log4j2.properties").write_text(_LOG4J2)

    def _java(self, lib: Path, main: str, *args: str) -> list[str]:
        return [
            java_binary(),
            f"-Xmx{self.heap}", "-Xms128m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.run_dir / 'log4j.properties'}",
            f"-Dlog4j2.configurationFile={self.run_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.run_dir / 'logs'}",
            "-cp", f"{lib}/*", main, *args,
        ]

    def format(self) -> None:
        """Wipe the log dirs and format them for a new cluster (the storage tool, a random cluster id)."""
        lib = ensure_jars(self.version)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self._write_config()
        self.cluster_id = random_cluster_id()
        cmd = self._java(lib, "kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", str(self.config_file))
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise BrokerError(f"formatting the Kafka log dirs failed:\n{(done.stdout + done.stderr)[-3000:]}")

    def start(self, timeout: float = 90.0) -> KafkaBroker:
        """Format fresh log dirs, start the node and wait until it answers Kafka metadata requests."""
        self.format()
        return self._launch(timeout)

    def restart(self, timeout: float = 90.0) -> KafkaBroker:
        """Start the node again on the same log dirs and ports (after :meth:`kill` or :meth:`stop`)."""
        if self.running:
            raise BrokerError("the Kafka broker is still running")
        if not (self.data_dir / "meta.properties").is_file():
            raise BrokerError(f"no formatted log dirs in {self.data_dir}: start() first")
        return self._launch(timeout)

    def _launch(self, timeout: float) -> KafkaBroker:
        from .processes import child_preexec

        lib = ensure_jars(self.version)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log_handle = open(self.log_file, "ab")
        cmd = self._java(lib, "kafka.Kafka", str(self.config_file))
        try:
            self._proc = subprocess.Popen(
                cmd, stdout=self._log_handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=child_preexec(),  # type: ignore[arg-type]
            )
        except OSError as exc:
            self._close_log()
            raise BrokerError(f"cannot run java: {exc}") from exc
        try:
            wait_until_answering(self._proc, self.host, self.port, timeout, f"Apache Kafka (log: {self.log_file})")
        except BaseException:
            self.stop()
            raise
        log.info("Apache Kafka %s ready on %s (pid %s)", self.version, self.bootstrap_servers, self._proc.pid)
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the node (TERM: a controlled shutdown, then KILL after ``timeout``) and reap it."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL the node, as a crash would; :meth:`restart` brings it back on the same log dirs."""
        self._signal(signal.SIGKILL, 10.0)

    def _signal(self, sig: int, timeout: float) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            from .processes import stop_process_group

            stop_process_group(proc, sig, timeout)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_handle:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dispatchbus.dev.kafka_broker")
    sub = parser.add_subparsers(dest="command", required=True)
    resolve = sub.add_parser("resolve", help="resolve and cache Apache Kafka's jars (once)")
    resolve.add_argument("--version", default=DEFAULT_KAFKA_VERSION)
    args = parser.parse_args(argv)
    try:
        print(ensure_jars(args.version))
    except BrokerError as exc:
        print(f"kafka_broker: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
