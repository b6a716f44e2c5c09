"""Topics stay as the catalogue says: `topics create`/`describe` report differences, the worker refuses a
mismatched co-partitioned layout, and no client auto-creates a topic (on a broker that would allow it)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from dispatchbus import catalogue
from dispatchbus.kafka.admin import create_topics, describe_topics
from dispatchbus.cli.main import main
from dispatchbus.dev.kafka_broker import KafkaBroker
from dispatchbus.settings import KafkaSettings

from .support.waiting import wait_for


def cli(capsys: pytest.CaptureFixture[str], settings, *args: str) -> tuple[int, str]:
    """Run `dispatchbus topics ...` on the test's prefix; its exit code and everything it printed."""
    capsys.readouterr()
    code = main(["topics", *args, "--bootstrap", settings.kafka.bootstrap_servers,
                 "--topic-prefix", settings.topics.prefix])
    out = capsys.readouterr()
    return code, out.out + out.err


def make_topic(settings, spec, partitions: int, config: dict[str, str] | None = None) -> str:
    """``spec``'s topic on the test's prefix, created by hand with a layout of the test's choosing."""
    name = spec.full_name(settings.topics)
    admin = AdminClient(settings.kafka.admin_config())
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result()
    wait_for(lambda: name in admin.list_topics(timeout=5).topics, timeout=20, what=f"{name} visible")
    return name


@pytest.fixture
def bare_settings(broker, tmp_path):
    """Settings with a unique prefix and no topic created yet."""
    from dispatchbus.dev.embedded_broker import isolated_settings

    return isolated_settings(broker.bootstrap_servers, tmp_path, f"t{uuid.uuid4().hex[:10]}", broker.client_tuning)


def test_a_catalogue_layout_is_reported_equal(bare_settings, capsys):
    code, out = cli(capsys, bare_settings, "create")
    assert code == 0, out
    assert f"{len(catalogue.topics_for(bare_settings))} created" in out
    code, out = cli(capsys, bare_settings, "describe")
    assert code == 0, out
    assert "DIFFERS" not in out
    code, out = cli(capsys, bare_settings, "create")  # again: all present, none differs
    assert code == 0 and "0 created" in out, out


def test_topics_create_and_describe_fail_on_another_partition_count(bare_settings, capsys):
    name = make_topic(bare_settings, catalogue.CAD_CALLS, 4)
    code, out = cli(capsys, bare_settings, "create")
    print(out)
    assert code == 1
    assert f"DIFFERS {name}: 4 partitions, the catalogue says 6" in out
    code, out = cli(capsys, bare_settings, "describe")
    assert code == 1
    assert "DIFFERS: 4 partitions, the catalogue says 6" in out
    # the other topics were still created, with the catalogue's layout
    states = {s.name: s for s in describe_topics(bare_settings)}
    assert [n for n, s in states.items() if s.differences] == [name]


def test_topics_describe_fails_on_another_config(bare_settings, capsys):
    wanted = catalogue.DECISIONS.broker_config()["retention.ms"]
    name = make_topic(bare_settings, catalogue.DECISIONS, 6, {"retention.ms": "3600000"})
    create_topics(bare_settings)
    code, out = cli(capsys, bare_settings, "describe")
    print(out)
    assert code == 1
    assert f"DIFFERS: retention.ms=3600000, the catalogue says {wanted}" in out
    code, out = cli(capsys, bare_settings, "create")
    assert code == 1 and f"DIFFERS {name}: retention.ms=3600000" in out


def test_the_worker_refuses_a_mismatched_copartitioned_layout(bare_settings, tmp_path):
    from dispatchbus.dev.processes import worker_process

    name = make_topic(bare_settings, catalogue.HANDOFF_HOTLINE, 3)
    worker = worker_process(bare_settings, tmp_path / "worker.log")
    with worker:
        wait_for(lambda: not worker.running, timeout=60, what="the worker to exit")
        code, log = worker.returncode, worker.log()
    print(log[-2000:])
    assert code == 2
    assert "refusing to start" in log and f"{name}: 3 partitions, the catalogue says 6" in log
    assert "Worker ready" not in log


@pytest.fixture(scope="module")
def permissive_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """Apache Kafka that auto-creates any topic a client asks for: only the clients' settings can refuse."""
    run_dir = tmp_path_factory.mktemp("permissive-kafka")
    with KafkaBroker(run_dir=run_dir, broker_config={"auto.create.topics.enable": "true"}) as running:
        yield running


def _topics(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


def test_the_permissive_broker_does_auto_create_for_a_client_that_asks(permissive_kafka):
    """The control: without our settings, a client's request creates the topic."""
    topic = f"asked-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": permissive_kafka.bootstrap_servers, "allow.auto.create.topics": True})
    producer.produce(topic, b"x")
    assert producer.flush(30) == 0
    assert topic in _topics(permissive_kafka.bootstrap_servers)


def test_librdkafka_clients_never_auto_create(permissive_kafka):
    kafka = KafkaSettings(bootstrap_servers=permissive_kafka.bootstrap_servers, **permissive_kafka.client_tuning)
    produced, consumed = f"produced-{uuid.uuid4().hex[:8]}", f"consumed-{uuid.uuid4().hex[:8]}"
    errors: list[str] = []
    producer = Producer({**kafka.producer_config(), "message.timeout.ms": 3000})
    producer.produce(produced, b"x", on_delivery=lambda err, _msg: errors.append(str(err)) if err else None)
    assert producer.flush(30) == 0
    assert errors, "a record to a missing topic was delivered"
    consumer = Consumer(kafka.consumer_config(f"g-{uuid.uuid4().hex[:8]}"))
    try:
        consumer.subscribe([consumed])
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            consumer.poll(0.2)
    finally:
        consumer.close()
    left = _topics(permissive_kafka.bootstrap_servers)
    print(f"producer's delivery error: {errors[0]}")
    assert produced not in left and consumed not in left


def test_the_workers_kafka_client_never_auto_creates(permissive_kafka):
    """aiokafka (Faust's client) with dispatchbus.runtime.driver imported: its metadata requests ask for no creation."""
    import aiokafka
    from aiokafka.errors import KafkaTimeoutError, UnknownTopicOrPartitionError

    import dispatchbus.runtime.driver  # noqa: F401  (installs the metadata request)

    topic = f"faust-{uuid.uuid4().hex[:8]}"

    async def send() -> str:
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=permissive_kafka.bootstrap_servers,
                                             request_timeout_ms=3000)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"x")
            return "delivered"
        except (KafkaTimeoutError, UnknownTopicOrPartitionError) as exc:
            return f"refused: {type(exc).__name__}"
        finally:
            await producer.stop()

    outcome = asyncio.run(send())
    print(outcome)
    assert outcome.startswith("refused")
    assert topic not in _topics(permissive_kafka.bootstrap_servers)


def test_the_repository_pins_the_engines_settings() -> None:
    """The harness's Apache Kafka refuses auto-creation as docker-compose.yml's does."""
    props = KafkaBroker(run_dir=Path("/nonexistent")).server_properties()
    assert props["auto.create.topics.enable"] == "false"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["listeners"].count("127.0.0.1") == 2
