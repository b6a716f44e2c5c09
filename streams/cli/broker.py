"""`dispatchbus broker`: run the embedded Kafka-protocol broker until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from ..kafka.admin import create_topics
from ..dev.embedded_broker import EMBEDDED_KAFKA_TUNING, BrokerError, EmbeddedBroker, embedded_kafka
from ..settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("broker", help="run the embedded broker (development and tests only)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default: a free port")
    p.add_argument("--create-topics", action="store_true", help="create the catalogue's topics once ready")
    p.add_argument("--topic-prefix", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    broker = EmbeddedBroker(args.host, args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        broker.start()
    except BrokerError as exc:
        print(f"dispatchbus broker: {exc}", file=sys.stderr)
        return 1
    try:
        if args.create_topics:
            settings = Settings()
            settings.kafka.bootstrap_servers = broker.bootstrap_servers
            if args.topic_prefix is not None:
                settings.topics.prefix = args.topic_prefix
            create_topics(settings)
        print(f"embedded broker listening on {broker.bootstrap_servers}", flush=True)
        env = Settings(kafka=embedded_kafka(broker.bootstrap_servers)).to_env()
        wanted = ["BOOTSTRAP_SERVERS", *(k.upper() for k in EMBEDDED_KAFKA_TUNING)]
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
