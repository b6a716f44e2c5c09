"""`dispatchbus broker`: run a development broker until Ctrl-C (the embedded tansu broker, or Apache Kafka)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from ..kafka.admin import create_topics
from ..dev.embedded_broker import BrokerError
from ..settings import KafkaSettings, Settings


def register(sub: argparse._SubParsersAction) -> None:
    from ..dev.engines import DEFAULT_ENGINE, ENGINES
    from ..dev.kafka_broker import DEFAULT_KAFKA_VERSION

    p = sub.add_parser("broker", help="run a development broker: embedded tansu or Apache Kafka (not for production)")
    p.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                   help=f"tansu: embedded, in memory; kafka: Apache Kafka KRaft from Maven's jars (default: {DEFAULT_ENGINE})")
    p.add_argument("--kafka-version", default=DEFAULT_KAFKA_VERSION, help=f"with --engine kafka (default: {DEFAULT_KAFKA_VERSION})")
    p.add_argument("--run-dir", default=".run/broker", help="its log, and Apache Kafka's data (formatted afresh)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default: a free port")
    p.add_argument("--create-topics", action="store_true", help="create the catalogue's topics once ready")
    p.add_argument("--topic-prefix", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dev.engines import dev_broker

    broker = dev_broker(args.engine, Path(args.run_dir), host=args.host, port=args.port,
                        kafka_version=args.kafka_version)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if args.engine == "kafka":
            print(f"starting Apache Kafka {args.kafka_version} (data in {broker.run_dir}) …", flush=True)
        broker.start()
    except BrokerError as exc:
        print(f"dispatchbus broker: {exc}", file=sys.stderr)
        return 1
    try:
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, **broker.client_tuning)
        if args.create_topics:
            settings = Settings(kafka=kafka)
            if args.topic_prefix is not None:
                settings.topics.prefix = args.topic_prefix
            create_topics(settings)
        what = "Apache Kafka" if args.engine == "kafka" else "embedded broker"
        print(f"{what} listening on {broker.bootstrap_servers} (log: {broker.log_file})", flush=True)
        env = Settings(kafka=kafka).to_env()
        wanted = ["BOOTSTRAP_SERVERS", *(k.upper() for k in broker.client_tuning)]
        print("export " + " ".join(f"DISPATCHBUS_KAFKA__{k}={env['DISPATCHBUS_KAFKA__' + k]}" for k in wanted),
              flush=True)
        while not stop.wait(0.5):
            if not broker.running:
                print("dispatchbus broker: the broker exited", file=sys.stderr)
                return 1
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop()
