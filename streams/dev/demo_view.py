"""The demo's terminal view, built from the worker's own web views and /metrics.

It reads only what an operator could: ``GET /calls`` (timelines without
narratives) and the Prometheus exposition, so the demo shows exactly what
the bus exposes.
"""

from __future__ import annotations

import json
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

DIVERTED = {"community_responder", "embedded_professional", "external_hotline"}
HOP_ORDER = (
    "received_to_decided",
    "decided_to_accepted",
    "accepted_to_consult_result",
    "decided_to_dispatched",
    "dispatched_to_on_scene",
    "received_to_on_scene",
    "on_scene_to_cleared",
)


@dataclass
class Snapshot:
    """What the worker exposed at one moment."""

    calls: list[dict] = field(default_factory=list)
    decisions: dict[tuple[str, str], float] = field(default_factory=dict)  # (target, sequence) -> count
    eligible_initial: float = 0.0
    eligible_police: float = 0.0
    eligible_diverted: float = 0.0
    hop_buckets: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    hop_count: dict[str, float] = field(default_factory=dict)
    timeouts: float = 0.0
    declines: float = 0.0
    resolved_by_phone: float = 0.0
    dead_letters: float = 0.0
    policy: str = ""
    digests: list[dict] = field(default_factory=list)


def _get(url: str, token: str | None = None) -> bytes:
    from ..web_access import auth_headers

    with urllib.request.urlopen(urllib.request.Request(url, headers=auth_headers(token)), timeout=2) as resp:
        return resp.read()


MAX_CALL_PAGES = 20
"""The demo's view reads this many pages of /calls at most (its calls number in the hundreds)."""


def all_calls(base_url: str, token: str | None = None) -> list[dict]:
    """Every call /calls lists, page after page (up to :data:`MAX_CALL_PAGES`)."""
    calls: list[dict] = []
    cursor = None
    for _ in range(MAX_CALL_PAGES):
        page = json.loads(_get(f"{base_url}/calls?limit=500" + (f"&cursor={cursor}" if cursor else ""), token))
        calls.extend(page["calls"])
        cursor = page.get("next")
        if not cursor:
            break
    return calls


def parse_metrics(text: str, snap: Snapshot) -> None:
    """Fill ``snap`` from Prometheus exposition text."""
    buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name, labels, value = s.name, s.labels, s.value
            if name == "dispatchbus_routing_decisions_total":
                key = (labels["target"], labels["sequence"])
                snap.decisions[key] = snap.decisions.get(key, 0.0) + value
                if labels["eligible"] == "true" and labels["sequence"] == "initial":
                    snap.eligible_initial += value
                    if labels["target"] == "police":
                        snap.eligible_police += value
                    if labels["target"] in DIVERTED:
                        snap.eligible_diverted += value
            elif name == "dispatchbus_hop_latency_seconds_bucket":
                buckets[labels["hop"]][float(labels["le"])] += value
            elif name == "dispatchbus_hop_latency_seconds_count":
                snap.hop_count[labels["hop"]] = snap.hop_count.get(labels["hop"], 0.0) + value
            elif name == "dispatchbus_handoff_timeouts_total":
                snap.timeouts += value
            elif name == "dispatchbus_handoff_declines_total":
                snap.declines += value
            elif name == "dispatchbus_resolved_by_phone_total":
                snap.resolved_by_phone += value
            elif name == "dispatchbus_dead_letters_total":
                snap.dead_letters += value
            elif name == "dispatchbus_policy_info" and value:
                snap.policy = f"{labels['policy_id']} {labels['version']} ({labels['model']})"
    snap.hop_buckets = {hop: sorted(b.items()) for hop, b in buckets.items()}


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Upper bound of the bucket holding quantile ``q`` (cumulative buckets, as Prometheus does)."""
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    for bound, count in buckets:
        if count >= rank:
            return bound
    return None


def fetch(base_url: str, token: str | None = None) -> Snapshot:
    """Read the worker's views (presenting ``token``); missing ones leave their part empty."""
    snap = Snapshot()
    parse_metrics(_get(f"{base_url}/metrics", token).decode(), snap)
    snap.calls = all_calls(base_url, token)
    try:
        snap.digests = json.loads(_get(f"{base_url}/feedback", token))["digests"]
    except Exception:  # the feedback view is optional
        snap.digests = []
    return snap


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value == float("inf"):
        return "> 1 h"
    return f"{value:.0f} s" if value >= 10 else f"{value:.2f} s"


def _fmt_share(share: float | None, count: int) -> str:
    return "–" if share is None else f"{share:.0%} ({count})"


def render(snap: Snapshot, *, elapsed: float, title: str) -> Group:
    """The whole screen."""
    calls = Table(title="Calls (latest first)", expand=True)
    for col in ("call", "type", "status", "holder", "why (last decision)", "waiting"):
        calls.add_column(col)
    for c in sorted(snap.calls, key=lambda c: c.get("received_at") or "", reverse=True)[:14]:
        last = c["decisions"][-1] if c["decisions"] else None
        why = last["reasons"][0].split(":", 1)[0] if last and last["reasons"] else ""
        if last and last["fallback"]:
            why = f"[yellow]{why}[/]"
        holder = c["holder"] or ""
        if c.get("holder_team"):
            holder += f" / {c['holder_team']}"
        waiting = c.get("waiting_seconds")
        calls.add_row(
            c["call_id"][-10:], c.get("call_type") or "", c["status"], holder, why,
            _fmt_seconds(waiting) if waiting is not None else "",
        )

    totals = Table(title="Routing", expand=True)
    totals.add_column("measure")
    totals.add_column("value", justify="right")
    initial = {t: n for (t, seq), n in snap.decisions.items() if seq == "initial"}
    for target in sorted(initial):
        totals.add_row(f"first decision → {target}", f"{initial[target]:.0f}")
    reroutes = sum(n for (t, seq), n in snap.decisions.items() if seq == "reroute")
    totals.add_row("re-routes", f"{reroutes:.0f}")
    if snap.eligible_initial:
        totals.add_row("diversion rate", f"{snap.eligible_diverted / snap.eligible_initial:.0%}")
        totals.add_row("police-default rate", f"{snap.eligible_police / snap.eligible_initial:.0%}")
    totals.add_row("timeouts / declines", f"{snap.timeouts:.0f} / {snap.declines:.0f}")
    totals.add_row("resolved by phone", f"{snap.resolved_by_phone:.0f}")
    totals.add_row("dead letters", f"{snap.dead_letters:.0f}")

    hops = Table(title="Latency per hop (event time)", expand=True)
    for col in ("hop", "n", "p50 ≤", "p90 ≤"):
        hops.add_column(col, justify="right" if col != "hop" else "left")
    for hop in HOP_ORDER:
        b = snap.hop_buckets.get(hop)
        if not b:
            continue
        hops.add_row(hop, f"{snap.hop_count.get(hop, 0):.0f}", _fmt_seconds(quantile(b, 0.5)),
                     _fmt_seconds(quantile(b, 0.9)))

    parts: list = [
        Panel(f"{title} · policy {snap.policy or '…'} · {elapsed:.0f} s elapsed · Ctrl-C to stop"),
        calls, totals, hops,
    ]
    if snap.digests:
        fb = Table(title="Outcome feedback to call centers (by received day and week; shares of diverted calls)",
                   expand=True)
        for col in ("PSAP", "window", "calls", "diverted", "resolved w/o police", "police backup",
                    "median to on scene", "p90"):
            fb.add_column(col, justify="left" if col in ("PSAP", "window") else "right")
        for d in snap.digests:
            fb.add_row(
                d["psap_id"], f"{d['window']} {d['window_start'][:10]}", str(d["calls"]), str(d["diverted_calls"]),
                _fmt_share(d["share_resolved_without_police"], d["resolved_without_police"]),
                _fmt_share(d["police_backup_rate"], d["police_backup"]),
                _fmt_seconds(d["median_seconds_to_on_scene"]), _fmt_seconds(d["p90_seconds_to_on_scene"]),
            )
        parts.append(fb)
    return Group(*parts)


def summary_line(snap: Snapshot, elapsed: float) -> str:
    """One plain line for non-terminal output."""
    initial = sum(n for (t, seq), n in snap.decisions.items() if seq == "initial")
    reroutes = sum(n for (t, seq), n in snap.decisions.items() if seq == "reroute")
    waiting = sum(1 for c in snap.calls if c["status"] == "waiting")
    rate = f"{snap.eligible_diverted / snap.eligible_initial:.0%}" if snap.eligible_initial else "–"
    return (
        f"[{elapsed:5.0f}s] calls {len(snap.calls)} · decisions {initial:.0f} (+{reroutes:.0f} re-routes) · "
        f"waiting {waiting} · timeouts {snap.timeouts:.0f} · declines {snap.declines:.0f} · "
        f"resolved by phone {snap.resolved_by_phone:.0f} · diversion {rate}"
    )
