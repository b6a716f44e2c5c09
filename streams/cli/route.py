"""`dispatchbus route`: route calls from JSON lines offline: each call's decisions, first and after new facts."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

from dispatchbus.policy.loader import PolicyError, load_policy, load_reference_policy
from dispatchbus.policy.offline import route_bytes, route_file
from dispatchbus.policy.spec import MODELS


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``route`` subcommand."""
    parser = sub.add_parser(
        "route",
        help="route calls from JSON lines offline",
        description=(
            "Read CallReceived, CallUpdated and UnitStatus events as JSON lines and write each call's "
            "RoutingDecision lines to stdout, in input order: its first decision, then those its later "
            "updates cause (new facts run the safety gate again, as in the live worker). Unit statuses "
            "count by event time, wherever they appear in the input; other event types are ignored. "
            "Bad lines are reported on stderr (file:line: field: message) and skipped; the exit code is then 1."
        ),
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", choices=MODELS, help="use the shipped reference policy of this dispatch model")
    which.add_argument("--policy", metavar="FILE", help="use this policy file")
    parser.add_argument("input", nargs="?", default="-", help="JSON-lines input file (default: stdin)")
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worker processes for large inputs (default: %(default)s)",
    )
    parser.add_argument("--stats", action="store_true", help="print counts and throughput on stderr")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Route the input; exit code 1 if the policy or any input line was bad, 2 if the input cannot be read."""
    try:
        policy = load_reference_policy(args.model) if args.model else load_policy(args.policy)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 1

    stdout, stderr = sys.stdout, sys.stderr
    from dispatchbus.lifecycle.transitions import decision_chain

    options = {
        "write": stdout.write,
        "report": lambda err: print(err, file=stderr),
        "jobs": max(1, getattr(args, "jobs", 1)),
        "follow": decision_chain(policy),
    }
    started = time.perf_counter()
    if args.input == "-":
        source = "<stdin>"
        stats = route_bytes(policy, sys.stdin.buffer.read(), source=source, **options)
    else:
        source = args.input
        try:
            stats = route_file(policy, args.input, source=source, **options)
        except OSError as exc:
            print(f"{source}: cannot read: {exc.strerror or exc}", file=stderr)
            return 2
    stdout.flush()
    elapsed = time.perf_counter() - started

    if stats.ignored:
        kinds = ", ".join(f"{name} {count}" for name, count in sorted(stats.ignored.items()))
        print(f"route: ignored {sum(stats.ignored.values())} other events ({kinds})", file=stderr)
    if stats.bad_lines:
        print(f"route: {stats.bad_lines} bad line(s) in {source}", file=stderr)
    if getattr(args, "stats", False):
        events = stats.calls + stats.statuses + stats.updates
        rate = events / elapsed if elapsed > 0 else float("inf")
        print(
            f"route: {stats.calls} calls, {stats.statuses} unit statuses, {stats.updates} call updates, "
            f"policy {policy.label()}, "
            f"{elapsed:.2f} s, {rate:,.0f} events/s, peak RSS {peak_rss_mib():.0f} MiB",
            file=stderr,
        )
    return 1 if stats.bad_lines else 0


def peak_rss_mib() -> float:
    """The peak resident memory of this program and of its ended worker processes, in MiB.

    Linux's ``VmHWM`` is read rather than ``getrusage(RUSAGE_SELF)``, which also
    keeps the peak of the process image before ``exec``: that of whatever
    large process forked this one (e.g. the benchmark).
    """
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    try:
        with open("/proc/self/status") as status:
            own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(own, children) / 1024


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="dispatchbus")
    register(_parser.add_subparsers(dest="command", required=True))
    _args = _parser.parse_args(["route", *sys.argv[1:]])
    sys.exit(_args.func(_args))
