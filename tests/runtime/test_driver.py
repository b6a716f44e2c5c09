import asyncio
import logging
import sys
import threading
from collections import defaultdict
from types import SimpleNamespace

import pytest
from aiokafka.errors import IllegalStateError

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.drivers import by_url
from faust.types import TP
from mode.utils.queues import FlowControlEvent

from dispatchbus import catalogue
from dispatchbus.runtime import driver
from dispatchbus.agents import lifecycle
from dispatchbus.app import create_app
from dispatchbus.runtime.lock_switch import HOLD_BATCH_RECORDS, IDLE_SWITCH_INTERVAL_S
from dispatchbus.settings import Settings

from ..support.waiting import wait_for


def test_dispatchbus_scheme_resolves_to_our_driver():
    assert by_url("dispatchbus://localhost:9092") is driver.Transport


def test_worker_consumer_uses_the_configured_fetch_wait(tmp_path):
    settings = Settings()
    settings.kafka.fetch_max_wait_ms = 10
    settings.worker.data_dir = tmp_path
    bus = create_app(settings)
    assert isinstance(bus.app.transport, driver.Transport)

    async def build():
        thread = bus.app.consumer._thread
        return thread._create_worker_consumer(bus.app.transport)

    consumer = asyncio.run(build())
    assert consumer._fetch_max_wait_ms == 10


def test_each_fetch_sets_the_lock_switch_interval_from_the_configured_busy_one(
    tmp_path, monkeypatch, restore_switch_interval
):
    settings = Settings()
    settings.worker.data_dir = tmp_path
    settings.worker.busy_switch_interval_s = 0.03
    app = create_app(settings).app
    fetched = [{TP("cad.calls", 0): [object()] * 500}, {TP("cad.calls", 1): [object()] * 2}]

    async def faust_wait(self, timeout):
        return fetched.pop(0), set()

    monkeypatch.setattr(faust_aiokafka.Consumer, "_wait_next_records", faust_wait)

    async def fetch_twice():
        intervals = []
        for _ in range(2):
            await app.consumer._wait_next_records(1.0)
            intervals.append(round(sys.getswitchinterval(), 6))
        return intervals

    assert asyncio.run(fetch_twice()) == [0.03, IDLE_SWITCH_INTERVAL_S]


@pytest.mark.parametrize("hold_s", [0.2, 0.0])
def test_a_batch_far_behind_has_the_outbox_hold_until_the_next_fetch(
    tmp_path, monkeypatch, restore_switch_interval, hold_s
):
    settings = Settings()
    settings.worker.data_dir = tmp_path
    settings.worker.busy_output_hold_s = hold_s
    app = create_app(settings).app
    outbox = app.outbox
    big = HOLD_BATCH_RECORDS
    sizes = [big, big + 100, 2, big - 1, 300 + big]
    holding_when_fetching = []

    async def faust_wait(self, timeout):
        holding_when_fetching.append(outbox.holding)
        return {TP("cad.calls", 0): [object()] * sizes.pop(0)}, set()

    monkeypatch.setattr(faust_aiokafka.Consumer, "_wait_next_records", faust_wait)

    async def fetch_all():
        holding_after = []
        while sizes:
            await app.consumer._wait_next_records(1.0)
            holding_after.append(outbox.holding)
        return holding_after

    holding_after = asyncio.run(fetch_all())
    assert holding_when_fetching == [False] * 5, "the batch before is handled: its outputs go before the fetch"
    if hold_s:
        assert holding_after == [True, True, False, False, True]
        assert outbox.max_hold_s == hold_s
    else:
        assert holding_after == [False] * 5


def test_verified_end_offsets_count_every_record_of_the_last_batch(broker, bus_settings):
    """tansu reports the end of a partition as the last batch's base offset + 1."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from faust.types import TP

    from dispatchbus import catalogue

    topic = catalogue.DEAD_LETTER.full_name(bus_settings.topics)  # any empty one-partition topic
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 100})
    for i in range(5):
        producer.produce(topic, b"record %d" % i, partition=0)
    assert producer.flush(10) == 0
    consumer = Consumer(bus_settings.kafka.consumer_config("probe"))
    _, reported = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    consumer.close()
    verified = driver.verified_end_offsets(bus_settings, {TP(topic, 0): reported})
    assert verified[TP(topic, 0)] == 5
    assert reported <= 5  # 1 on tansu (one batch of five), 5 on Apache Kafka


class FakeThread:
    """The consumer thread's seeks and offset look-ups, recorded (no broker)."""

    def __init__(self, committed, earliest, assigned):
        self.committed, self.earliest, self.assigned = committed, earliest, assigned
        self.seeks = []

    def seek(self, tp, offset):
        if tp not in self.assigned:
            raise IllegalStateError(f"{tp} is not assigned")
        self.seeks.append((tp, offset))

    async def earliest_offsets(self, *tps):
        return {tp: self.earliest[tp] for tp in tps}


class Bookkeeping:
    """The driver consumer's seek bookkeeping, run on a fake consumer thread."""

    RESYNC_ATTEMPTS = driver.Consumer.RESYNC_ATTEMPTS
    perform_seek = driver.Consumer.perform_seek
    rewind = driver.Consumer.rewind
    _move_to = driver.Consumer._move_to
    _check_first_after_seek = driver.Consumer._check_first_after_seek

    def __init__(self, committed=None, earliest=None, assigned=None):
        committed = committed or {}
        assigned = set(committed) if assigned is None else set(assigned)
        self._thread = FakeThread(committed, earliest or {}, assigned)
        self._resync = {}
        self._seek_epoch = 0
        self._read_offset = defaultdict(lambda: None)
        self._committed_offset = {}
        self.log = logging.getLogger("test")

    @property
    def seeks(self):
        return self._thread.seeks

    async def seek_to_committed(self):
        return dict(self._thread.committed)

    def assignment(self):
        return self._thread.assigned

    def _is_changelog_tp(self, tp):
        return tp.topic.endswith("-changelog")

    async def seek(self, tp, offset):
        self._thread.seek(tp, offset)

    def check(self, tp, offset, batch):
        return asyncio.run(self._check_first_after_seek(tp, offset, batch))

    def expected_first(self):
        return {tp: r.offset for tp, r in self._resync.items()}


def test_a_seek_sets_read_offset_fetch_position_and_expected_first_record_together():
    p0, p1, p2 = (TP("cad.calls", p) for p in range(3))
    changelog = TP("t-calls-changelog", 0)
    c = Bookkeeping(committed={p0: 82, p1: None, p2: 0, changelog: None}, earliest={p1: 5, p2: 0, changelog: 0})
    c._read_offset[changelog] = 40
    asyncio.run(c.perform_seek())
    # A partition never committed starts at its earliest record (5: older ones deleted by retention).
    assert sorted(c.seeks) == [(p0, 82), (p1, 5), (p2, 0)]
    assert c.expected_first() == {p0: 82, p1: 5, p2: 0}
    assert {tp: c._read_offset[tp] for tp in (p0, p1, p2)} == {p0: 82, p1: 5, p2: None}
    # Changelogs are left where table recovery put them, as Faust does.
    assert c._read_offset[changelog] is None
    assert c._committed_offset[p0] == 82 and c._committed_offset.get(p1) is None
    assert c._seek_epoch == 1


def test_a_partition_reassigned_during_the_seek_is_left_to_the_next_rebalance():
    p0, p1 = TP("cad.calls", 0), TP("cad.calls", 1)
    c = Bookkeeping(committed={p0: 10, p1: 20}, assigned={p0})
    asyncio.run(c.perform_seek())
    assert c.seeks == [(p0, 10)] and c.expected_first() == {p0: 10}


def test_records_cleared_from_the_stream_buffers_are_fetched_again():
    p0, p3, gone = TP("cad.calls", 0), TP("cad.calls", 3), TP("cad.calls", 5)
    changelog = TP("t-calls-changelog", 0)
    c = Bookkeeping(committed={p0: 82}, assigned={p0, p3, changelog})
    asyncio.run(c.perform_seek())
    c.check(p0, 82, batch=1)  # p0 is in step again...
    c._read_offset[p0] = 130  # ...and has read up to 130
    c._read_offset[p3] = 60
    c.rewind({p0: 126, p3: 40, changelog: 7, gone: 9})
    assert c.seeks[1:] == [(p0, 126), (p3, 40)]
    assert (c._read_offset[p0], c._read_offset[p3]) == (126, 40)
    assert c.expected_first() == {p0: 126, p3: 40}
    assert c._seek_epoch == 2


def test_a_rewind_keeps_the_earlier_offset_of_a_seek_still_waiting_for_its_first_record():
    p0 = TP("cad.calls", 0)
    c = Bookkeeping(committed={p0: 81})
    asyncio.run(c.perform_seek())
    c.rewind({p0: 126})
    assert c.seeks == [(p0, 81), (p0, 81)] and c.expected_first() == {p0: 81}


def test_a_record_ahead_of_the_committed_offset_is_dropped_and_the_partition_sought_back():
    tp = TP("cad.calls", 3)
    c = Bookkeeping(committed={tp: 82})
    asyncio.run(c.perform_seek())
    # A batch fetched before the seek, from the old position: dropped, one seek back for the batch.
    assert [c.check(tp, offset, batch=1) for offset in (236, 237, 238)] == [False, False, False]
    assert c.seeks == [(tp, 82), (tp, 82)]
    # Records older than the committed offset are left to Faust's read-offset filter.
    assert c.check(tp, 80, batch=2)
    # The sought records arrive: delivered, and the partition is in step again.
    assert c.check(tp, 82, batch=2) and c.check(tp, 239, batch=2)
    assert tp not in c._resync and len(c.seeks) == 2


def test_a_partition_whose_committed_offset_holds_no_record_starts_ahead_after_a_few_seeks():
    tp = TP("cad.calls", 0)
    c = Bookkeeping(committed={tp: 10})
    asyncio.run(c.perform_seek())
    results = [c.check(tp, 11, batch=b) for b in range(1, driver.Consumer.RESYNC_ATTEMPTS + 2)]
    assert results == [False] * driver.Consumer.RESYNC_ATTEMPTS + [True]
    assert len(c.seeks) == 1 + driver.Consumer.RESYNC_ATTEMPTS
    # Other partitions are not checked.
    assert c.check(TP("cad.calls", 1), 500, batch=9)


def buffered(tp, offset):
    """A stand-in for a Faust event in a stream buffer."""
    return SimpleNamespace(message=SimpleNamespace(tp=tp, offset=offset))


def test_clearing_the_apps_stream_buffers_rewinds_its_consumer(tmp_path, monkeypatch):
    settings = Settings()
    settings.worker.data_dir = tmp_path
    app = create_app(settings).app
    assert isinstance(app.flow_control, driver.StreamFlowControl)
    p0, p1 = TP("cad.calls", 0), TP("cad.calls", 1)

    async def clear_buffers():
        rewound = []
        monkeypatch.setattr(app.consumer, "rewind", rewound.append)
        first, second = (app.FlowControlQueue(maxsize=10, clear_on_resume=True) for _ in range(2))
        for item in (buffered(p0, 7), buffered(p0, 8), buffered(p1, 40)):
            first.put_nowait(item)
        second.put_nowait(buffered(p0, 5))
        app.flow_control.resume()  # Faust clears every stream buffer when flow resumes
        assert first.empty() and second.empty()
        app.flow_control.resume()  # nothing buffered: nothing to fetch again
        return rewound

    assert asyncio.run(clear_buffers()) == [{p0: 5, p1: 40}]


class DirectDelivery:
    """What ``Consumer._deliver_directly`` touches, recorded in order (no broker)."""

    _deliver_directly = driver.Consumer._deliver_directly

    def __init__(self):
        self.done = []
        self.suspend_flow = asyncio.Event()
        self.app = SimpleNamespace(
            flow_control=FlowControlEvent(initially_suspended=False),
            sensors=SimpleNamespace(on_message_out=lambda tp, offset, message: self.done.append(("out", offset))),
        )

    def track_message(self, message):
        self.done.append(("track", message.offset))

    def ack(self, message):
        self.done.append(("ack", message.offset))

    async def wait_first(self, *coros):
        tasks = [asyncio.ensure_future(c) for c in coros]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    async def handler(self, message):
        self.done.append(("handle", message.offset))

    def deliver(self, offset):
        message = SimpleNamespace(tp=TP("cad.calls", 0), offset=offset)
        return asyncio.wait_for(self._deliver_directly(self.handler, message), timeout=10)


def test_a_record_delivered_directly_is_tracked_handled_and_acknowledged_in_that_order():
    async def run():
        c = DirectDelivery()
        return await c.deliver(7), c.done

    assert asyncio.run(run()) == (True, [("track", 7), ("handle", 7), ("ack", 7), ("out", 7)])


def test_a_record_fetched_while_a_rebalance_suspends_the_flow_is_left_unhandled_and_unread():
    async def run():
        c = DirectDelivery()
        c.suspend_flow.set()
        return await c.deliver(7), c.done

    assert asyncio.run(run()) == (False, [])


def test_a_record_waits_for_table_recovery_and_is_dropped_if_a_rebalance_comes_first():
    async def run():
        c = DirectDelivery()
        c.app.flow_control.suspend()  # table recovery under way
        waiting = asyncio.ensure_future(c.deliver(7))
        for _ in range(5):  # enough turns for the delivery to run up to its wait
            await asyncio.sleep(0)
        assert not waiting.done() and c.done == []
        c.app.flow_control.resume()
        recovered = await waiting, list(c.done)

        c = DirectDelivery()
        c.app.flow_control.suspend()
        waiting = asyncio.ensure_future(c.deliver(8))
        for _ in range(5):
            await asyncio.sleep(0)
        c.suspend_flow.set()  # a rebalance starts before the recovery ends
        return recovered, (await waiting, c.done)

    recovered, rebalanced = asyncio.run(run())
    assert recovered == (True, [("track", 7), ("handle", 7), ("ack", 7), ("out", 7)])
    assert rebalanced == (False, [])


def test_the_worker_delivers_its_call_events_directly_and_the_other_agents_inputs_through_faust(tmp_path):
    settings = Settings()
    settings.worker.data_dir = tmp_path
    bus = create_app(settings)
    direct = bus.app.direct_handlers
    inputs = {spec.full_name(settings.topics) for spec in lifecycle.INPUTS}
    assert set(direct) == inputs and len(set(direct.values())) == 1
    assert catalogue.UNIT_STATUS.full_name(settings.topics) not in direct


class LoopThread:
    """An event loop running in a thread of its own, like the consumer thread's."""

    def __enter__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        wait_for(self.loop.is_running, timeout=10, what="the thread's event loop")
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _consumer_thread_on(loop_thread, monkeypatch):
    """A driver ConsumerThread whose loop is ``loop_thread``'s; the seeks it makes are recorded with their thread."""
    seeks = []

    def recording_seek(self, tp, offset):
        if offset < 0:
            raise IllegalStateError(f"{tp} is not assigned")
        seeks.append((tp, offset, threading.get_ident()))

    monkeypatch.setattr(faust_aiokafka.AIOKafkaConsumerThread, "seek", recording_seek)
    consumer_thread = object.__new__(driver.ConsumerThread)  # only seek's state: its loop and thread
    consumer_thread.thread_loop, consumer_thread._thread = loop_thread.loop, loop_thread.thread
    return consumer_thread, seeks


def test_a_seek_from_the_apps_thread_runs_in_the_consumers_thread(monkeypatch):
    tp = TP("t.cad.calls", 3)
    with LoopThread() as loop_thread:
        consumer_thread, seeks = _consumer_thread_on(loop_thread, monkeypatch)

        consumer_thread.seek(tp, 42)

        assert seeks == [(tp, 42, loop_thread.thread.ident)]  # done when seek returns, in the loop's thread
        with pytest.raises(IllegalStateError):  # its failure reaches the caller
            consumer_thread.seek(tp, -1)
        # called from the consumer's own thread it runs there directly (waiting would deadlock)
        asyncio.run_coroutine_threadsafe(_seek_soon(consumer_thread, tp, 7), loop_thread.loop).result(10)
        assert seeks[-1] == (tp, 7, loop_thread.thread.ident)


def test_a_seek_whose_consumer_loop_stops_before_running_it_runs_in_the_callers_thread(monkeypatch):
    tp = TP("t.cad.calls", 1)
    with LoopThread() as loop_thread:
        consumer_thread, seeks = _consumer_thread_on(loop_thread, monkeypatch)
        loop = loop_thread.loop
        inside, queued = threading.Event(), threading.Event()
        schedule = loop.call_soon_threadsafe

        def queue_and_tell(callback, *args):
            handle = schedule(callback, *args)
            queued.set()
            return handle

        def stop_once_the_seek_is_queued():
            # Runs in the loop: the seek queued meanwhile is left for a next iteration that never comes.
            inside.set()
            queued.wait(10)
            loop.stop()

        schedule(stop_once_the_seek_is_queued)
        assert inside.wait(10)
        monkeypatch.setattr(loop, "call_soon_threadsafe", queue_and_tell)
        caller = threading.Thread(target=consumer_thread.seek, args=(tp, 11))
        caller.start()
        caller.join(10)  # well before the 30 s a seek may wait for a running loop

        assert not caller.is_alive()
        assert seeks == [(tp, 11, caller.ident)]


async def _seek_soon(consumer_thread, tp, offset):
    consumer_thread.seek(tp, offset)
