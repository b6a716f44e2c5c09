"""Ended calls' retention: each expires once, at ended_at + retention, in its record's partition."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from confluent_kafka import Producer

from dispatchbus import catalogue
from dispatchbus.lifecycle.expiry import ExpiryIndex, key_partition
from dispatchbus.lifecycle.timeline import Timeline

T0 = datetime(2026, 5, 4, 18, 0, tzinfo=timezone.utc)


def ended(call_id: str, at: datetime) -> Timeline:
    return Timeline(call_id=call_id, status="closed", ended_at=at)


def test_ended_calls_expire_once_in_the_order_of_their_end():
    index = ExpiryIndex(timedelta(hours=1), partitions=6)
    index.update(ended("B", T0 + timedelta(minutes=10)), partition=4)
    index.update(ended("A", T0), partition=1)
    index.update(ended("A", T0), partition=1)  # stored again (a late event): still one entry
    index.update(Timeline(call_id="W", status="waiting"))  # not ended: never expires
    assert len(index) == 2
    assert index.take_expired(T0 + timedelta(minutes=59)) == []
    assert index.take_expired(T0 + timedelta(hours=1)) == [("A", 1)]
    assert index.take_expired(T0 + timedelta(days=2)) == [("B", 4)]
    assert index.take_expired(T0 + timedelta(days=3)) == [] and len(index) == 0


def test_no_retention_keeps_every_call():
    index = ExpiryIndex(timedelta(0), partitions=6)
    index.update(ended("A", T0), partition=1)
    assert len(index) == 0 and index.take_expired(T0 + timedelta(days=365)) == []


def test_a_rebuilt_index_takes_partitions_from_the_keys():
    index = ExpiryIndex(timedelta(minutes=5), partitions=6)
    index.update(ended("stale", T0), partition=0)
    index.rebuild([ended("C-17", T0), None, Timeline(call_id="W", status="waiting")])
    assert index.take_expired(T0 + timedelta(minutes=5)) == [("C-17", key_partition("C-17", 6))]


@pytest.mark.broker
def test_key_partition_is_where_the_bus_producers_put_a_call(bus_settings):
    topic = catalogue.CAD_CALLS.full_name(bus_settings.topics)
    producer = Producer(bus_settings.kafka.producer_config())
    delivered: dict[str, int] = {}
    keys = [f"C-{n}" for n in range(60)] + ["911-2026-000017", "é-call"]
    for key in keys:
        producer.produce(topic, b"x", key.encode(),
                         on_delivery=lambda err, msg: delivered.__setitem__(msg.key().decode(), msg.partition()))
    assert producer.flush(30) == 0
    assert delivered == {key: key_partition(key, catalogue.CALL_PARTITIONS) for key in keys}
    assert len(set(delivered.values())) == catalogue.CALL_PARTITIONS
