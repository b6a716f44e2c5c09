"""deploy/grafana: provisioning files, dashboard JSON, datasource uids and the PromQL in panels."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
import yaml

from .conftest import GRAFANA_DIR
from .promql import Checker, known_series, registry_series, static_target_labels

PROVISIONING = GRAFANA_DIR / "provisioning"


@pytest.fixture(scope="module")
def datasource_uids() -> set[str]:
    config = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    assert config["apiVersion"] == 1
    return {ds["uid"] for ds in config["datasources"]}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def test_provisioned_datasource_is_the_compose_prometheus(compose):
    config = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (ds,) = config["datasources"]
    assert ds["type"] == "prometheus"
    assert ds["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]


def test_dashboard_provider_reads_the_mounted_folder(compose):
    config = yaml.safe_load((PROVISIONING / "dashboards" / "dispatchbus.yml").read_text())
    (provider,) = config["providers"]
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"] if v.startswith("./"))
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"


def test_the_two_dashboards_exist(dashboards):
    titles = {d["title"] for d in dashboards.values()}
    assert titles == {"dispatchbus — dispatch overview", "dispatchbus — handoffs"}
    uids = [d["uid"] for d in dashboards.values()]
    assert len(set(uids)) == len(uids)


def test_dashboards_are_tidy(dashboards):
    for name, dashboard in dashboards.items():
        assert 39 <= dashboard["schemaVersion"] <= 41, name
        ids = [p["id"] for p in panels(dashboard)]
        assert len(set(ids)) == len(ids), f"{name}: duplicate panel ids"
        for panel in panels(dashboard):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, f"{name}: {panel['title']} is wider than the grid"
            assert panel.get("title"), f"{name}: untitled panel {panel['id']}"


def test_every_panel_and_query_uses_a_provisioned_datasource(dashboards, datasource_uids):
    for name, dashboard in dashboards.items():
        for panel in panels(dashboard):
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] in datasource_uids, f"{name}: {panel['title']}"
            assert panel["targets"], f"{name}: {panel['title']} has no query"
            for target in panel["targets"]:
                assert target.get("datasource", panel["datasource"])["uid"] in datasource_uids
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                assert variable["datasource"]["uid"] in datasource_uids, f"{name}: ${variable['name']}"


def test_panel_queries_use_real_metrics_and_labels(dashboards, rules, prometheus_config):
    checker = Checker(known_series(rules), static_target_labels(prometheus_config))
    for name, dashboard in dashboards.items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                checker.check(f"{name}: {panel['title']}", target["expr"])
    assert checker.problems == []


def test_template_variables_use_real_labels(dashboards):
    known = registry_series()
    for name, dashboard in dashboards.items():
        for variable in dashboard["templating"]["list"]:
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            assert query.startswith("label_values("), query
            metric, label = (part.strip() for part in query[len("label_values(") : -1].split(","))
            assert metric in known, f"{name}: {query}"
            assert label in known[metric].labels, f"{name}: {query}"


def test_dashboards_use_the_recording_rules(dashboards, rules):
    records = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    used = {
        record
        for dashboard in dashboards.values()
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        for record in records
        if record in target["expr"]
    }
    assert {
        "model:dispatchbus_diversion:ratio_rate1h",
        "model:dispatchbus_police_default:ratio_rate1h",
        "hop:dispatchbus_hop_latency_seconds:p90_5m",
    } <= used


def test_handoff_latency_quantiles_by_hop_and_agency(dashboards):
    exprs = [
        t["expr"]
        for d in dashboards.values()
        for p in panels(d)
        for t in p.get("targets", [])
        if "dispatchbus_hop_latency_seconds_bucket" in t["expr"]
    ]
    for q in ("0.5", "0.9", "0.99"):
        assert any(e.startswith(f"histogram_quantile({q}, sum by (hop, agency, le)") for e in exprs), q
