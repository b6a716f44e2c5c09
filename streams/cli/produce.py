"""`dispatchbus produce --topic T FILE.jsonl`: JSON-lines events onto a topic, as Avro."""

from __future__ import annotations

import argparse
import sys

from ..catalogue import lookup
from ..kafka.clients import EventProducer
from ..contract.jsonlines import LineError, read_events
from .common import add_connection_args, settings_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("produce", help="produce JSON-lines events to a catalogue topic")
    p.add_argument("--topic", required=True, help="catalogue name, e.g. cad.calls")
    p.add_argument("file", nargs="?", default="-", help="JSON-lines file (default: stdin)")
    add_connection_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    try:
        spec = lookup(args.topic, settings.topics)
    except KeyError as exc:
        print(f"dispatchbus produce: {exc.args[0]}", file=sys.stderr)
        return 2
    source = "<stdin>" if args.file == "-" else args.file
    try:
        stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
    except OSError as exc:
        print(f"dispatchbus produce: {source}: {exc.strerror}", file=sys.stderr)
        return 2
    producer = EventProducer(settings)
    sent = bad = 0
    with stream:
        for line, item in read_events(stream, source):
            if isinstance(item, LineError):
                print(f"error: {item}", file=sys.stderr)
                bad += 1
                continue
            if not isinstance(item, spec.value_types):
                print(
                    f"error: {source}:{line}: field 'type': {type(item).__name__} does not belong on "
                    f"{spec.name} (expects {', '.join(spec.value_type_names)})",
                    file=sys.stderr,
                )
                bad += 1
                continue
            producer.send(spec, item)
            sent += 1
    producer.flush()
    print(f"produced {sent} events to {spec.full_name(settings.topics)}; {bad} bad lines", file=sys.stderr)
    return 1 if bad else 0
