"""The worker's output path: a librdkafka producer flushed before every offset commit.

Faust's own producer (aiokafka) costs more Python time per record than the
routing itself, and the worker produces three records per call (decision,
handoff, changelog). The outbox hands records to confluent-kafka, whose
batching and I/O run in librdkafka's threads, outside the GIL.

At-least-once is kept: Faust flushes its producer before it commits consumer
offsets, and the worker's Faust producer (``dispatchbus.runtime.driver.Producer``)
flushes the outbox too. A record that librdkafka could not deliver makes that
flush raise, so the offsets are not committed and the input is processed
again after a restart. Such a failure stays in force until the outbox is
closed (the worker stops): every later flush raises too, and the driver's
consumer refuses to commit while it holds (``Outbox.undelivered``), so neither
the timer's commit, a rebalance's nor the shutdown's can pass an output that
was never written.

Table changelog records never get ahead of the outputs: they are kept back
(:meth:`Outbox.keep_state`) until a flush has delivered every output queued
before them, and that flush then delivers them too. A worker killed meanwhile
leaves state that has not yet seen the inputs whose outputs may be lost; the
inputs are handled again after a restart and their outputs sent again (with the
same ids). The other order lost outputs: a restored timeline that had seen an
input dropped it as a copy. Partitioning is the Java client's (``murmur2_random``),
the same as aiokafka's, so records keep their partition whichever producer
sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from .. import metrics

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 60.0
"""How long a pre-commit flush waits for delivery reports while the worker runs."""

SHUTDOWN_TIMEOUT_S = 5.0
"""How long the flushes of a stopping worker wait: a worker whose broker is gone must still stop
well within an orchestrator's grace period. Records left undelivered lose nothing, since the
offsets of their inputs are not committed and the inputs are processed again after a restart."""

POLL_EVERY = 1000
"""Records between two servings of librdkafka's events (each serving releases the GIL; see ``_try_produce``)."""

Queued = tuple[str, "bytes | None", "bytes | None", "int | None"]
"""topic, key, value, partition (None: librdkafka's partitioner picks it by key)."""


class DeliveryFailed(RuntimeError):
    """A record handed to the outbox was not delivered; offsets must not be committed."""


class _Failures:
    """librdkafka's delivery callback: counts failures and keeps the first; they stay in force.

    An object of its own, not a method of the outbox: the producer keeps its
    callback, and a bound method would tie producer and outbox in a cycle that
    only the garbage collector breaks, keeping a dropped outbox's producer
    connected meanwhile.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.first: str | None = None

    def __call__(self, err: KafkaError | None, msg: Any) -> None:
        # Runs in whichever thread serves librdkafka's events: a flush's, or the event loop's.
        if err is None:
            return
        metrics.PRODUCE_FAILURES.labels(msg.topic() or "").inc()
        # The record's content stays out of the log: it may carry call data.
        log.error("delivery to %s[%s] failed: %s", msg.topic(), msg.partition(), err)
        with self._lock:
            self.count += 1
            if self.first is None:
                self.first = f"{msg.topic()}: {err}"
        metrics.UNDELIVERED_IN_FORCE.set(1)

    def describe(self) -> str | None:
        """What was not delivered (None: every delivery reported so far succeeded)."""
        with self._lock:
            if self.first is None:
                return None
            return f"{self.count} record(s) not delivered, first: {self.first}"


IDLE_STATE_S = 3.0
"""How long without a flush before :meth:`Outbox.serve` sends kept-back state records itself."""

STATS_INTERVAL_MS = 1000
"""How often librdkafka reports its brokers' states to the outbox (:data:`metrics.BROKER_UP`)."""


def _broker_states(stats_json: str) -> None:
    """librdkafka's statistics callback: ``dispatchbus_broker_up`` is 1 while a broker connection is up."""
    import json

    try:
        brokers = json.loads(stats_json).get("brokers", {})
    except ValueError:  # pragma: no cover - librdkafka writes valid JSON
        return
    # A node the producer lost drops out of the list, leaving only the bootstrap entries, which are not UP.
    metrics.BROKER_UP.set(1 if any(b.get("state") == "UP" for b in brokers.values()) else 0)


class Outbox:
    """Produce records without waiting; ``flush`` waits for those queued before it and reports failures.

    librdkafka reports failed deliveries only (``delivery.report.only.error``):
    a report with a callback for every record cost the worker's main thread
    more than the produce itself. A flush therefore waits with librdkafka's own
    flush, and so that it waits for exactly the records queued before it, the
    records queued meanwhile are held back, in order, and handed to librdkafka
    as soon as it returns.

    While the worker works through a large fetched batch (it is behind), the
    consumer also has the outbox hold records (:meth:`hold`): they are handed
    over in bursts, at most ``max_hold_s`` apart, and at the batch's end
    (:meth:`release`). librdkafka then sends a few large produce requests
    instead of one per linger period, which costs the broker and librdkafka's
    threads far less per record (docs/benchmark.md, "Outputs in bursts while far behind"). A flush hands
    held records over too, so a commit still waits for them.
    """

    def __init__(self, config: dict[str, Any], max_hold_s: float = 0.0) -> None:
        metrics.UNDELIVERED_IN_FORCE.set(0)
        self._failures = _Failures()
        self._config = {
            **config, "delivery.report.only.error": True, "on_delivery": self._failures,
            "statistics.interval.ms": STATS_INTERVAL_MS, "stats_cb": _broker_states,
        }
        self._producer: Producer | None = None
        self._lock = threading.Lock()
        self._unpolled = 0
        # Only the event loop's thread touches the rest.
        self._held: list[Queued] | None = None  # not None while a flush runs or the outbox holds records
        self._flushing: asyncio.Future[None] | None = None
        self.max_hold_s = max_hold_s
        """How far apart :meth:`hold` hands records over (0: it does not hold)."""
        self._holding = False
        self._pass_on_at = 0.0  # monotonic time after which held records are handed over with the next one
        self._state: list[Queued] = []  # changelog records kept back until the outputs before them are delivered
        self._flushed_at = time.monotonic()

    @property
    def producer(self) -> Producer:
        # Created on first use, inside the worker process (librdkafka threads do not survive a fork).
        if self._producer is None:
            with self._lock:
                if self._producer is None:
                    self._producer = Producer(self._config)
        return self._producer

    def produce(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """Queue one record from synchronous code (a table's changelog); a full queue blocks until there is room."""
        while not self._queue(topic, key, value, partition):
            self.producer.poll(0.05)

    def serve(self) -> None:
        """Serve librdkafka's pending events (delivery failures, broker states) without waiting.

        Kept-back state records go out here too when no flush came for :data:`IDLE_STATE_S` and nothing
        queued before them is left undelivered (no flush comes while no input is handled: a timer's
        table deletes would otherwise wait for one). A busy worker's flushes send them.
        """
        if self._producer is None and not self._state:
            return
        producer = self.producer
        producer.poll(0)
        if (
            self._state and self._flushing is None and not self._held
            and time.monotonic() - self._flushed_at >= IDLE_STATE_S
            and len(producer) == 0  # counts records in flight and reports not yet served, too
            and self._failures.describe() is None
        ):
            self._pass_on(self._state)

    def keep_state(self, topic: str, key: bytes | None, value: bytes | None, partition: int) -> None:
        """Queue a table changelog record, sent by the next flush once the outputs queued before it are delivered."""
        self._state.append((topic, key, value, partition))

    async def send(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """Queue one record from a coroutine; a full queue is waited out without blocking the event loop."""
        while not self._queue(topic, key, value, partition):
            await self._wait_for_room()

    def _queue(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None) -> bool:
        """Hold the record while a flush runs or the outbox holds, else hand it to librdkafka.

        False when librdkafka's queue is full (the record was not taken).
        """
        held = self._held
        if held is not None:
            held.append((topic, key, value, partition))
            if self._holding and self._flushing is None and time.monotonic() >= self._pass_on_at:
                if self._pass_on(held):
                    self._restart_hold_clock()
            return True
        return self._try_produce(topic, key, value, partition)

    @property
    def undelivered(self) -> str | None:
        """Why no offset may be committed: a record was not delivered (None: none failed so far).

        Once set it stays until :meth:`close`: librdkafka does not send a failed
        record again, and its input is processed again only after a restart.
        """
        return self._failures.describe()

    @property
    def holding(self) -> bool:
        """True between :meth:`hold` and :meth:`release`."""
        return self._holding

    def hold(self) -> None:
        """Hold the records queued from now on; hand them over ``max_hold_s`` apart at most, and on :meth:`release`.

        The limit is checked when a record is queued: while the worker is
        behind, records keep coming. Does nothing if ``max_hold_s`` is 0 or a
        hold is on already.
        """
        if self._holding or self.max_hold_s <= 0:
            return
        metrics.OUTPUT_HOLDS.inc()
        self._holding = True
        self._restart_hold_clock()
        if self._held is None:
            self._held = []

    def _restart_hold_clock(self) -> None:
        self._pass_on_at = time.monotonic() + self.max_hold_s

    async def release(self) -> None:
        """End the hold: the held records go to librdkafka, oldest first (a running flush hands them over)."""
        self._holding = False
        if self._flushing is not None:
            return
        if not self._held:
            self._held = None
            return
        # Handing over may wait for room in librdkafka's queue; a flush started meanwhile waits for this.
        async with self._turn():
            await self._hand_over()

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """Run the block as the one flush (or release) under way; a flush that comes meanwhile waits for it."""
        done = self._flushing = asyncio.get_running_loop().create_future()
        try:
            yield
        finally:
            self._flushing = None
            done.set_result(None)

    async def _wait_for_room(self) -> None:
        """Let librdkafka serve its events (freeing queue room) without blocking the event loop."""
        self.producer.poll(0)
        await asyncio.sleep(0.005)

    def _try_produce(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None) -> bool:
        producer = self.producer
        try:
            if partition is None:
                producer.produce(topic, value, key)
            else:
                producer.produce(topic, value, key, partition=partition)
        except BufferError:
            return False
        # poll() releases the GIL; doing it per record lets Faust's consumer thread take the GIL
        # each time, and the event loop then waits for it (measured: 40 us per record instead of 2).
        # It serves delivery events, which librdkafka queues for every record, failed or not.
        self._unpolled += 1
        if self._unpolled >= POLL_EVERY:
            self._unpolled = 0
            producer.poll(0)
        return True

    async def flush(self, timeout: float = FLUSH_TIMEOUT_S) -> None:
        """Wait until every record queued so far is delivered; raise :class:`DeliveryFailed` on any failure.

        A failure reported to an earlier flush (or seen meanwhile) makes this one raise too, see
        :attr:`undelivered`.

        Records queued while this waits are held and handed over when it ends,
        in order, and not waited for: librdkafka's flush waits for every record
        it holds, so it would never return while the agents keep producing.
        """
        while self._flushing is not None:  # one flush at a time: the records a flush holds come before this one
            await asyncio.wait([self._flushing])
        if self._producer is None and not self._held and not self._state:
            return  # nothing was ever queued (and so nothing failed)
        producer = self.producer
        loop = asyncio.get_running_loop()
        self._flushed_at = time.monotonic()
        state, self._state = self._state, []  # what this flush delivers after the outputs
        async with self._turn():
            try:
                await self._hand_over()  # what a cancelled flush or a hold left held was queued before this flush
                self._held = []
                # Waits off the event loop (librdkafka's flush runs without the GIL); no linger is waited out.
                left = await loop.run_in_executor(None, producer.flush, timeout)
                if state and not left and self._failures.describe() is None:
                    while not self._pass_on(state):  # the outputs are delivered: now the state that saw them
                        await self._wait_for_room()
                    left = await loop.run_in_executor(None, producer.flush, timeout)
            finally:
                self._state[:0] = state  # kept back still (not handed over): for the next flush, first
                await self._hand_over()
        failed = self._failures.describe()
        if failed:
            raise DeliveryFailed(failed)
        if left:
            raise DeliveryFailed(f"{left} record(s) not delivered within {timeout:.0f} s")

    async def _hand_over(self) -> None:
        """Give librdkafka the held records, oldest first; records queued meanwhile join the end.

        Cancelled while it waits for room, it leaves the rest held, for the next flush or :meth:`close`.
        """
        held = self._held
        if held is None:
            return
        while not self._pass_on(held):
            await self._wait_for_room()
        if self._holding:
            self._held = []
            self._restart_hold_clock()
        else:
            self._held = None

    def _pass_on(self, held: list[Queued]) -> bool:
        """Hand ``held`` to librdkafka from its start until its queue is full; True when none is left."""
        i = 0
        n = len(held)
        while i < n and self._try_produce(*held[i]):
            i += 1
        del held[:i]  # handed over already: a cancellation of the caller must not hand them over twice
        return not held

    def close(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> int:
        """Flush what is left (blocking) and drop the producer; returns how many records were not delivered.

        Those counted include every failure reported before; they stay in force (:attr:`undelivered`).
        """
        held, self._held = self._held or [], None
        state, self._state = self._state, []
        self._holding = False
        if self._producer is None and not held and not state:
            return self._failures.count
        not_queued = sum(not self._try_produce(*record) for record in held)
        try:
            left = self.producer.flush(timeout)
            if state and not left and not not_queued and self._failures.describe() is None:
                not_queued += sum(not self._try_produce(*record) for record in state)
                left = self.producer.flush(timeout)
            else:
                not_queued += len(state)
        except KafkaException as exc:  # pragma: no cover - librdkafka fatal errors
            log.error("outbox close: %s", exc)
            left = len(self.producer)
        self._producer = None
        return left + not_queued + self._failures.count
