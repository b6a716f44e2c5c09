"""What a principal can really do on a broker: describe, write and read each topic, tried with real clients."""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from dispatchbus.settings import KafkaSettings

DENIED = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED}


def describable(kafka: KafkaSettings, topics: Iterable[str]) -> set[str]:
    """The ``topics`` the principal sees in metadata (the broker leaves out those it may not DESCRIBE)."""
    seen = AdminClient(kafka.admin_config()).list_topics(timeout=30).topics
    return {t for t in topics if t in seen and seen[t].error is None}


def writable(kafka: KafkaSettings, topics: Iterable[str], timeout: float = 30.0) -> set[str]:
    """The ``topics`` a record sent by the principal (to partition 0) lands on."""
    producer = Producer({**kafka.common_config(), "acks": "all", "message.timeout.ms": int(timeout * 1000),
                         "allow.auto.create.topics": False})
    results: dict[str, KafkaError | None] = {}

    def report(err, msg, topic):
        results[topic] = err

    for topic in topics:
        producer.produce(topic, b"acl probe", partition=0, on_delivery=lambda e, m, t=topic: report(e, m, t))
    deadline = time.monotonic() + timeout + 5
    while len(results) < len(set(topics)) and time.monotonic() < deadline:
        producer.poll(0.2)
    producer.flush(5)
    missing = set(topics) - set(results)
    assert not missing, f"no delivery report for {sorted(missing)}"
    for topic, err in results.items():
        assert err is None or err.code() in DENIED, f"{topic}: {err}"
    return {t for t, err in results.items() if err is None}


def readable(kafka: KafkaSettings, topics: Iterable[str], group: str, timeout: float = 30.0) -> set[str]:
    """The ``topics`` whose partition 0 the principal can fetch (a record or the partition's end).

    A topic the principal may not even DESCRIBE is not fetched: Kafka's READ implies DESCRIBE, so it is
    unreadable (and the client would only wait for metadata that never names it).
    """
    wanted = describable(kafka, topics)
    if not wanted:
        return set()
    consumer = Consumer({**kafka.common_config(), "group.id": group, "enable.auto.commit": False,
                         "enable.partition.eof": True, "allow.auto.create.topics": False,
                         "topic.metadata.refresh.interval.ms": 1000})
    verdict: dict[str, bool] = {}
    try:
        consumer.assign([TopicPartition(t, 0, OFFSET_BEGINNING) for t in wanted])
        deadline = time.monotonic() + timeout
        while set(verdict) != wanted and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err, topic = msg.error(), msg.topic()
            if err is None or err.code() == KafkaError._PARTITION_EOF:
                verdict.setdefault(topic, True)
            elif err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED and topic:
                verdict[topic] = False
            elif err.code() != KafkaError.GROUP_AUTHORIZATION_FAILED:  # the group's coordinator: not a fetch
                raise AssertionError(f"{topic or 'consumer'}: {err}")
    finally:
        consumer.close()
    assert set(verdict) == wanted, f"no verdict for {sorted(wanted - set(verdict))}"
    return {t for t, ok in verdict.items() if ok}
