"""The ACL plan: derived from the catalogue, applied through the admin API, enforced by Apache Kafka.

The live tests run on :class:`~dispatchbus.dev.kafka_security.SecuredKafkaBroker` (the standard KRaft
authorizer, no allow-if-no-ACL): each principal is tried with real clients on every topic.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from types import SimpleNamespace

import pytest

from dispatchbus import catalogue
from dispatchbus.catalogue import Agency, topics_for
from dispatchbus.dev.embedded_broker import isolated_settings
from dispatchbus.dev.processes import child_env, dispatchbus_command
from dispatchbus.kafka.clients import EventProducer
from dispatchbus.ops import acls
from dispatchbus.ops.deployment import compose_settings
from dispatchbus.settings import FeedbackSettings, Settings

from ..support.acl_probe import describable, readable, writable
from ..support.samples import call
from ..support.waiting import wait_for
from ..support.worker import WorkerProcess, subscribed_topics

PSAPS = ("north", "south")
PRINCIPALS = ("cad", "embedded_professional", "external_hotline", "responders", "bus", "ops",
              "psap-north", "psap-south", "intruder")
"""Every principal of the plan, and one the plan does not know (a SCRAM user with no ACLs)."""

MTLS_PRINCIPALS = {"responders", "psap-south"}
"""These authenticate by client certificate on the mutual-TLS listener; the others by SCRAM over TLS."""


def run_cli(settings: Settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(dispatchbus_command(*args), env=child_env(settings), capture_output=True, text=True,
                          timeout=timeout)


def as_principal(settings: Settings, kafka) -> Settings:
    return settings.model_copy(update={"kafka": kafka})


def read_group(who: str, settings: Settings) -> str:
    """A consumer group the plan lets ``who`` use (any group for a principal it does not know)."""
    if who.startswith("psap-"):
        return f"psap.{who.removeprefix('psap-')}.probe"
    if who in {a.value for a in Agency}:
        group, pattern = acls.consumer_group(Agency(who), settings)
        return group + ("probe" if pattern == "PREFIXED" else "")
    return f"{who}-probe"


# ---- the plan ----


def test_the_worker_may_read_every_topic_it_subscribes_to(bus):
    """The plan's bug the issue found: the worker reads bus.escalations, which the plan let it only write."""
    grants = acls.plan(bus.settings)
    subscribed = subscribed_topics(bus.app)
    assert bus.settings.topics.prefix + catalogue.ESCALATIONS.name in subscribed
    refused = [t for t in sorted(subscribed) if not acls.allowed(grants, "User:bus", "READ", "TOPIC", t)]
    assert refused == []


def test_the_plan_follows_the_catalogue_and_the_json_is_the_plan():
    settings = compose_settings()
    grants = acls.plan(settings)
    for spec in catalogue.CATALOGUE:
        name = spec.full_name(settings.topics)
        for agency in Agency:
            who = acls.principal(agency)
            assert acls.allowed(grants, who, "READ", "TOPIC", name) == (agency in spec.consumers), (who, name)
            assert acls.allowed(grants, who, "WRITE", "TOPIC", name) == (agency in spec.producers), (who, name)
    committed = json.loads(open("deploy/acls.json").read())["acls"]
    assert [acls.Grant(**g) for g in committed] == list(grants)


# ---- live: applied through the admin API, enforced by the broker ----


def secured_deployment(secured_broker, tmp_path_factory):
    """A deployment on the secured broker: its ACLs applied by `dispatchbus acls apply`, its topics made by ops."""
    name = f"s{uuid.uuid4().hex[:10]}"
    admin = isolated_settings(secured_broker.bootstrap_servers, tmp_path_factory.mktemp(name), name, {})
    admin = admin.model_copy(update={"feedback": FeedbackSettings(psaps=",".join(PSAPS))})
    first = run_cli(admin, "acls", "apply")
    assert first.returncode == 0, first.stderr
    again = run_cli(admin, "acls", "apply")
    assert again.returncode == 0, again.stderr
    ops = as_principal(admin, secured_broker.scram_settings("ops"))
    made = run_cli(ops, "topics", "create")
    assert made.returncode == 0, made.stdout + made.stderr

    def kafka_of(who: str, via: str | None = None, **overrides):
        if (via or ("mtls" if who in MTLS_PRINCIPALS else "scram")) == "mtls":
            return secured_broker.mtls_settings(who, **overrides)
        return secured_broker.scram_settings(who, **overrides)

    return SimpleNamespace(admin=admin, first=first.stdout, again=again.stdout, kafka_of=kafka_of,
                           broker=secured_broker)


@pytest.fixture(scope="module")
def secured(secured_broker, tmp_path_factory):
    """The deployment the matrix probes (whose topics then hold probe records)."""
    return secured_deployment(secured_broker, tmp_path_factory)


def test_acls_apply_creates_the_plan_once_and_prints_what_it_did(secured):
    grants = acls.plan(secured.admin)
    escalations = secured.admin.topics.prefix + catalogue.ESCALATIONS.name
    assert f"+ User:bus READ topic {escalations}" in secured.first.splitlines()
    assert f"{len(grants)} created, 0 deleted, 0 already present" in secured.first
    assert not any(line.startswith("+") for line in secured.again.splitlines())
    assert f"0 created, 0 deleted, {len(grants)} already present" in secured.again
    diff = run_cli(secured.admin, "acls", "diff")
    assert diff.returncode == 0 and diff.stdout == "", diff.stdout + diff.stderr


def test_every_principal_may_do_on_every_topic_exactly_what_the_plan_says(secured):
    settings = secured.admin
    grants = acls.plan(settings)
    topics = [spec.full_name(settings.topics) for spec in topics_for(settings)]
    seen: dict[str, dict[str, set[str]]] = {}
    wrong = []
    for who in PRINCIPALS:
        kafka = secured.kafka_of(who)
        seen[who] = {
            "DESCRIBE": describable(kafka, topics),
            "WRITE": writable(kafka, topics),
            "READ": readable(kafka, topics, read_group(who, settings)),
        }
        for operation, able in seen[who].items():
            expected = {t for t in topics if acls.allowed(grants, f"User:{who}", operation, "TOPIC", t)}
            wrong += [f"{who} may {operation} {t}" for t in sorted(able - expected)]
            wrong += [f"{who} may not {operation} {t}" for t in sorted(expected - able)]
    assert wrong == []

    def full(name):
        return settings.topics.prefix + name

    # What the issue asks for in particular, from what the clients could really do:
    assert full(catalogue.HANDOFF_RESPONDERS.name) not in seen["external_hotline"]["READ"]
    assert seen["psap-north"]["READ"] == {full("feedback.psap.north.outcomes"), full("feedback.psap.north.digests")}
    assert seen["psap-south"]["READ"] == {full("feedback.psap.south.outcomes"), full("feedback.psap.south.digests")}
    assert not seen["psap-north"]["WRITE"] and not seen["psap-south"]["WRITE"]
    assert {who for who in PRINCIPALS if full(catalogue.DEAD_LETTER.name) in seen[who]["READ"]} == {"ops"}
    for clinical in (catalogue.HANDOFF_EMBEDDED, catalogue.HANDOFF_HOTLINE, catalogue.HANDOFF_RESPONDERS):
        assert full(clinical.name) not in seen["cad"]["READ"]
    assert full(catalogue.ESCALATIONS.name) in seen["bus"]["READ"]
    assert seen["intruder"] == {"DESCRIBE": set(), "WRITE": set(), "READ": set()}


@pytest.mark.parametrize("via", ["scram", "mtls"])
def test_the_worker_runs_under_its_own_acls_and_agencies_use_theirs(secured_broker, tmp_path_factory, tmp_path, via):
    """The worker (Faust's aiokafka clients and its librdkafka output producer) as User:bus, by ``via``."""
    secured = secured_deployment(secured_broker, tmp_path_factory)
    bus = as_principal(secured.admin, secured.kafka_of("bus", via))
    worker = WorkerProcess(bus, tmp_path / "worker.log").start()
    try:
        worker.wait_ready(timeout=90)
        cad = as_principal(secured.admin, secured.kafka_of("cad"))  # SCRAM over TLS
        producer = EventProducer(cad)
        producer.send(catalogue.CAD_CALLS, call(41))
        producer.flush()
        del producer

        def decided() -> str | bool:
            out = run_cli(cad, "consume", "--topic", catalogue.DECISIONS.name, "--idle-timeout", "2")
            assert out.returncode == 0, out.stderr
            return '"C41"' in out.stdout and out.stdout

        decision = json.loads(wait_for(decided, timeout=60, what="C41's decision, read by the CAD").splitlines()[0])
        assert decision["call_id"] == "C41"
        # The hotline may not read the decisions, through the same command.
        hotline = as_principal(secured.admin, secured.kafka_of("external_hotline"))
        refused = run_cli(hotline, "consume", "--topic", catalogue.DECISIONS.name, "--idle-timeout", "2")
        assert refused.returncode != 0 and "C41" not in refused.stdout
        assert "AUTHORIZATION" not in worker.log().upper()
    finally:
        worker.stop()


def test_a_simulated_agency_answers_under_its_own_principal(secured_broker, tmp_path_factory):
    """The hotline simulator as User:external_hotline (SCRAM over TLS): a request in, its answer out."""
    import threading
    from datetime import datetime, timezone

    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from dispatchbus.connectors.simulators import load_config, start_simulators, stop_simulators
    from dispatchbus.contract.events import HandoffDeclined, HandoffRequested, Location
    from dispatchbus.contract.serde import serde_from_settings

    secured = secured_deployment(secured_broker, tmp_path_factory)
    bus = as_principal(secured.admin, secured.kafka_of("bus"))
    hotline = as_principal(secured.admin, secured.kafka_of("external_hotline"))
    request = HandoffRequested(
        event_id=uuid.uuid4(), call_id="SIM1", decision_id=uuid.uuid4(), agency="external_hotline",
        requested_at=datetime.now(timezone.utc), call_type="noise_complaint", priority=3,
        location=Location(lat=39.76, lon=-84.19, zone="Z1"), zone="Z1",
    )
    config = load_config().with_overrides(seed=3, speed=600, hotline={"opens": "00:00", "closes": "00:00"})
    stop = threading.Event()
    threads = start_simulators(hotline, config, ["hotline"], stop)
    consumer = Consumer({**bus.kafka.consumer_config(bus.worker.app_id), "enable.partition.eof": False})
    try:
        producer = EventProducer(bus)
        producer.send(catalogue.HANDOFF_HOTLINE, request)
        producer.flush()
        del producer
        replies = bus.topics.prefix + catalogue.HANDOFF_REPLIES.name
        consumer.assign([TopicPartition(replies, p, OFFSET_BEGINNING) for p in range(catalogue.CALL_PARTITIONS)])
        serde = serde_from_settings(bus)

        def answered():
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                return False
            event = serde.decode(msg.value())
            return getattr(event, "handoff_id", None) == request.event_id and event

        answer = wait_for(answered, timeout=60, interval=0, what="the hotline's answer, read by the bus")
        assert isinstance(answer, HandoffDeclined) and answer.agency == "external_hotline"
        assert all(t.error is None for t in threads)
    finally:
        consumer.close()
        stop_simulators(threads, stop)
