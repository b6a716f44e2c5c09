"""Faust Kafka driver: configurable fetch wait, and end offsets that can be verified.

Registered under the ``dispatchbus://`` URL scheme through the
``faust.transports`` entry point. Its hooks are typed attributes of :class:`App`
(``bus_settings``, ``outbox``, ``direct_handlers``); on a plain ``faust.App`` it
behaves as Faust's aiokafka driver with a 500 ms fetch wait.

* Faust's aiokafka driver hard-codes ``fetch_max_wait_ms=1500``. On brokers
  that hold every fetch for about half of that even when data is ready (the
  embedded tansu broker), each hop then costs over a second; this driver
  applies ``Settings.kafka.fetch_max_wait_ms`` instead.
* The producer also flushes the worker's outbox (``dispatchbus.runtime.output_producer``) when
  Faust flushes it, i.e. before every offset commit and on a rebalance.
* Table recovery reads each changelog up to its end offset. tansu reports the
  end of a partition as the last batch's base offset + 1, so a multi-record
  batch at the end would be skipped and table state lost on restart. With
  ``Settings.kafka.verify_end_offsets`` the driver reads the last batch and
  returns the true end (on Apache Kafka the check finds nothing to correct).
* Records count as read once they are in a stream's buffer. Faust clears
  those buffers when a rebalance starts and each time flow resumes, and
  relies on a seek to the committed offsets to fetch them again; but records
  keep flowing while that seek is under way, and records fetched from the old
  position can arrive after it: either way calls were lost. Here the seek
  settles every partition's read offset and fetch position together
  (``Consumer.perform_seek``), the first record after it must be the one sought
  (``Consumer._check_first_after_seek``), and clearing the buffers sends the
  consumer back to the first record they held (``StreamFlowControl``, installed
  by :class:`App`). A partition the group never committed starts at its
  earliest record (the ``earliest`` policy; aiokafka would leave it wherever
  its fetcher was).
* After each fetch the consumer sets the interpreter lock's switch interval
  from the size of the batch fetched (:mod:`dispatchbus.runtime.lock_switch`), and
  while a batch of at least ``lock_switch.HOLD_BATCH_RECORDS`` is handled it has the
  outbox hold the worker's outputs, to hand them over in bursts
  (``Settings.worker.busy_output_hold_s``).
* aiokafka's metadata requests ask the broker to auto-create every topic
  they name (``allow_auto_topic_creation`` is always true, and aiokafka 0.14
  has no setting for it): importing this module makes them ask for none, so
  a client never creates a topic with the broker's default layout even on a
  broker that allows it (:class:`NoAutoCreateMetadataRequest`). Faust still
  declares its own internal topics (changelogs, re-keying) explicitly, with
  the catalogue's partition count.
* No offset is committed while the outbox holds a delivery failure
  (``Outbox.undelivered``), whichever path commits (the timer, a rebalance,
  the shutdown, ``commit_every``): ``Consumer._commit`` refuses it, and the
  pre-commit flush raises.
* Records of topics registered with :meth:`App.deliver_directly` skip Faust's
  conductor, channel and stream: the fetch loop hands each one to its handler
  and acknowledges it once handled (see ``Consumer._drain_messages``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiokafka
import aiokafka.admin.client
import aiokafka.client
import faust
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.errors import IllegalStateError
from faust.exceptions import ConsumerNotStarted
from faust.transport.consumer import CONSUMER_FETCHING, ensure_TP
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from ..catalogue import CALL_PARTITIONS
from .lock_switch import HOLD_BATCH_RECORDS, LockSwitch
from .output_producer import FLUSH_TIMEOUT_S, SHUTDOWN_TIMEOUT_S, Outbox
from ..settings import Settings

DEFAULT_FETCH_MAX_WAIT_MS = 500


class NoAutoCreateMetadataRequest(MetadataRequest):
    """aiokafka's metadata request, never asking the broker to create the topics it names."""

    def __init__(self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = False) -> None:
        super().__init__(topics, allow_auto_topic_creation=bool(allow_auto_topic_creation))


# aiokafka's client and admin client build their metadata requests from these module names.
aiokafka.client.MetadataRequest = NoAutoCreateMetadataRequest  # type: ignore[misc]
aiokafka.admin.client.MetadataRequest = NoAutoCreateMetadataRequest  # type: ignore[misc]

SEEK_TIMEOUT_S = 30.0
"""Longest the app's thread waits for the consumer's thread to carry out a seek."""

SEEK_POLL_S = 0.1
"""How often a waiting seek checks that the consumer's loop still runs."""

DirectHandler = Callable[[Any], Awaitable[None]]
"""Handles one Faust ``Message`` delivered by :meth:`App.deliver_directly`."""


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Consumer thread whose worker consumer uses the configured fetch wait."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # AIOKafkaConsumer only reads this when start() builds its fetcher, which
        # has not happened yet: setting it here is equivalent to the constructor argument.
        consumer._fetch_max_wait_ms = fetch_max_wait_ms(self.app)
        return consumer

    def seek(self, partition: Any, offset: int) -> None:
        """Seek in the consumer's own thread, and wait for it there.

        aiokafka's fetcher is not thread-safe. A seek drops the partition's
        fetched records; called from the app's thread, as Faust does, it could
        drop them while the consumer's thread was iterating over them, and the
        ``KeyError`` in ``fetched_records`` stopped the worker. The caller's
        thread waits only until the consumer's loop runs the seek: that loop
        never waits for the caller's. Should that loop stop first (a shutdown),
        the caller's thread runs the seek itself.
        """
        seek = super().seek
        loop = self.thread_loop
        thread = getattr(self, "_thread", None)
        if not loop.is_running() or (thread is not None and thread.ident == threading.get_ident()):
            seek(partition, offset)  # not running yet, or already in the consumer's thread
            return
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            if done.set_running_or_notify_cancel():
                try:
                    done.set_result(seek(partition, offset))
                except BaseException as exc:  # the caller gets it (IllegalStateError: no longer assigned)
                    done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        deadline = time.monotonic() + SEEK_TIMEOUT_S
        while True:
            try:
                return done.result(timeout=SEEK_POLL_S)
            except concurrent.futures.TimeoutError:
                if not loop.is_running() and done.cancel():
                    # The consumer's loop stopped (a shutdown) before it ran the seek: nothing iterates now.
                    return seek(partition, offset)
                if time.monotonic() > deadline:
                    raise

    async def _highwaters(self, partitions: list[Any]) -> Mapping[Any, int]:
        ends = await super()._highwaters(partitions)
        settings = settings_of(self.app)
        if settings is None or not settings.kafka.verify_end_offsets:
            return ends
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, verified_end_offsets, settings, dict(ends))


@dataclass
class Resync:
    """A partition sought to ``offset`` whose first record since has not arrived yet."""

    offset: int
    seeks: int = 0
    batch: int = -1


class Consumer(faust_aiokafka.Consumer):
    RESYNC_ATTEMPTS = 3
    """Seeks back to the sought offset before a partition's first record may skip ahead of it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resync: dict[TP, Resync] = {}
        # Bumped whenever read offsets are moved back; a record whose delivery spanned a bump must not move them on.
        self._seek_epoch = 0

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @cached_property
    def lock_switch(self) -> LockSwitch | None:
        """The interpreter lock's switch interval by fetched batch (None: an app without our settings)."""
        settings = settings_of(self.app)
        return LockSwitch(settings.worker.busy_switch_interval_s) if settings is not None else None

    async def _wait_next_records(self, timeout: float) -> Any:
        outbox = outbox_of(self.app)
        if outbox is not None and outbox.holding:
            await outbox.release()  # the fetch loop asks for a batch once it has handled the last one
        records, active = await super()._wait_next_records(timeout)
        switch = self.lock_switch
        if switch is not None:
            switch.after_fetch(records)
            if outbox is not None and switch.fetched >= HOLD_BATCH_RECORDS:
                outbox.hold()
        return records, active

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        """Commit ``offsets`` unless an output of the worker was not delivered (see ``Outbox.undelivered``).

        Every commit path of Faust ends here (the timer, a rebalance, the final commit of a stopping
        worker), also one whose pre-commit flush did not raise or was not awaited.
        """
        outbox = outbox_of(self.app)
        undelivered = outbox.undelivered if outbox is not None else None
        if undelivered:
            self.log.error("not committing %d partition(s): %s", len(offsets), undelivered)
            return False
        return await super()._commit(offsets)

    async def perform_seek(self) -> None:
        """Move every partition back to its committed offset: read offset, fetch position and first-record check.

        Faust's version seeks and then sets the read offsets, with awaits in
        between. Records keep flowing meanwhile (table recovery has resumed the
        flow): the sought records are dropped as already read, and records
        after them enter stream buffers that are cleared right after this
        seek. So the offsets are only looked up here, and all three are set
        without an await between them. A partition the group never committed
        starts at its earliest record, as the ``earliest`` reset policy asks.
        """
        committed = {ensure_TP(tp): o for tp, o in (await self.seek_to_committed()).items()}
        streams = {tp: o for tp, o in committed.items() if not self._is_changelog_tp(tp)}
        # Changelog partitions are never committed; table recovery positions them. Faust's bookkeeping:
        self._read_offset.update({tp: None for tp in committed if tp not in streams})
        starts = {tp: o for tp, o in streams.items() if o is not None and o > 0}
        uncommitted = [tp for tp, o in streams.items() if o is None or o <= 0]
        if uncommitted:
            # After taking over from a worker killed before its first commit, aiokafka's position was near
            # the partition's end, past every call the killed worker had not handled.
            earliest = await self._thread.earliest_offsets(*uncommitted)
            starts.update({ensure_TP(tp): o for tp, o in earliest.items() if o is not None and o >= 0})
        self._committed_offset.update({tp: o or None for tp, o in committed.items() if o is not None})
        self._resync = {}
        self._move_to(starts)

    def rewind(self, first_cleared: Mapping[TP, int]) -> None:
        """Fetch again from the first record of each partition that was cleared from the stream buffers.

        Those records count as read but were never handled. A partition
        still waiting for the first record of a seek keeps the earlier offset.
        """
        try:
            assigned = self.assignment()
        except ConsumerNotStarted:
            return
        starts = {}
        for tp, offset in first_cleared.items():
            if tp in assigned and not self._is_changelog_tp(tp):
                pending = self._resync.get(tp)
                starts[tp] = min(offset, pending.offset) if pending is not None else offset
        if starts:
            self.log.info("fetching again %d partition(s) whose buffered records were cleared", len(starts))
            self._move_to(starts)

    def _move_to(self, starts: Mapping[TP, int]) -> None:
        """Set read offset, fetch position and first-record check of each partition (no await: one step)."""
        self._seek_epoch += 1
        for tp, offset in starts.items():
            try:
                self._thread.seek(tp, offset)
            except IllegalStateError:  # no longer assigned: a new rebalance is under way
                self._resync.pop(tp, None)
                continue
            self._read_offset[tp] = offset or None
            self._resync[tp] = Resync(offset)

    async def _deliver_directly(self, handler: DirectHandler, message: Any) -> bool:
        """Handle one record with ``handler``; False when a rebalance suspended the flow first.

        Table recovery closes the app's flow control: the record waits for it
        to open, as Faust's path makes it wait.
        """
        if not self.app.flow_control.is_active():
            await self.wait_first(self.app.flow_control.acquire(), self.suspend_flow.wait())
        if self.suspend_flow.is_set() or not self.app.flow_control.is_active():
            return False
        self.track_message(message)
        await handler(message)
        self.ack(message)
        self.app.sensors.on_message_out(message.tp, message.offset, message)
        return True

    async def _check_first_after_seek(self, tp: Any, offset: int, batch: int) -> bool:
        """Whether a record may be delivered; seeks its partition back if it skipped ahead of the sought offset."""
        pending = self._resync.get(tp)
        if pending is None or offset < pending.offset:  # older records are dropped as already read
            return True
        if offset == pending.offset or pending.seeks >= self.RESYNC_ATTEMPTS:
            del self._resync[tp]
            return True
        if pending.batch != batch:  # once per batch: the rest of it is just as stale
            pending.batch = batch
            pending.seeks += 1
            self.log.warning("%s[%s]: record %s is ahead of the sought offset %s; seeking back",
                             tp.topic, tp.partition, offset, pending.offset)
            await self.seek(tp, pending.offset)
        return False

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's fetch loop, without four tasks per record.

        Faust races each record's delivery against ``suspend_flow`` with
        ``wait_first``: four tasks and an ``asyncio.wait`` per record, with the
        garbage they leave. The race matters only when a delivery waits and a
        rebalance starts meanwhile: it then drops the record, fetched for the
        old assignment, instead of delivering it late. Here a record is
        delivered with a plain ``await`` when its delivery cannot wait for
        anything a rebalance would have to abort: the flow runs, flow control
        is open and Faust's producer buffer is below its limit. Only a full
        stream buffer can still make it wait; if a rebalance moves the read
        offsets back meanwhile, that record is delivered late but must not move
        them on again (``_seek_epoch``): it is fetched and handled once more.
        Every other record takes Faust's race.

        A record of a topic registered with :meth:`App.deliver_directly` goes
        to its handler from here, without Faust's per-record channel, event
        and stream. It is tracked before and acknowledged after, like a
        stream's event, so commits and a rebalance's wait for unacknowledged
        records see it. While the flow is suspended (a rebalance) it is not
        handled and does not count as read: the seek to the committed offsets
        that ends the rebalance fetches it again.
        """
        callback = self.callback
        direct = self.app.direct_handlers if isinstance(self.app, App) else None  # None: a plain faust.App
        deliver_directly = self._deliver_directly
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        suspended = self.suspend_flow.is_set
        flow_open = self.app.flow_control.is_active
        producer_buffer = self.app.producer.buffer
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        batch = 0
        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                batch += 1
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        if self._resync and not await self._check_first_after_seek(tp, offset, batch):
                            continue
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            epoch = self._seek_epoch
                            handler = direct.get(message.topic) if direct else None
                            if handler is not None:
                                if not await deliver_directly(handler, message):
                                    continue
                            elif (
                                not suspended()
                                and flow_open()
                                and producer_buffer.size <= producer_buffer.max_messages
                            ):
                                await callback(message)
                            else:
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            if epoch == self._seek_epoch:
                                set_read_offset(tp, offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


class StreamFlowControl(FlowControlEvent):
    """Faust's flow control of the stream buffers; clearing them rewinds the consumer to the records they held."""

    def __init__(self, app: faust.App, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._app = app

    def clear(self) -> None:
        first = first_buffered_offsets(self._queues)
        super().clear()
        consumer = self._app._consumer  # not app.consumer: that would create one
        if first and isinstance(consumer, Consumer):
            consumer.rewind(first)


class App(faust.App):
    """faust.App whose stream buffers are cleared without losing records (see :class:`StreamFlowControl`).

    The driver's hooks are its typed attributes: ``bus_settings`` (fetch wait,
    end-offset check, the lock's switch interval), ``outbox`` (flushed and held
    with Faust's producer) and :attr:`direct_handlers`.
    """

    bus_settings: Settings | None = None
    """The settings the app was built from (:meth:`from_settings`), which this driver reads back."""

    outbox: Outbox | None = None
    """The worker's output producer, flushed whenever Faust flushes its own (None: no outbox)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> App:
        """The app configured by ``settings``, which this driver reads back from it."""
        app = cls(**settings.faust_config(), topic_partitions=CALL_PARTITIONS)
        app.bus_settings = settings
        return app

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return StreamFlowControl(self, loop=self.loop)

    @cached_property
    def direct_handlers(self) -> dict[str, DirectHandler]:
        """Handlers by full topic name, see :meth:`deliver_directly`."""
        return {}

    def deliver_directly(self, topics: Iterable[str], handler: DirectHandler) -> None:
        """Hand every record of ``topics`` to ``handler`` straight from the fetch loop, in order.

        Faust's per-record path (conductor, channel, event, stream buffer and
        the agent's task switch) costs more than many handlers. The topics
        still need an agent (or a stream) subscribed to them: that is how Faust
        subscribes to them and assigns their partitions. Its stream receives
        nothing. The handler runs outside any stream, so Faust's
        ``current_event()`` is None in it: a table write must name its
        partition (:meth:`dispatchbus.runtime.tables.OutboxTable.put`). An exception
        that escapes the handler stops the consumer, and the record is read
        again after a restart.
        """
        for topic in topics:
            self.direct_handlers[topic] = handler


def first_buffered_offsets(queues: Any) -> dict[TP, int]:
    """The offset of the first record of each partition held in ``queues`` (queues of Faust events)."""
    first: dict[TP, int] = {}
    for queue in queues:
        for item in list(queue._queue):
            message = getattr(item, "message", None)
            tp, offset = getattr(message, "tp", None), getattr(message, "offset", None)
            if tp is not None and offset is not None:
                first[tp] = min(offset, first.get(tp, offset))
    return first


class Producer(faust_aiokafka.Producer):
    """Faust's producer; flushing it also flushes the app's outbox, if it has one."""

    async def flush(self) -> None:
        await super().flush()
        outbox = outbox_of(self.app)
        if outbox is not None:
            # The final commit of a stopping worker flushes too; it must not outwait a dead broker.
            await outbox.flush(SHUTDOWN_TIMEOUT_S if self.app.should_stop else FLUSH_TIMEOUT_S)

    async def on_stop(self) -> None:
        outbox = outbox_of(self.app)
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


def settings_of(app: Any) -> Settings | None:
    """The settings ``app`` was built from; None for a plain ``faust.App`` on this driver."""
    return app.bus_settings if isinstance(app, App) else None


def outbox_of(app: Any) -> Outbox | None:
    """The output producer of ``app``; None for an app without one (a plain ``faust.App``)."""
    return app.outbox if isinstance(app, App) else None


def fetch_max_wait_ms(app: Any) -> int:
    """The fetch wait configured for ``app`` (Faust's own settings have no such key)."""
    settings = settings_of(app)
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
