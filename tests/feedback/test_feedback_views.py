"""The CLI's and the demo's feedback tables, from the JSON the worker's views return."""

from __future__ import annotations

import json

from rich.console import Console

from dispatchbus.cli.feedback import dur, pct, show_psap
from dispatchbus.cli.main import build_parser
from dispatchbus.dev.demo_view import Snapshot, render
from dispatchbus.feedback.digest import DigestBook

from .test_digest import MIX


def book() -> DigestBook:
    b = DigestBook({})
    for f in MIX:
        b.apply(f)
    return b


def text_of(renderable) -> str:
    console = Console(record=True, width=220, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_show_prints_the_psap_routes_and_call_takers():
    view = json.loads(json.dumps(book().psap_view("PSAP-1")))  # as fetched over HTTP
    console = Console(record=True, width=220, color_system=None)
    show_psap(view, console)
    out = console.export_text()
    assert "PSAP-1" in out and "2026-05-04" in out
    assert "60% (3)" in out and "20% (1)" in out  # resolved without police, police backup
    assert "community_responder" in out and "resolved_on_scene 1" in out
    assert "CT-1" in out and "CT-2" in out


def test_demo_table_shows_each_psap_day_and_week():
    digests = json.loads(json.dumps(book().summaries()))
    out = text_of(render(Snapshot(digests=digests), elapsed=5, title="demo"))
    assert "Outcome feedback to call centers" in out
    assert "day 2026-05-04" in out and "week 2026-05-04" in out and "60% (3)" in out


def test_formatting_and_the_subcommand():
    assert (pct(None), pct(0.5), dur(None), dur(42), dur(660.4)) == ("–", "50%", "–", "42 s", "11 min 00 s")
    args = build_parser().parse_args(["feedback", "show", "PSAP-1", "--date", "2026-05-04"])
    assert (args.action, args.psap_id, args.date) == ("show", "PSAP-1", "2026-05-04")
