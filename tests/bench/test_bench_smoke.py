"""A smoke-size benchmark run on the session broker: it must still produce every figure (never a speed)."""

import json
import math
import os
import subprocess
import sys

import pytest
from confluent_kafka.admin import AdminClient

pytestmark = pytest.mark.broker


def positive(value):
    return isinstance(value, (int, float)) and not math.isnan(value) and value > 0


def smoke_command(broker, tmp_path, *extra: str) -> list[str]:
    """A smoke-size benchmark on the session broker, measuring its CPU too."""
    return [sys.executable, "-m", "bench", "--smoke", "--bootstrap", broker.bootstrap_servers,
            "--broker-pid", str(broker.pid), "--workdir", str(tmp_path / "work"), *extra]


def _topics(broker) -> set[str]:
    """The broker's topics but its own (Apache Kafka creates ``__consumer_offsets`` when a group first commits)."""
    topics = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(timeout=10).topics
    return {name for name in topics if not name.startswith("__")}


def test_smoke_run_produces_every_figure(broker, tmp_path):
    before = _topics(broker)
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHBUS_")}
    result = subprocess.run(
        smoke_command(broker, tmp_path, "--json", str(out)),
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    for heading in ("raw confluent-kafka pass-through", "bare Faust agent", "routing worker",
                    "dispatchbus route (offline)", "paired drains", "paired latency", "the bus's own work per new call",
                    "targets", "machine:", "versions:"):
        assert heading in result.stdout

    leftover = sorted(_topics(broker) - before)
    assert not leftover, f"the benchmark left its topics on the broker: {leftover[:5]}"
    figures = json.loads(out.read_text())
    assert figures["plan"] == "smoke"
    assert figures["machine"]["cores"] >= 1
    assert {"python", "faust-streaming", "confluent-kafka", "tansu"} <= set(figures["versions"])
    for kind in ("raw", "faust", "worker"):
        summary = figures["pipelines"][kind]
        assert positive(summary["throughput_eps"]["median"]), kind
        for q in ("p50", "p99", "p999"):
            assert positive(summary["latency_ms"][q]["median"]), (kind, q)
        assert summary["cpu_s_per_1000_saturated"]["median"] >= 0
        assert summary["broker_cpu_s_per_1000_saturated"]["median"] >= 0, kind
        assert summary["broker_idle_percent"]["median"] >= 0, kind
        assert set(summary["loads"]) == {"200/s", "1000/s"}
        for load in summary["loads"].values():
            assert positive(load["latency_ms"]["p99"]["median"]), kind
            assert load["broker_cpu_s_per_1000"]["median"] >= 0, kind
        [run] = summary["runs"]
        assert run["events"] == 300
        assert [load["offered_rate"] for load in run["loads"]] == [200, 1000]
        assert all(load["latency_samples"] > 0 and load["lost"] == 0 for load in run["loads"])
    worker = figures["pipelines"]["worker"]["runs"][0]
    assert all(load["mismatched"] == 0 for load in worker["loads"]) and worker["escalations"] == 0
    assert worker["replies"]["calls"] == 100 and positive(worker["replies"]["throughput_eps"])
    assert positive(figures["pipelines"]["worker"]["replies"]["throughput_eps"]["median"])
    [reply_ratio] = [line for line in result.stdout.splitlines() if "worker replies / bare-Faust" in line]
    assert not reply_ratio.rstrip().endswith("n/a"), reply_ratio
    for ratio in ("worker_vs_faust_throughput", "worker_vs_raw_throughput", "worker_vs_raw_p99",
                  "worker_vs_raw_p99_at_low_rate", "worker_replies_vs_faust_throughput"):
        assert positive(figures["ratios"][ratio]["median"]), ratio
    offline = figures["offline"]
    assert offline["calls"] == 3000
    assert positive(offline["calls_per_s"]["median"]) and positive(offline["peak_rss_mib"]["median"])
    drains = figures["paired_drains"]
    assert drains["pairs"] == 1 and positive(drains["worker_vs_faust_throughput"]["median"])
    [pair] = drains["runs"]
    assert {kind: run["events"] for kind, run in pair.items()} == {"faust": 300, "worker": 300}
    assert figures["targets"][0]["median"] == drains["worker_vs_faust_throughput"]["median"]
    latency = figures["paired_latency"]
    assert latency["pairs"] == 1 and positive(latency["worker_vs_raw_p99"]["median"])
    [lpair] = latency["runs"]
    assert set(lpair) == {"raw", "worker"}
    assert all(run["latency_samples"] > 0 and run["lost"] == 0 and run["offered_rate"] == 1000
               for run in lpair.values())
    assert lpair["worker"]["mismatched"] == 0
    assert figures["targets"][1]["median"] == latency["worker_vs_raw_p99"]["median"]
    costs = figures["costs_us_per_call"]
    assert costs["calls"] == 300
    assert all(positive(costs[stage]["median"]) for stage in ("decode", "route", "store", "encode"))
    assert positive(figures["call_budget_us"]["median"])
    assert [t["target"] for t in figures["targets"]] and all(t["met"] in (True, False) for t in figures["targets"])


def test_no_process_outlives_the_run(broker, tmp_path):
    """Interrupted mid-run (SIGTERM), the benchmark stops every child it started."""
    import signal

    from ..support.waiting import wait_for

    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHBUS_")}
    proc = subprocess.Popen(
        smoke_command(broker, tmp_path),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # the broker-less smoke run starts its processors one after another: wait for one of them
        children = wait_for(lambda: _descendants(proc.pid), timeout=60, what="a child of the benchmark")
        children |= _descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    leftover = [pid for pid in children if _alive(pid)]
    assert not leftover, f"still running after the benchmark exited: {leftover}"


def _descendants(pid: int) -> set[int]:
    """Every process whose ancestry leads to ``pid`` (children start their own sessions)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(b")") + 2:].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state != b"Z"
