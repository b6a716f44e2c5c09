"""Watch catalogue topics in live tests: wait (with a deadline) for events matching a predicate."""

from __future__ import annotations

from typing import Callable

from dispatchbus.catalogue import TopicSpec
from dispatchbus.kafka.clients import Consumed, TopicReader
from dispatchbus.contract.events import Event
from dispatchbus.settings import Settings

from .waiting import wait_for


class TopicWatcher:
    """Reads one topic from the beginning and remembers everything it saw."""

    def __init__(self, settings: Settings, spec: TopicSpec) -> None:
        self.reader = TopicReader(settings, spec)
        self.records: list[Consumed] = []

    @property
    def events(self) -> list[Event]:
        return [r.event for r in self.records if r.event is not None]

    def drain(self) -> list[Event]:
        """Read whatever has arrived; returns every event seen so far."""
        self._drain()
        return self.events

    def _drain(self) -> None:
        while (rec := self.reader.poll(0.05)) is not None:
            self.records.append(rec)

    def wait(self, predicate: Callable[[Event], bool] = lambda e: True, *, count: int = 1,
             timeout: float = 30.0, what: str = "events") -> list[Event]:
        """The first ``count`` events matching ``predicate``; fails after ``timeout`` seconds."""

        def matched() -> list[Event] | None:
            self._drain()
            found = [e for e in self.events if predicate(e)]
            return found[:count] if len(found) >= count else None

        return wait_for(matched, timeout=timeout, interval=0.05, what=f"{count} {what} on {self.reader.topic}")

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> TopicWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def read_partition(settings: Settings, topic: str, partition: int, until: Callable[[list], bool],
                   what: str, timeout: float = 30.0) -> list:
    """Raw records of one partition (a table's changelog: not Avro), from its start until ``until(records)``."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": f"{topic}-reader",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
    records: list = []
    try:
        def done() -> bool:
            message = consumer.poll(0.1)
            if message is not None and message.error() is None:
                records.append(message)
            return until(records)

        wait_for(done, timeout=timeout, interval=0, what=what)
    finally:
        consumer.close()
    return records
