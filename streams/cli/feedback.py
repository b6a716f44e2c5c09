"""`dispatchbus feedback show PSAP_ID [--date D] | list`: outcome digests from a running worker."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse

from rich.console import Console
from rich.table import Table

from .common import WorkerViewError, add_worker_arg, get_json, settings_from_args, worker_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("feedback", help="outcome digests of a PSAP and its call takers, from a running worker")
    p.add_argument("action", choices=["show", "list"])
    p.add_argument("psap_id", nargs="?", help="for show")
    p.add_argument("--date", default=None, metavar="YYYY-MM-DD", help="for show: the day (default: the latest)")
    add_worker_arg(p)
    p.add_argument("--json", action="store_true", help="print the raw JSON")
    p.set_defaults(func=run)




def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def dur(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _outcomes(d: dict) -> str:
    return ", ".join(f"{o['category']} {o['calls']}" for o in d.get("outcomes", []))


SUMMARY_COLUMNS = ("calls", "diverted", "resolved w/o police", "police backup", "median to on scene", "p90")


def summary_cells(d: dict) -> list[str]:
    """The summary figures of one digest, as table cells."""
    return [
        str(d["calls"]),
        str(d["diverted_calls"]),
        f"{pct(d['share_resolved_without_police'])} ({d['resolved_without_police']})",
        f"{pct(d['police_backup_rate'])} ({d['police_backup']})",
        dur(d["median_seconds_to_on_scene"]),
        dur(d["p90_seconds_to_on_scene"]),
    ]


def show_psap(view: dict, console: Console) -> None:
    """Print a PSAP's day and week digests and its call takers'."""
    console.print(
        f"[bold]{view['psap_id']}[/] · outcomes of calls received on {view['date']} and that week "
        f"({view['timezone']}) · shares are of the calls diverted from police"
    )
    summary = Table(title="PSAP")
    for col in ("window", *SUMMARY_COLUMNS):
        summary.add_column(col, justify="left" if col == "window" else "right")
    for window in ("day", "week"):
        d = view.get(window)
        if d:
            summary.add_row(f"{window} from {d['window_start'][:10]}", *summary_cells(d))
    console.print(summary)
    day = view.get("day")
    if day and day["routes"]:
        routes = Table(title="Day, by first decision")
        for col in ("first target", "calls", "outcomes", "resolved w/o police", "police backup", "median to on scene"):
            routes.add_column(col)
        for r in day["routes"]:
            routes.add_row(r["first_target"], str(r["calls"]), _outcomes(r), str(r["resolved_without_police"]),
                           str(r["police_backup"]), dur(r["median_seconds_to_on_scene"]))
        console.print(routes)
    if view.get("call_takers"):
        takers = Table(title="Call takers")
        for col in ("call taker", "window", *SUMMARY_COLUMNS):
            takers.add_column(col, justify="left" if col in ("call taker", "window") else "right")
        for t in view["call_takers"]:
            for window in ("day", "week"):
                if t.get(window):
                    takers.add_row(t["call_taker_id"], window, *summary_cells(t[window]))
        console.print(takers)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    base = worker_url(args, settings)
    console = Console()
    try:
        if args.action == "show":
            if not args.psap_id:
                print("dispatchbus feedback show: a PSAP_ID is required", file=sys.stderr)
                return 2
            query = f"?date={urllib.parse.quote(args.date)}" if args.date else ""
            data = get_json(f"{base}/feedback/{urllib.parse.quote(args.psap_id, safe='')}{query}", settings)
        else:
            data = get_json(f"{base}/feedback", settings)
    except WorkerViewError as exc:
        print(f"dispatchbus feedback: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if args.action == "show":
        show_psap(data, console)
        return 0
    table = Table(title=f"Outcome feedback by PSAP ({data.get('timezone', 'UTC')})")
    for col in ("PSAP", "window", *SUMMARY_COLUMNS):
        table.add_column(col, justify="left" if col in ("PSAP", "window") else "right")
    for d in data["digests"]:
        table.add_row(d["psap_id"], f"{d['window']} from {d['window_start'][:10]}", *summary_cells(d))
    console.print(table)
    return 0
