"""`dispatchbus calls show CALL_ID | list [--status S]`: a call's timeline from the worker."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse

from rich.console import Console
from rich.table import Table

from .common import WorkerViewError, add_worker_arg, get_json, settings_from_args, worker_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calls", help="show a call's timeline, or the calls waiting, from a running worker")
    p.add_argument("action", choices=["show", "list"])
    p.add_argument("call_id", nargs="?", help="for show")
    p.add_argument("--status", default=None, help="for list, e.g. waiting (oldest first)")
    p.add_argument("--limit", type=int, default=None, help="for list: calls per page (the worker's default: 100)")
    p.add_argument("--cursor", default=None, help="for list: the page after the one that printed this cursor")
    add_worker_arg(p)
    p.add_argument("--json", action="store_true", help="print the raw JSON")
    p.set_defaults(func=run)




def show_call(call: dict, console: Console) -> None:
    """Print one call's timeline as tables."""
    console.print(
        f"[bold]{call['call_id']}[/] {call['call_type']} (priority {call['priority']}, zone {call['zone']}) "
        f"· status [bold]{call['status']}[/] · held by {call['holder'] or '-'}"
        + (f" / {call['holder_team']}" if call.get("holder_team") else "")
        + (f" · waiting {call['waiting_seconds']:.0f} s" if call.get("waiting_seconds") is not None else "")
    )
    decisions = Table(title="Decisions (the last one stands)")
    for col in ("#", "target", "team", "fallback", "reasons", "policy"):
        decisions.add_column(col)
    for d in call["decisions"]:
        decisions.add_row(str(d["sequence"]), d["target"], d["team"] or "", "yes" if d["fallback"] else "",
                          "\n".join(d["reasons"]), call["policy"] or "")
    console.print(decisions)
    hops = Table(title="Hops")
    for col in ("at (UTC)", "hop", "agency", "team/unit", "detail"):
        hops.add_column(col)
    for h in call["hops"]:
        kind = h["kind"] + (" (late)" if h.get("late") else "")
        hops.add_row(h["at"], kind, h.get("agency") or "", h.get("team") or h.get("unit_id") or "",
                     h.get("detail") or "")
    console.print(hops)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    base = worker_url(args, settings)
    console = Console()
    try:
        if args.action == "show":
            if not args.call_id:
                print("dispatchbus calls show: a CALL_ID is required", file=sys.stderr)
                return 2
            data = get_json(f"{base}/calls/{urllib.parse.quote(args.call_id, safe='')}", settings)
            if args.json:
                print(json.dumps(data, indent=2))
            else:
                show_call(data, console)
            return 0
        params = {"status": args.status, "limit": args.limit, "cursor": args.cursor}
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        data = get_json(f"{base}/calls{'?' + query if query else ''}", settings)
    except WorkerViewError as exc:
        print(f"dispatchbus calls: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    table = Table(title=f"Calls{' (' + args.status + ', oldest first)' if args.status else ''}")
    for col in ("call", "type", "status", "holder", "waiting", "received"):
        table.add_column(col)
    for c in data["calls"]:
        waited = c.get("waiting_seconds")
        table.add_row(c["call_id"], c["call_type"] or "", c["status"], c["holder"] or "",
                      f"{waited:.0f} s" if waited is not None else "", c["received_at"] or "")
    console.print(table)
    if data.get("next"):
        console.print(f"more: --cursor {data['next']}")
    return 0
