"""`dispatchbus demo`: the bus with simulated agencies, live in the terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_connection_args, settings_from_args


def register(sub: argparse._SubParsersAction) -> None:
    from ..dev.engines import DEFAULT_ENGINE, ENGINES

    p = sub.add_parser("demo", help="run broker, worker and simulated agencies and show calls moving")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: Ctrl-C)")
    p.add_argument(
        "--model", default="external-hotline", choices=["911-led", "embedded-professional", "external-hotline"],
        help="reference routing policy to run (default: external-hotline)",
    )
    p.add_argument("--sim-config", default=None, help="simulator config YAML (default: the packaged demo.yaml)")
    p.add_argument("--run-dir", default=".run/demo", help="where logs go (and Apache Kafka's data)")
    p.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                   help="the development broker to start unless --bootstrap names one: tansu (embedded, "
                   "default) or kafka (Apache Kafka KRaft from Maven's jars)")
    p.add_argument("--kafka-version", default=None, help="with --engine kafka (default: docker-compose.yml's)")
    add_connection_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dev.embedded_broker import BrokerError
    from ..dev.demo import DemoError, run_demo

    settings = settings_from_args(args)
    try:
        return run_demo(
            settings,
            duration=args.duration,
            model=args.model,
            sim_config=args.sim_config,
            engine=args.engine if args.bootstrap is None else None,
            run_dir=Path(args.run_dir),
            kafka_version=args.kafka_version,
        )
    except (DemoError, BrokerError) as exc:
        print(f"dispatchbus demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 0
