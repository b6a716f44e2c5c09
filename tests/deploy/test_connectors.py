"""connectors/connect: Avro through the registry, catalogue topics only, never the dead-letter topic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dispatchbus import catalogue
from dispatchbus.ops.deployment import COMPOSE_REGISTRY_URL, CONNECT_DIR, compose_settings

from .conftest import ROOT

CONFIGS = sorted((ROOT / CONNECT_DIR).glob("*.json"))
SETTINGS = compose_settings()
FULL_NAMES = {spec.full_name(SETTINGS.topics): spec for spec in catalogue.CATALOGUE}


def test_there_are_connector_configs():
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_connector_never_touches_the_dead_letter_topic(path: Path):
    text = path.read_text()
    assert catalogue.DEAD_LETTER.name not in text
    assert "deadletter" not in text.lower()
    for spec in catalogue.CATALOGUE:
        if spec.restricted:
            assert spec.name not in text


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_connector_config_shape(path: Path):
    conf = json.loads(path.read_text())
    assert conf["name"] == path.stem
    assert all(isinstance(v, str) for v in conf.values()), "Connect configs are strings"
    assert conf["value.converter"] == "io.confluent.connect.avro.AvroConverter"
    assert conf["value.converter.schema.registry.url"] == COMPOSE_REGISTRY_URL
    assert (
        conf["value.converter.value.subject.name.strategy"]
        == "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"
    )
    assert conf["key.converter"] == "org.apache.kafka.connect.storage.StringConverter"
    if conf["connector.class"].endswith("SinkConnector"):
        topics = conf["topics"].split(",")
        assert "topics.regex" not in conf, "a regex could match the dead-letter topic"
    else:
        topics = [conf["topic.prefix"]]
    for topic in topics:
        assert topic in FULL_NAMES, f"{topic} is not a catalogue topic"
        assert not FULL_NAMES[topic].restricted
    for key in ("connection.url", "connection.user", "connection.password"):
        assert conf[key].startswith("${env:"), f"{key} must come from the Connect worker's environment"
    assert conf["errors.log.include.messages"] == "false", "never log call data"
