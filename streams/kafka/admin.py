"""Create, describe and check the catalogue's topics with confluent-kafka's admin client.

Topics are always created from the catalogue before any client starts: no
client auto-creates one (librdkafka's ``allow.auto.create.topics`` is off, and
aiokafka asks for no auto-creation, see :mod:`dispatchbus.runtime.driver`), and the
brokers of docker-compose.yml and the harness refuse it. A topic that exists
with another partition count or config than the catalogue's is never changed
here: :func:`topic_differences` says what differs, ``dispatchbus topics
create``/``describe`` exit non-zero on it, and the worker refuses to start
when a co-partitioned topic differs (:func:`check_copartitioned`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from ..catalogue import TopicSpec, topics_for
from ..settings import Settings


class TopicLayoutError(RuntimeError):
    """Topics on the broker differ from the catalogue in a way the bus cannot run with."""


@dataclass(frozen=True)
class TopicState:
    """A catalogue topic as the broker sees it (partitions None: missing).

    ``config``: the broker's values of the configs the catalogue sets (an entry the broker did not
    report is left out); ``differences``: what differs from the catalogue, in words.
    """

    spec: TopicSpec
    name: str
    partitions: int | None
    config: Mapping[str, str] | None = None
    differences: tuple[str, ...] = ()


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


def topic_configs(admin: AdminClient, names: Iterable[str], timeout: float = 10.0) -> dict[str, dict[str, str]]:
    """Each topic's configs as the broker reports them (name to value)."""
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
    if not resources:
        return {}
    result = {}
    for resource, future in admin.describe_configs(resources, request_timeout=timeout).items():
        entries = future.result()
        result[resource.name] = {k: e.value for k, e in entries.items() if e.value is not None}
    return result


def topic_differences(
    spec: TopicSpec, settings: Settings, partitions: int | None, config: Mapping[str, str] | None
) -> tuple[str, ...]:
    """What differs between the broker's topic and the catalogue's entry, in words (empty: nothing)."""
    if partitions is None:
        return ("missing",)
    wanted_partitions = spec.partition_count(settings.topics)
    found = []
    if partitions != wanted_partitions:
        found.append(f"{partitions} partitions, the catalogue says {wanted_partitions}")
    for key, wanted in spec.broker_config().items():
        have = (config or {}).get(key)
        if have is not None and have != wanted:
            found.append(f"{key}={have}, the catalogue says {wanted}")
    return tuple(found)


def describe_topics(settings: Settings, specs: tuple[TopicSpec, ...] | None = None) -> list[TopicState]:
    """Each catalogue topic (and the listed PSAPs' own) as it is on the broker, with what differs."""
    specs = topics_for(settings) if specs is None else specs
    admin = admin_client(settings)
    topics = admin.list_topics(timeout=10).topics
    names = [spec.full_name(settings.topics) for spec in specs]
    configs = topic_configs(admin, [n for n in names if n in topics])
    states = []
    for spec, name in zip(specs, names):
        meta = topics.get(name)
        partitions = len(meta.partitions) if meta else None
        config = configs.get(name)
        states.append(TopicState(spec, name, partitions, config, topic_differences(spec, settings, partitions, config)))
    return states


def check_copartitioned(settings: Settings, extra: Mapping[str, int] | None = None) -> None:
    """Raise :class:`TopicLayoutError` unless every co-partitioned topic has the catalogue's partition count.

    Co-partitioned: the catalogue's topics keyed by call id, and ``extra`` (topic name to the count it
    must have, e.g. the tables' changelogs; one that does not exist yet is fine, it is created with
    that count). A call's events and its table state meet on one partition number only if all agree.
    """
    wanted = {
        spec.full_name(settings.topics): spec.partition_count(settings.topics)
        for spec in topics_for(settings)
        if spec.key == "call_id"
    }
    optional = dict(extra or {})
    topics = admin_client(settings).list_topics(timeout=10).topics
    problems = []
    for name, count in {**wanted, **optional}.items():
        meta = topics.get(name)
        if meta is None:
            if name not in optional:
                problems.append(f"{name}: missing")
            continue
        if len(meta.partitions) != count:
            problems.append(f"{name}: {len(meta.partitions)} partitions, the catalogue says {count}")
    if problems:
        raise TopicLayoutError(
            "co-partitioned topics differ from the catalogue (a call's events would meet on different "
            "partitions); recreate them with `dispatchbus topics create` on an empty cluster or fix them by hand: "
            + "; ".join(problems)
        )
