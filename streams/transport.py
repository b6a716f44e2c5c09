"""Faust Kafka driver: configurable fetch wait, and end offsets that can be verified.

Registered under the ``dispatchbus://`` URL scheme through the
``faust.transports`` entry point; it reads ``app.dispatchbus_settings``.

* Faust's aiokafka driver hard-codes ``fetch_max_wait_ms=1500``. On brokers
  that hold every fetch for about half of that even when data is ready (the
  embedded tansu broker), each hop then costs over a second; this driver
  applies ``Settings.kafka.fetch_max_wait_ms`` instead.
* The producer also flushes the worker's outbox (``dispatchbus.outbox``) when
  Faust flushes it, i.e. before every offset commit and on a rebalance.
* Table recovery reads each changelog up to its end offset. tansu reports the
  end of a partition as the last batch's base offset + 1, so a multi-record
  batch at the end would be skipped and table state lost on restart. With
  ``Settings.kafka.verify_end_offsets`` the driver reads the last batch and
  returns the true end (on Apache Kafka the check finds nothing to correct).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka

from .outbox import FLUSH_TIMEOUT_S, SHUTDOWN_TIMEOUT_S

DEFAULT_FETCH_MAX_WAIT_MS = 500


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Consumer thread whose worker consumer uses the configured fetch wait."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # AIOKafkaConsumer only reads this when start() builds its fetcher, which
        # has not happened yet: setting it here is equivalent to the constructor argument.
        consumer._fetch_max_wait_ms = fetch_max_wait_ms(self.app)
        return consumer

    async def _highwaters(self, partitions: list[Any]) -> Mapping[Any, int]:
        ends = await super()._highwaters(partitions)
        settings = getattr(self.app, "dispatchbus_settings", None)
        if settings is None or not settings.kafka.verify_end_offsets:
            return ends
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, verified_end_offsets, settings, dict(ends))


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Producer(faust_aiokafka.Producer):
    """Faust's producer; flushing it also flushes the app's outbox, if it has one."""

    async def flush(self) -> None:
        await super().flush()
        outbox = getattr(self.app, "dispatchbus_outbox", None)
        if outbox is not None:
            # The final commit of a stopping worker flushes too; it must not outwait a dead broker.
            await outbox.flush(SHUTDOWN_TIMEOUT_S if self.app.should_stop else FLUSH_TIMEOUT_S)

    async def on_stop(self) -> None:
        outbox = getattr(self.app, "dispatchbus_outbox", None)
        if outbox is not None:
            left = await asyncio.get_running_loop().run_in_executor(None, outbox.close)
            if left:
                self.log.error("%d outbox record(s) not delivered at shutdown", left)
        await super().on_stop()


class Transport(faust_aiokafka.Transport):
    """aiokafka transport with :class:`Consumer` and :class:`Producer`."""

    Consumer = Consumer
    Producer = Producer
    driver_version = f"dispatchbus+{faust_aiokafka.Transport.driver_version}"


def fetch_max_wait_ms(app: Any) -> int:
    """The fetch wait configured for ``app`` (Faust's own settings have no such key)."""
    settings = getattr(app, "dispatchbus_settings", None)
    return settings.kafka.fetch_max_wait_ms if settings is not None else DEFAULT_FETCH_MAX_WAIT_MS


def verified_end_offsets(settings: Any, ends: dict[Any, int]) -> dict[Any, int]:
    """Each partition's end offset, corrected by reading the batch before the reported end."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    todo = {tp: end for tp, end in ends.items() if end and end > 0}
    if not todo:
        return ends
    conf = settings.kafka.consumer_config(f"{settings.kafka.client_id}-end-offsets")
    conf["enable.partition.eof"] = True
    consumer = Consumer(conf)
    try:
        consumer.assign([TopicPartition(tp.topic, tp.partition, end - 1) for tp, end in todo.items()])
        open_parts = {(tp.topic, tp.partition): tp for tp in todo}
        result = dict(ends)
        deadline = time.monotonic() + 30
        while open_parts and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            key = (msg.topic(), msg.partition())
            if key not in open_parts:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    del open_parts[key]
                continue
            tp = open_parts[key]
            result[tp] = max(result[tp], msg.offset() + 1)
        return result
    finally:
        consumer.close()
