"""confluent-kafka producer and reader of contract events, for the CLI, connectors and tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from ..catalogue import TopicSpec
from ..contract.events import Event
from ..contract.serde import AvroSerde, DecodeError, serde_from_settings
from ..settings import Settings


class DeliveryError(RuntimeError):
    """The broker did not accept some records."""


class EventProducer:
    """Encode contract events and produce them on catalogue topics, keyed per the catalogue."""

    def __init__(self, settings: Settings, serde: AvroSerde | None = None) -> None:
        self.settings = settings
        self.serde = serde or serde_from_settings(settings)
        self._producer = Producer(settings.kafka.producer_config())
        self._errors: list[str] = []

    def _on_delivery(self, err: KafkaError | None, msg: object) -> None:
        if err is not None:
            self._errors.append(str(err))

    def send(self, spec: TopicSpec, event: Event, *, key: str | None = None) -> None:
        """Queue one event (call :meth:`flush` to wait for delivery)."""
        if not isinstance(event, spec.value_types):
            raise ValueError(f"{type(event).__name__} does not belong on {spec.name}")
        topic = spec.full_name(self.settings.topics)
        self.send_raw(topic, (key or spec.key_of(event)).encode(), self.serde.encode(event, topic))

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """Queue raw bytes (used to inject malformed records in tests and tools)."""
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued record is acknowledged; raise on any failure."""
        remaining = self._producer.flush(timeout)
        if remaining:
            raise DeliveryError(f"{remaining} records not delivered within {timeout}s")
        if self._errors:
            errors, self._errors = self._errors, []
            raise DeliveryError(f"{len(errors)} records failed: {errors[0]}")


@dataclass(frozen=True)
class Consumed:
    """One consumed record: the event, or the decode error, with its position."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    event: Event | None
    error: DecodeError | None


class TopicReader:
    """Read every partition of one topic from the beginning, without joining a group."""

    def __init__(self, settings: Settings, spec_or_name: TopicSpec | str, serde: AvroSerde | None = None) -> None:
        self.settings = settings
        self.serde = serde or serde_from_settings(settings)
        self.topic = (
            spec_or_name if isinstance(spec_or_name, str) else spec_or_name.full_name(settings.topics)
        )
        conf = settings.kafka.consumer_config(group_id=f"{settings.kafka.client_id}-reader")
        self._consumer = Consumer(conf)
        meta = self._consumer.list_topics(self.topic, timeout=10).topics.get(self.topic)
        if meta is None or meta.error is not None:
            self._consumer.close()
            raise KeyError(f"topic {self.topic} does not exist")
        self._consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in meta.partitions])

    def poll(self, timeout: float = 0.5) -> Consumed | None:
        """The next record, or None if none arrived within ``timeout``."""
        msg = self._consumer.poll(timeout)
        if msg is None:
            return None
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                return None
            raise RuntimeError(f"consume error on {self.topic}: {msg.error()}")
        try:
            event, error = self.serde.decode(msg.value()), None
        except DecodeError as exc:
            event, error = None, exc
        return Consumed(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(), event, error)

    def iter(self, *, idle_timeout: float | None = 2.0, max_records: int | None = None) -> Iterator[Consumed]:
        """Records until ``max_records`` or until nothing arrives for ``idle_timeout`` seconds (None: forever)."""
        count = 0
        last = time.monotonic()
        while max_records is None or count < max_records:
            rec = self.poll(0.2)
            if rec is None:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    return
                continue
            last = time.monotonic()
            count += 1
            yield rec

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
