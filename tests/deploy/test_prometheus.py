"""deploy/prometheus: names match dispatchbus.metrics, counters go through rate(), promtool agrees."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .conftest import PROMETHEUS_DIR, ROOT
from .promql import Checker, all_rules, known_series, registry_series, static_target_labels

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not on PATH (apt-get install prometheus); Prometheus files not validated"
)


def test_rule_expressions_use_real_metrics_and_labels(rules, prometheus_config):
    checker = Checker(known_series(rules), static_target_labels(prometheus_config))
    for rule in all_rules(rules):
        checker.check(rule.get("record") or rule["alert"], rule["expr"])
    assert checker.problems == []


def test_recording_rules_follow_the_naming_convention(rules):
    for rule in all_rules(rules):
        if "record" in rule:
            level, metric, operation = rule["record"].split(":")
            assert metric.startswith("dispatchbus_") and operation, rule["record"]


def test_required_recording_rules_and_alerts_exist(rules):
    records = {r["record"]: r["expr"] for r in all_rules(rules) if "record" in r}
    alerts = {r["alert"]: r for r in all_rules(rules) if "alert" in r}
    for window in ("5m", "1h"):
        police = records[f"model:dispatchbus_police_default:ratio_rate{window}"]
        assert 'target="police"' in police and 'eligible="true"' in police and 'sequence="initial"' in police
        diversion = records[f"model:dispatchbus_diversion:ratio_rate{window}"]
        assert 'target=~"community_responder|embedded_professional|external_hotline"' in diversion
    assert "dispatchbus_dead_letters_total" in records["source_topic_reason:dispatchbus_dead_letters:rate5m"]
    for quantile, name in (("0.5", "p50"), ("0.9", "p90")):
        assert records[f"hop:dispatchbus_hop_latency_seconds:{name}_5m"].startswith(f"histogram_quantile({quantile},")
    assert "dispatchbus_oldest_waiting_seconds" in alerts["DispatchbusHandoffWaitingTooLong"]["expr"]
    assert "dispatchbus_handoff_timeouts_total" in alerts["DispatchbusHandoffTimeoutsRising"]["expr"]
    assert "dispatchbus_dead_letters_total" in alerts["DispatchbusDeadLetters"]["expr"]
    assert "police_default" in alerts["DispatchbusPoliceDefaultRateHigh"]["expr"]
    assert "dispatchbus_produce_failures_total" in alerts["DispatchbusProduceFailures"]["expr"]
    assert alerts["DispatchbusWorkerDown"]["expr"].replace(" ", "") == 'up{job="dispatchbus-worker"}==0'
    for alert in alerts.values():
        assert alert["labels"]["severity"] in {"page", "warning"}
        assert alert["annotations"]["summary"]


def test_scrape_job_matches_the_alert_and_the_compose_worker(prometheus_config, compose):
    jobs = {job["job_name"]: job for job in prometheus_config["scrape_configs"]}
    worker = jobs["dispatchbus-worker"]
    assert worker.get("metrics_path", "/metrics") == "/metrics"
    port = compose["services"]["worker"]["environment"]["DISPATCHBUS_WORKER__WEB_PORT"]
    assert worker["static_configs"][0]["targets"] == [f"worker:{port}"]


def test_the_checker_catches_mistakes():
    checker = Checker(registry_series())
    checker.check("bad", 'sum by (nope) (dispatchbus_routing_decisions_total{eligble="true"}) + dispatchbus_nothing')
    text = "\n".join(checker.problems)
    assert "unknown series dispatchbus_nothing" in text
    assert "no label 'eligble'" in text
    assert "no 'nope'" in text
    assert "must be passed to one of" in text


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


@needs_promtool
def test_promtool_check_config():
    result = _promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_check_rules():
    result = _promtool("check", "rules", str(PROMETHEUS_DIR / "rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_rule_unit_tests():
    """Ratios, first-ever dead letter, worker down, waiting and timeouts alerts on synthetic series."""
    result = _promtool("test", "rules", str(ROOT / "tests" / "deploy" / "prometheus_rules_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
