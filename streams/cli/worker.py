"""`dispatchbus worker`: the Faust worker (creates the catalogue's topics first)."""

from __future__ import annotations

import argparse

from .common import add_connection_args, settings_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run the bus's Faust worker")
    add_connection_args(p)
    p.add_argument("--web-port", type=int, default=None, help="port of /metrics and the web views")
    p.add_argument("--policy", default=None, help="routing policy file (default: from settings)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from ..kafka.admin import TopicLayoutError
    from ..worker import run_worker

    settings = settings_from_args(args)
    if args.web_port is not None:
        settings.worker.web_port = args.web_port
    if args.policy:
        settings.worker.policy_file = args.policy
    try:
        return run_worker(settings)
    except TopicLayoutError as exc:
        print(f"dispatchbus worker: refusing to start: {exc}", file=sys.stderr)
        return 2
