"""Paths and parsed files shared by the deployment tests (no broker needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def rules() -> dict[str, Any]:
    return yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def prometheus_config() -> dict[str, Any]:
    return yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def dashboards() -> dict[str, dict[str, Any]]:
    folder = GRAFANA_DIR / "dashboards"
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))}
