"""The harness's Apache Kafka: resolved jars, a fresh KRaft node, SIGKILL and restart on the same log dirs."""

from __future__ import annotations

import os
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from dispatchbus.dev.kafka_broker import (
    DEFAULT_KAFKA_VERSION,
    KafkaBroker,
    ensure_jars,
    jars_home,
    maven_command,
    random_cluster_id,
)


def test_maven_picks_the_logging_backend_of_each_kafka_line(tmp_path):
    three = maven_command("3.9.1", tmp_path, Path("pom.xml"))
    four = maven_command("4.1.1", tmp_path, Path("pom.xml"))
    assert "-Pkafka4" not in three and "-Dkafka.version=3.9.1" in three
    assert "-Pkafka4" in four and "-Dkafka.version=4.1.1" in four
    assert f"-DoutputDirectory={tmp_path}" in four


def test_cluster_ids_are_kafka_uuids():
    ids = {random_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 22 and not i.startswith("-") and "=" not in i for i in ids)


def test_the_jars_are_resolved_once_and_stamped():
    lib = ensure_jars(DEFAULT_KAFKA_VERSION)
    stamp = jars_home(DEFAULT_KAFKA_VERSION) / ".resolved"
    assert lib == jars_home(DEFAULT_KAFKA_VERSION) / "lib"
    assert (lib / f"kafka_2.13-{DEFAULT_KAFKA_VERSION}.jar").is_file()
    assert any(lib.glob("*reload4j*.jar")), "a logging backend"
    assert stamp.read_text().startswith(DEFAULT_KAFKA_VERSION)
    before = {p.name: p.stat().st_mtime_ns for p in lib.iterdir()}
    assert ensure_jars(DEFAULT_KAFKA_VERSION) == lib  # stamped: nothing resolved again
    assert {p.name: p.stat().st_mtime_ns for p in lib.iterdir()} == before


def _records(bootstrap: str, topic: str, partitions: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "check", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got = []
        for _ in range(100):
            for msg in consumer.consume(50, timeout=0.5):
                if not msg.error():
                    got.append(msg.value())
            if len(got) >= 20:
                break
        return sorted(got)
    finally:
        consumer.close()


def test_a_killed_broker_restarts_on_its_log_dirs_with_its_records(tmp_path):
    broker = KafkaBroker(run_dir=tmp_path / "kafka")
    with broker:
        assert broker.log_file.is_file() and broker.bootstrap_servers.startswith("127.0.0.1:")
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        admin.create_topics([NewTopic("kept", 3, 1)])["kept"].result()
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "acks": "all"})
        for i in range(20):
            producer.produce("kept", f"r{i:02d}".encode(), key=str(i).encode())
        assert producer.flush(30) == 0
        pid = broker.pid
        broker.kill()
        assert not broker.running
        try:
            os.kill(pid, 0)
            raise AssertionError(f"pid {pid} still exists after kill()")
        except ProcessLookupError:
            pass
        broker.restart()
        assert broker.running and broker.pid != pid
        assert _records(broker.bootstrap_servers, "kept", 3) == sorted(f"r{i:02d}".encode() for i in range(20))
        pid = broker.pid
    assert not broker.running
    try:
        os.kill(pid, 0)
        raise AssertionError(f"pid {pid} still exists after stop()")
    except ProcessLookupError:
        pass
    assert "Kafka Server started" in broker.log_file.read_text()
