"""Create and describe the catalogue's topics with confluent-kafka's admin client.

Topics are always created from the catalogue before any client starts: the
embedded broker gives auto-created topics the wrong partition count, and
clients run with auto-creation disabled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from ..catalogue import TopicSpec, topics_for
from ..settings import Settings


@dataclass(frozen=True)
class TopicState:
    """A catalogue topic as the broker sees it (partitions None: missing)."""

    spec: TopicSpec
    name: str
    partitions: int | None


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(settings.kafka.admin_config())


def create_topics(settings: Settings, specs: tuple[TopicSpec, ...] | None = None, timeout: float = 30.0) -> list[str]:
    """Create missing catalogue topics (and the listed PSAPs' own); returns the names created.

    Existing ones are left alone.
    """
    specs = topics_for(settings) if specs is None else specs
    admin = admin_client(settings)
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [
        NewTopic(
            spec.full_name(settings.topics),
            num_partitions=spec.partition_count(settings.topics),
            replication_factor=settings.kafka.replication_factor,
            config=spec.broker_config(),
        )
        for spec in specs
        if spec.full_name(settings.topics) not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, operation_timeout=timeout, request_timeout=timeout).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
    _wait_visible(admin, [t.topic for t in wanted], timeout)
    return created


def delete_topics_starting_with(settings: Settings, stems: tuple[str, ...], timeout: float = 30.0) -> list[str]:
    """Delete every topic whose name starts with one of ``stems``; returns the names deleted."""
    admin = admin_client(settings)
    names = sorted(t for t in admin.list_topics(timeout=timeout).topics if t.startswith(stems))
    if not names:
        return []
    for future in admin.delete_topics(names, operation_timeout=timeout, request_timeout=timeout).values():
        future.result()
    return names


def _wait_visible(admin: AdminClient, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=timeout).topics
        missing = [n for n in names if n not in topics or topics[n].error is not None]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics not visible after creation: {', '.join(missing)}")
        time.sleep(0.05)


def describe_topics(settings: Settings, specs: tuple[TopicSpec, ...] | None = None) -> list[TopicState]:
    """Each catalogue topic (and the listed PSAPs' own) with its partition count on the broker."""
    specs = topics_for(settings) if specs is None else specs
    topics = admin_client(settings).list_topics(timeout=10).topics
    states = []
    for spec in specs:
        name = spec.full_name(settings.topics)
        meta = topics.get(name)
        states.append(TopicState(spec, name, len(meta.partitions) if meta else None))
    return states
