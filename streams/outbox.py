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
import time
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from . import metrics

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 60.0
"""How long a pre-commit flush waits for delivery reports while the worker runs."""

SHUTDOWN_TIMEOUT_S = 5.0
"""How long the flushes of a stopping worker wait: a worker whose broker is gone must still stop
well within an orchestrator's grace period. Records left undelivered lose nothing, since the
offsets of their inputs are not committed and the inputs are processed again after a restart."""

POLL_EVERY = 1000
"""Records between two servings of delivery reports (each serving releases the GIL; see ``produce``)."""


class DeliveryFailed(RuntimeError):
    """A record handed to the outbox was not delivered; offsets must not be committed."""


class Outbox:
    """Produce records without waiting; ``flush`` waits for those queued before it and reports failures."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = dict(config)
        self._producer: Producer | None = None
        self._lock = threading.Lock()
        self._failures: list[str] = []
        self._unpolled = 0
        self._seq = 0  # records handed over so far
        # Their numbers until librdkafka reports them. Written by the event loop (produce) and by
        # whichever thread serves delivery reports, without a lock: a dict's item assignment, pop
        # and min() over int keys each run without releasing the GIL. A lock here made the event
        # loop wait for the flush's poll thread, which held it while the GIL switched away.
        self._outstanding: dict[int, None] = {}

    @property
    def producer(self) -> Producer:
        # Created on first use, inside the worker process (librdkafka threads do not survive a fork).
        if self._producer is None:
            with self._lock:
                if self._producer is None:
                    self._producer = Producer(self._config)
        return self._producer

    def _delivered(self, seq: int, err: KafkaError | None, msg: Any) -> None:
        self._outstanding.pop(seq, None)
        if err is not None:
            metrics.PRODUCE_FAILURES.labels(msg.topic() or "").inc()
            # The record's content stays out of the log: it may carry call data.
            log.error("delivery to %s[%s] failed: %s", msg.topic(), msg.partition(), err)
            with self._lock:
                self._failures.append(f"{msg.topic()}: {err}")

    def produce(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """Queue one record from synchronous code (a table's changelog); a full queue blocks until there is room."""
        while not self._try_produce(topic, key, value, partition):
            self.producer.poll(0.05)

    async def send(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """Queue one record from a coroutine; a full queue is waited out without blocking the event loop."""
        while not self._try_produce(topic, key, value, partition):
            self.producer.poll(0)
            await asyncio.sleep(0.005)

    def _try_produce(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None) -> bool:
        producer = self.producer
        seq = self._seq + 1
        kwargs: dict[str, Any] = {"on_delivery": partial(self._delivered, seq)}
        if partition is not None:
            kwargs["partition"] = partition
        self._outstanding[seq] = None
        try:
            producer.produce(topic, value, key, **kwargs)
        except BufferError:
            self._outstanding.pop(seq, None)
            return False
        self._seq = seq
        # poll() releases the GIL; doing it per record lets Faust's consumer thread take the GIL
        # each time, and the event loop then waits for it (measured: 40 us per record instead of 2).
        self._unpolled += 1
        if self._unpolled >= POLL_EVERY:
            self._unpolled = 0
            producer.poll(0)
        return True

    async def flush(self, timeout: float = FLUSH_TIMEOUT_S) -> None:
        """Wait until every record queued so far is reported; raise :class:`DeliveryFailed` on any failure.

        Records queued while this waits are not waited for (librdkafka's own
        flush would, and never returns while the agents keep producing).
        """
        if self._producer is None:
            return
        producer = self._producer
        upto = self._seq
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        while self._waiting_for(upto):
            if time.monotonic() > deadline:
                raise DeliveryFailed(f"records not delivered within {timeout:.0f} s")
            # Serves delivery reports off the event loop (poll waits without the GIL).
            await loop.run_in_executor(None, producer.poll, 0.05)
        with self._lock:
            failures, self._failures = self._failures, []
        if failures:
            raise DeliveryFailed(f"{len(failures)} record(s) not delivered, first: {failures[0]}")

    def _waiting_for(self, upto: int) -> bool:
        outstanding = self._outstanding
        return bool(outstanding) and min(outstanding) <= upto

    def close(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> int:
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
