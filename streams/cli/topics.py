"""`dispatchbus topics create|list|describe`: the catalogue on the broker."""

from __future__ import annotations

import argparse
import sys

from ..kafka.admin import create_topics, describe_topics
from ..catalogue import topics_for
from .common import add_connection_args, settings_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("topics", help="create, list or describe the catalogue's topics")
    p.add_argument("action", choices=["create", "list", "describe"])
    add_connection_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    specs = topics_for(settings)  # the catalogue and the per-PSAP topics of DISPATCHBUS_FEEDBACK__PSAPS
    if args.action == "list":
        for spec in specs:
            print(spec.full_name(settings.topics))
        return 0
    if args.action == "create":
        created = create_topics(settings)
        for name in created:
            print(f"created {name}")
        print(f"{len(created)} created, {len(specs) - len(created)} already present")
        differing = [state for state in describe_topics(settings) if state.differences]
        for state in differing:  # existing topics are never changed: say what differs, and fail
            print(f"DIFFERS {state.name}: {'; '.join(state.differences)}", file=sys.stderr)
        if differing:
            print(f"{len(differing)} topic(s) differ from the catalogue", file=sys.stderr)
        return 1 if differing else 0
    differing = 0
    for state in describe_topics(settings):
        spec = state.spec
        have = "missing" if state.partitions is None else f"{state.partitions} partitions"
        differing += bool(state.differences)
        flags = " RESTRICTED" if spec.restricted else ""
        print(f"{state.name}  ({have}; catalogue {spec.partition_count(settings.topics)}){flags}")
        if state.differences and state.partitions is not None:
            print(f"    DIFFERS: {'; '.join(state.differences)}")
        print(f"    key: {spec.key}; values: {', '.join(spec.value_type_names)}")
        print(f"    producers: {', '.join(spec.producers)}; consumers: {', '.join(spec.consumers)}")
        print(f"    {spec.description}")
    if differing:
        print(f"{differing} topic(s) missing or different from the catalogue", file=sys.stderr)
    return 1 if differing else 0
