"""The brokers a developer or the tests can run here: the embedded tansu broker, or Apache Kafka.

Both have ``bootstrap_servers``, ``log_file``, ``pid``, ``running``, ``engine`` and
``client_tuning`` (the KafkaSettings their clients need), and are context managers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .embedded_broker import EmbeddedBroker
from .kafka_broker import DEFAULT_KAFKA_VERSION, KafkaBroker

Engine = Literal["tansu", "kafka"]

ENGINES: tuple[Engine, ...] = ("tansu", "kafka")

DEFAULT_ENGINE: Engine = "tansu"
"""What `dispatchbus broker` and `make demo` run unless told otherwise: it starts in a fraction of a second."""


def dev_broker(
    engine: str,
    run_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    kafka_version: str = DEFAULT_KAFKA_VERSION,
) -> EmbeddedBroker | KafkaBroker:
    """A broker of ``engine`` (not started), logging to ``run_dir/broker.log``; Kafka keeps its data there too."""
    log_file = run_dir / "broker.log"
    if engine == "tansu":
        return EmbeddedBroker(host, port, log_file=log_file)
    if engine == "kafka":
        return KafkaBroker(host, port, log_file=log_file, run_dir=run_dir / "kafka", version=kafka_version)
    raise ValueError(f"unknown broker engine {engine!r} (one of {', '.join(ENGINES)})")
