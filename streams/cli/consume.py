"""`dispatchbus consume --topic T`: a topic's events as JSON lines on stdout."""

from __future__ import annotations

import argparse
import json
import sys

from ..catalogue import lookup
from ..kafka.clients import TopicReader
from ..contract.jsonlines import to_json_line
from .common import add_connection_args, settings_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("consume", help="print a catalogue topic's events as JSON lines")
    p.add_argument("--topic", required=True, help="catalogue name, e.g. bus.decisions")
    p.add_argument("--max", type=int, default=None, help="stop after this many records")
    p.add_argument(
        "--idle-timeout", type=float, default=2.0, help="stop after this many seconds without records (0: follow)"
    )
    add_connection_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    try:
        spec = lookup(args.topic, settings.topics)
        reader = TopicReader(settings, spec)
    except KeyError as exc:
        print(f"dispatchbus consume: {exc.args[0]}", file=sys.stderr)
        return 2
    bad = 0
    with reader:
        for rec in reader.iter(idle_timeout=args.idle_timeout or None, max_records=args.max):
            if rec.error is not None:
                bad += 1
                print(
                    json.dumps({"error": str(rec.error), "partition": rec.partition, "offset": rec.offset}),
                    file=sys.stderr,
                )
                continue
            sys.stdout.write(to_json_line(rec.event) + "\n")
            sys.stdout.flush()
    return 1 if bad else 0
