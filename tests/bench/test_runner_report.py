"""The report's paired-drain figures, from synthetic drains (no broker)."""

import io

import pytest

from bench.runner import PLANS, Results, alternating_pairs, report
from bench.stages import Drain, LoadRun, PipelineRun

MACHINE = {"cores": 2, "cpu": "test cpu", "memory_gib": 1.0, "os": "test os"}


def _results(ratios: list[float]) -> Results:
    res = Results(PLANS["full"], "test", MACHINE, {"python": "3"}, "test broker", {}, [])
    for ratio in ratios:
        res.pairs.append({
            "faust": Drain("faust", 30_000, 5_000.0, 0.2, 0.05, 6.0),
            "worker": Drain("worker", 15_000, 5_000.0 * ratio, 0.2, 0.05, 6.0),
        })
    return res


def _text(res: Results) -> str:
    out = io.StringIO()
    report(res, out)
    return out.getvalue()


def test_the_throughput_target_carries_the_interval_of_its_median():
    ratios = [0.70, 0.95, 0.78, 1.02, 0.83, 0.88, 0.91, 0.74, 1.10, 0.85, 0.80, 0.97]
    res = _results(ratios)
    target = res.targets()[0]
    assert target["median"] == pytest.approx(0.865)
    assert target["met"] is True
    # 12 pairs: the 3rd smallest and the 3rd largest ratio.
    assert target["median_interval"]["low"] == pytest.approx(0.78)
    assert target["median_interval"]["high"] == pytest.approx(0.97)
    text = _text(res)
    assert "96 % interval of that median" in text
    assert "0.78–0.97" in text
    assert "met (the median's interval 0.78–0.97)" in text


def test_too_few_pairs_for_an_interval_print_none():
    res = _results([0.9, 0.8, 0.85])
    assert "median_interval" not in res.targets()[0]
    assert "interval" not in _text(res)


def test_a_load_reports_the_p99_of_its_first_and_last_third_of_calls():
    # 300 calls in send order: the first third steady at 10 ms, the last third climbing to 100 ms.
    latencies = [10.0] * 100 + [20.0] * 100 + [float(x) for x in range(1, 101)]
    load = LoadRun(rate=1000, sent_rate=1000, latencies_ms=latencies)
    assert load.p99_by_third() == (10.0, 99.0)
    assert LoadRun(rate=1000, sent_rate=1000, latencies_ms=[5.0, 6.0]).p99_by_third() == (
        pytest.approx(float("nan"), nan_ok=True), pytest.approx(float("nan"), nan_ok=True))

    res = _results([0.9])
    run = PipelineRun("worker", 15_000, 5_000.0, 0.2, 6.0)
    run.loads[1000] = load
    res.pipelines["worker"] = [run]
    assert "p99 of the first third of the calls 10.0 ms, of the last third 99.0 ms" in _text(res)
    loads = res.to_json()["pipelines"]["worker"]["loads"]["1000/s"]
    assert loads["p99_ms_first_third"]["median"] == 10.0
    assert loads["p99_ms_last_third"]["median"] == 99.0


def _latency_pair(raw_p99: float, worker_p99: float) -> dict[str, LoadRun]:
    # 100 calls each: the p99 (nearest rank) is the 99th smallest.
    def load(p99: float) -> LoadRun:
        return LoadRun(rate=1000, sent_rate=1000, latencies_ms=[10.0] * 98 + [p99, p99 + 50])

    return {"raw": load(raw_p99), "worker": load(worker_p99)}


def test_the_latency_target_is_judged_on_the_paired_phases_with_the_interval_of_their_median():
    ratios = [1.2, 2.6, 1.5, 1.8, 1.1, 3.0, 1.7, 1.4, 1.9, 1.6]
    res = _results([0.9] * 12)
    res.latency_pairs = [_latency_pair(100.0, 100.0 * r) for r in ratios]
    target = res.targets()[1]
    assert target["target"] == "worker p99 / raw p99 at the offered load, paired"
    assert target["median"] == pytest.approx(1.65)
    assert target["met"] is True
    # 10 pairs: the 2nd smallest and the 2nd largest ratio.
    assert (target["median_interval"]["low"], target["median_interval"]["high"]) == pytest.approx((1.2, 2.6))
    res.latency_pairs[3]["worker"].lost = 2
    text = _text(res)
    assert "3c paired latency: 10 x a fresh raw pass-through and a fresh worker" in text
    assert "note: worker in latency pair 4: 2 outputs missing, 0 decisions with the wrong causation_id" in text
    assert "1.65 (want <= 2.00): met (the median's interval 1.20–2.60)" in text
    assert res.to_json()["paired_latency"]["worker_vs_raw_p99"]["median"] == pytest.approx(1.65)


def test_without_latency_pairs_the_target_takes_the_repetitions():
    res = _results([0.9])
    for raw, worker in ((100.0, 150.0), (100.0, 250.0), (100.0, 180.0)):
        pair = _latency_pair(raw, worker)
        for kind in ("raw", "worker"):
            run = PipelineRun(kind, 1000, 1000.0, 0.2, 6.0)
            run.loads[1000] = pair[kind]
            res.pipelines.setdefault(kind, []).append(run)
    target = res.targets()[1]
    assert target["target"] == "worker p99 / raw p99 at the offered load"
    assert target["median"] == pytest.approx(1.8)
    assert "median_interval" not in target
    assert "paired latency" not in _text(res)


def test_alternating_pairs_take_turns_going_first():
    order: list[tuple[int, str]] = []

    def measure(i: int, kind: str) -> str:
        order.append((i, kind))
        return f"{kind}{i}"

    pairs = alternating_pairs(3, ("raw", "worker"), measure)
    assert order == [(0, "raw"), (0, "worker"), (1, "worker"), (1, "raw"), (2, "raw"), (2, "worker")]
    assert pairs == [{"raw": "raw0", "worker": "worker0"}, {"worker": "worker1", "raw": "raw1"},
                     {"raw": "raw2", "worker": "worker2"}]
