"""docker-compose.yml and the Dockerfiles, checked statically (no Docker engine needed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

import pytest
from pydantic import BaseModel

from dispatchbus.ops.deployment import COMPOSE_BOOTSTRAP, COMPOSE_REGISTRY_URL
from dispatchbus.settings import Settings

from .conftest import ROOT

BUS_SERVICES = ("topics", "worker")


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def settings_field(var: str) -> str | None:
    """Why DISPATCHBUS_A__B is not a settings field, or None when it is one."""
    if not var.startswith("DISPATCHBUS_"):
        return f"{var}: bus processes are configured only through DISPATCHBUS_* variables"
    model: type[BaseModel] = Settings
    path = var.removeprefix("DISPATCHBUS_").lower().split("__")
    for i, part in enumerate(path):
        fields = model.model_fields
        if part not in fields:
            return f"{var}: {model.__name__} has no field {part!r}"
        annotation = fields[part].annotation
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if i < len(path) - 1:
            if not is_model:
                return f"{var}: {part!r} is not a section"
            model = annotation
        elif is_model:
            return f"{var}: {part!r} is a section, not a field"
    return None


def test_compose_declares_the_services(compose):
    assert set(compose["services"]) >= {
        "kafka", "schema-registry", "topics", "worker", "connect", "prometheus", "grafana"
    }


def test_images_are_pinned(compose):
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image or service.get("build"), name
        if image:
            repo, _, tag = image.rpartition(":")
            assert repo and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: pin {image}"


OPERATOR_GIVEN = {"DISPATCHBUS_WEB_TOKENS": "ops:" + "o" * 24 + ",cad:" + "c" * 24}
"""What an operator gives for the variables docker compose refuses to start without."""


@pytest.mark.parametrize("name", BUS_SERVICES)
def test_bus_services_are_configured_only_through_settings(compose, name, monkeypatch):
    env = env_of(compose["services"][name])
    assert env, name
    problems = [p for p in map(settings_field, env) if p]
    assert problems == []
    # And the values are valid settings.
    for key in list(os.environ):
        if key.startswith("DISPATCHBUS_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: OPERATOR_GIVEN[m.group(1)], value))
    settings = Settings()
    assert settings.kafka.bootstrap_servers == COMPOSE_BOOTSTRAP
    assert settings.schema_registry.url == COMPOSE_REGISTRY_URL


def test_settings_field_mapping_rejects_unknown_names():
    assert settings_field("DISPATCHBUS_KAFKA__BOOTSTRAP_SERVERS") is None
    assert settings_field("DISPATCHBUS_KAFKA__BOOTSTRAP") is not None
    assert settings_field("DISPATCHBUS_KAFKA") is not None
    assert settings_field("DISPATCHBUS_KAFKA__BOOTSTRAP_SERVERS__X") is not None
    assert settings_field("KAFKA_BOOTSTRAP_SERVERS") is not None


def test_dockerfile_env_is_settings_too():
    text = (ROOT / "Dockerfile").read_text()
    names = re.findall(r"\b(DISPATCHBUS_[A-Z0-9_]+)=", text)
    assert names
    assert [p for p in map(settings_field, names) if p] == []


def test_worker_runs_the_worker_and_listens_beyond_loopback(compose):
    worker = compose["services"]["worker"]
    env = env_of(worker)
    assert worker.get("command", ["worker"]) == ["worker"]
    assert env["DISPATCHBUS_WORKER__WEB_HOST"] == "0.0.0.0"
    # beyond loopback its views need tokens, which the operator must give; /metrics alone is open
    assert env["DISPATCHBUS_WORKER__WEB_TOKENS"].startswith("${DISPATCHBUS_WEB_TOKENS:?")
    assert env["DISPATCHBUS_WORKER__WEB_METRICS_OPEN"] == "true"
    port = env["DISPATCHBUS_WORKER__WEB_PORT"]
    assert "/metrics" in " ".join(worker["healthcheck"]["test"])
    assert any(str(p).endswith(f":{port}:{port}") for p in worker.get("ports", []))
    assert compose["services"]["topics"]["command"] == ["topics", "create"]


def test_start_order_uses_health_and_completion(compose):
    services = compose["services"]
    worker = services["worker"]["depends_on"]
    assert worker["topics"]["condition"] == "service_completed_successfully"
    assert worker["kafka"]["condition"] == "service_healthy"
    assert worker["schema-registry"]["condition"] == "service_healthy"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dep, spec in depends.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no healthcheck"


def test_kafka_is_kraft_with_internal_and_external_listeners(compose):
    env = env_of(compose["services"]["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    listeners = dict(l.split("://") for l in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(l.split("://") for l in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert set(listeners) == set(protocols)
    assert controller in listeners and controller not in advertised
    assert set(advertised) <= set(listeners)
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    assert advertised["EXTERNAL"] == "localhost:9092"
    assert COMPOSE_BOOTSTRAP in advertised.values()
    voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voter == f"{env['KAFKA_NODE_ID']}@kafka:{listeners[controller].rsplit(':', 1)[1]}"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "127.0.0.1:9092:9092" in compose["services"]["kafka"]["ports"]


def test_connect_uses_avro_through_the_registry_and_mounts_the_configs(compose):
    connect = compose["services"]["connect"]
    env = env_of(connect)
    assert env["CONNECT_VALUE_CONVERTER"] == "io.confluent.connect.avro.AvroConverter"
    assert env["CONNECT_VALUE_CONVERTER_SCHEMA_REGISTRY_URL"] == COMPOSE_REGISTRY_URL
    assert env["CONNECT_BOOTSTRAP_SERVERS"] == COMPOSE_BOOTSTRAP
    assert any(v.startswith("./connectors/connect:") for v in connect["volumes"])
    assert (ROOT / connect["build"] / "Dockerfile").read_text().startswith("#")
    assert "FROM confluentinc/cp-kafka-connect:" in (ROOT / connect["build"] / "Dockerfile").read_text()


def test_bind_mounts_exist(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"


def test_dockerfile_builds_and_runs_the_worker():
    text = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert bases and all(re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", b) for b in bases), bases
    assert re.search(r"pip install .*\s\.$", text, flags=re.M), "pip install ."
    assert 'ENTRYPOINT ["dispatchbus"]' in text and 'CMD ["worker"]' in text
    assert "HEALTHCHECK" in text and "/metrics" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    for needed in ("pyproject.toml", "requirements.lock", "README.md", "streams/", "connectors/", "schemas/"):
        assert f"!{needed}" in ignored, f".dockerignore must let {needed} into the build"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not on PATH")
def test_docker_compose_validates_the_file():
    env = {**os.environ, "GRAFANA_ADMIN_PASSWORD": "test", "DISPATCHBUS_WEB_TOKENS": "ops:test-token"}
    result = subprocess.run(
        ["docker-compose", "--profile", "connectors", "config", "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
