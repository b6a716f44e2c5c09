"""The worker's output path: a librdkafka producer flushed before every offset commit.

Faust's own producer (aiokafka) costs more Python time per record than the
routing itself, and the worker produces three records per call (decision,
handoff, changelog). The outbox hands records to confluent-kafka, whose
batching and I/O run in librdkafka's threads, outside the GIL.

At-least-once is kept: Faust flushes its producer before it commits consumer
offsets, and the worker's Faust producer (``dispatchbus.transport.Producer``)
flushes the outbox too. A record that librdkafka could not deliver makes that
flush raise, so the offsets are not committed and the input is processed
again after a restart. Partitioning is the Java client's (``murmur2_random``),
the same as aiokafka's, so records keep their partition whichever producer
sends them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from . import metrics

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 60.0

POLL_EVERY = 1000
"""Records between two servings of delivery reports (each serving releases the GIL; see ``produce``)."""


class DeliveryFailed(RuntimeError):
    """A record handed to the outbox was not delivered; offsets must not be committed."""


class Outbox:
    """Produce records without waiting; ``flush`` waits for all of them and reports failures."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = dict(config)
        self._producer: Producer | None = None
        self._lock = threading.Lock()
        self._failures: list[str] = []
        self._unpolled = 0

    @property
    def producer(self) -> Producer:
        # Created on first use, inside the worker process (librdkafka threads do not survive a fork).
        if self._producer is None:
            with self._lock:
                if self._producer is None:
                    self._producer = Producer(self._config)
        return self._producer

    def _delivered(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            metrics.PRODUCE_FAILURES.labels(msg.topic() or "").inc()
            # The record's content stays out of the log: it may carry call data.
            log.error("delivery to %s[%s] failed: %s", msg.topic(), msg.partition(), err)
            with self._lock:
                self._failures.append(f"{msg.topic()}: {err}")

    def produce(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """Queue one record. When librdkafka's queue is full, wait for room (backpressure)."""
        producer = self.producer
        kwargs: dict[str, Any] = {"on_delivery": self._delivered}
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                producer.produce(topic, value, key, **kwargs)
                break
            except BufferError:
                producer.poll(0.05)
        # poll() releases the GIL; doing it per record lets Faust's consumer thread take the GIL
        # each time, and the event loop then waits for it (measured: 40 us per record instead of 2).
        self._unpolled += 1
        if self._unpolled >= POLL_EVERY:
            self._unpolled = 0
            producer.poll(0)

    async def flush(self, timeout: float = FLUSH_TIMEOUT_S) -> None:
        """Wait until every queued record is acknowledged; raise :class:`DeliveryFailed` otherwise."""
        if self._producer is None:
            return
        producer = self._producer
        if len(producer):
            loop = asyncio.get_running_loop()
            left = await loop.run_in_executor(None, producer.flush, timeout)
            if left:
                raise DeliveryFailed(f"{left} record(s) not delivered within {timeout:.0f} s")
        else:
            producer.poll(0)
        with self._lock:
            failures, self._failures = self._failures, []
        if failures:
            raise DeliveryFailed(f"{len(failures)} record(s) not delivered, first: {failures[0]}")

    def close(self, timeout: float = 10.0) -> int:
        """Flush what is left (blocking) and drop the producer; returns how many records were not delivered."""
        if self._producer is None:
            return 0
        try:
            left = self._producer.flush(timeout)
        except KafkaException as exc:  # pragma: no cover - librdkafka fatal errors
            log.error("outbox close: %s", exc)
            left = len(self._producer)
        self._producer = None
        return left
