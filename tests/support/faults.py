"""Helpers of the fault tests: the worker group's committed offsets, topic configs changed on the fly."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from dispatchbus.catalogue import TopicSpec
from dispatchbus.contract.events import Event
from dispatchbus.contract.serde import serde_from_settings
from dispatchbus.settings import Settings


def committed_offsets(settings: Settings, spec: TopicSpec) -> dict[int, int]:
    """The worker group's committed offset of each partition of ``spec``'s topic (-1: none committed)."""
    topic = spec.full_name(settings.topics)
    consumer = Consumer(settings.kafka.consumer_config(settings.worker.app_id))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        got = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: tp.offset if tp.offset >= 0 else -1 for tp in got}
    finally:
        consumer.close()


def set_topic_config(settings: Settings, spec: TopicSpec, config: dict[str, str | None]) -> None:
    """Set (a value) or delete (None: back to the broker's default) configs of ``spec``'s topic."""
    topic = spec.full_name(settings.topics)
    entries = [
        ConfigEntry(name, value or "", incremental_operation=(
            AlterConfigOpType.SET if value is not None else AlterConfigOpType.DELETE))
        for name, value in config.items()
    ]
    admin = AdminClient(settings.kafka.admin_config())
    for future in admin.incremental_alter_configs([ConfigResource("topic", topic, incremental_configs=entries)]).values():
        future.result(timeout=30)


def send_one(settings: Settings, spec: TopicSpec, event: Event, key: bytes | None = None,
             value: bytes | None = None) -> tuple[int, int]:
    """Produce one record (``event`` encoded, or raw ``value``) and return its (partition, offset)."""
    topic = spec.full_name(settings.topics)
    producer = Producer(settings.kafka.producer_config())
    where: list[tuple[int, int]] = []
    errors: list[str] = []

    def delivered(err, msg) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            where.append((msg.partition(), msg.offset()))

    producer.produce(topic, value if value is not None else serde_from_settings(settings).encode(event, topic),
                     key if key is not None else spec.key_of(event).encode(), on_delivery=delivered)
    left = producer.flush(30)
    assert not errors and not left, f"not delivered: {errors or left}"
    return where[0]
