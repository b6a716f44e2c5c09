"""`dispatchbus` command line: one module per subcommand, each with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = (
    "broker",
    "topics",
    "acls",
    "schemas",
    "produce",
    "consume",
    "worker",
    "policy",
    "route",
    "calls",
    "feedback",
    "demo",
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered, or only ``command``'s if it names one.

    A subcommand's module imports what it needs (the contract, Kafka clients,
    Faust); importing them all costs a fraction of a second that a short
    command or a timed offline run should not pay.
    """
    parser = argparse.ArgumentParser(
        prog="dispatchbus",
        description="Event bus between 911 CAD, clinicians, crisis hotlines and responder teams.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in (command,) if command in SUBCOMMANDS else SUBCOMMANDS:
        importlib.import_module(f"dispatchbus.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
