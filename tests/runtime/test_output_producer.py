"""The worker's outbox: records reach the broker when Faust flushes its producer, failures stop the commit."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from dispatchbus import catalogue
from dispatchbus.app import create_app
from dispatchbus.runtime import output_producer
from dispatchbus.runtime.output_producer import DeliveryFailed, Outbox
from tests.support.samples import call
from tests.support.topics import TopicWatcher, read_partition


@pytest.fixture
def new_outbox():
    """Builds outboxes and closes each at teardown, also when a test fails (no producer outlives the broker)."""
    built: list[Outbox] = []

    def make(config: dict, max_hold_s: float = 0.0) -> Outbox:
        built.append(Outbox(config, max_hold_s))
        return built[-1]

    yield make
    for outbox in built:
        outbox.close(timeout=0)


def test_flushing_fausts_producer_delivers_the_outbox(bus_settings, bus):
    event = call(7)
    topic = catalogue.CAD_CALLS.full_name(bus_settings.topics)
    bus.outbox.produce(topic, event.call_id.encode(), bus.serde.encode(event, topic))
    assert len(bus.outbox.producer) == 1

    asyncio.run(bus.app.producer.flush())  # what Faust awaits before committing offsets

    assert len(bus.outbox.producer) == 0
    with TopicWatcher(bus_settings, catalogue.CAD_CALLS) as watcher:
        [got] = watcher.wait(lambda e: e.event_id == event.event_id)
    assert got == event
    assert watcher.records[0].key == event.call_id.encode()


def test_an_undeliverable_record_makes_the_flush_fail(bus_settings, new_outbox):
    config = {**bus_settings.kafka.producer_config(), "message.timeout.ms": 500}
    outbox = new_outbox(config)
    outbox.produce(f"missing-{uuid.uuid4().hex[:8]}", b"k", b"v")
    assert outbox.undelivered is None
    with pytest.raises(DeliveryFailed):
        asyncio.run(outbox.flush())
    # The failure stays in force: a later flush (the shutdown's, a rebalance's) must not pass it either.
    assert "1 record(s) not delivered" in outbox.undelivered
    with pytest.raises(DeliveryFailed, match="1 record"):
        asyncio.run(outbox.flush())
    assert outbox.close(timeout=0) == 1


def test_no_commit_path_passes_a_failure_in_force(bus_settings, bus, monkeypatch):
    """Every commit of Faust's (timer, rebalance, shutdown) ends in ``Consumer._commit``, which refuses it."""
    from faust.transport.drivers import aiokafka as faust_aiokafka

    sent: list[dict] = []

    async def commit(self, offsets):
        sent.append(dict(offsets))
        return True

    monkeypatch.setattr(faust_aiokafka.Consumer, "_commit", commit)
    consumer = bus.app.consumer
    offsets = {bus.topic(catalogue.CAD_CALLS).topics[0]: 1}
    assert asyncio.run(consumer._commit(offsets)) is True  # nothing failed: the commit goes through
    bus.outbox._failures(_Error(), _Record(catalogue.DECISIONS.full_name(bus_settings.topics)))
    assert asyncio.run(consumer._commit(offsets)) is False
    assert sent == [offsets]


class _Error:
    def __str__(self) -> str:
        return "Broker: Message size too large"


class _Record:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0


def _values(records: list) -> list[bytes]:
    return [r.value() for r in records]


def test_a_flush_waits_only_for_records_queued_before_it(bus_settings, new_outbox):
    """Agents keep producing during Faust's pre-commit flush; it must still return, with nothing reordered."""
    outbox = new_outbox(bus_settings.kafka.producer_config())
    topic = catalogue.DEAD_LETTER.full_name(bus_settings.topics)

    async def produce_and_flush() -> tuple[int, int]:
        outbox.produce(topic, b"k", b"0", partition=0)
        flushing = asyncio.ensure_future(outbox.flush(timeout=20))
        await asyncio.sleep(0)  # the flush starts: what follows is queued after it
        n = 1
        while not flushing.done():  # keeps records coming while the flush waits
            if n % 2:
                outbox.produce(topic, b"k", b"%d" % n, partition=0)
            else:
                await outbox.send(topic, b"k", b"%d" % n, partition=0)
            n += 1
            await asyncio.sleep(0.001)
        await flushing
        return n, len(outbox.producer)

    produced, queued_after = asyncio.run(produce_and_flush())
    assert produced > 2
    # The record from before the flush was delivered; the ones queued during it were held, then handed over.
    assert queued_after == produced - 1
    asyncio.run(outbox.flush())
    assert outbox.close() == 0
    records = read_partition(bus_settings, topic, 0, lambda got: len(got) >= produced, what="every record")
    assert _values(records) == [b"%d" % n for n in range(produced)]


def test_flushes_one_after_the_other_each_wait_for_what_came_before(bus_settings, new_outbox):
    outbox = new_outbox(bus_settings.kafka.producer_config())
    topic = catalogue.DEAD_LETTER.full_name(bus_settings.topics)

    async def two_flushes() -> int:
        outbox.produce(topic, b"k", b"a", partition=0)
        first = asyncio.ensure_future(outbox.flush(timeout=20))
        await asyncio.sleep(0)  # the first flush runs and holds what follows
        outbox.produce(topic, b"k", b"b", partition=0)
        second = asyncio.ensure_future(outbox.flush(timeout=20))
        await asyncio.sleep(0)
        outbox.produce(topic, b"k", b"c", partition=0)  # held by the first flush, or by the second
        await first
        await second
        return len(outbox.producer)

    queued = asyncio.run(two_flushes())
    # "b" was queued before the second flush, so it was delivered; "c" too, unless the second flush held it.
    assert queued <= 1
    assert outbox.close() == 0
    records = read_partition(bus_settings, topic, 0, lambda got: len(got) >= 3, what="three records")
    assert _values(records) == [b"a", b"b", b"c"]


def test_send_waits_for_room_in_a_full_queue(bus_settings, new_outbox):
    config = {**bus_settings.kafka.producer_config(), "queue.buffering.max.messages": 2}
    outbox = new_outbox(config)
    topic = catalogue.DEAD_LETTER.full_name(bus_settings.topics)

    async def send_all():
        for i in range(20):
            await outbox.send(topic, b"k", b"%d" % i, partition=0)
        await outbox.flush()

    asyncio.run(send_all())
    assert len(outbox.producer) == 0
    records = read_partition(bus_settings, topic, 0, lambda got: len(got) >= 20, what="20 records")
    assert _values(records) == [b"%d" % i for i in range(20)]


def test_a_stopping_worker_gives_up_on_a_dead_broker_quickly(bus_settings, new_outbox, monkeypatch):
    """The final commit's flush must not hold a stopping worker for the running-time timeout."""
    from dispatchbus.runtime import driver
    from dispatchbus.dev.embedded_broker import free_port

    monkeypatch.setattr(driver, "SHUTDOWN_TIMEOUT_S", 0.5)
    bus = create_app(bus_settings)
    dead = new_outbox({**bus_settings.kafka.producer_config(), "bootstrap.servers": f"127.0.0.1:{free_port()}"})
    bus.app.outbox = dead
    dead.produce("anywhere", b"k", b"v")
    bus.app._stopped.set()  # what mode's Service.stop() does before stopping the consumer and producer

    async def timed_flush():
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(DeliveryFailed, match="not delivered within"):
            await bus.app.producer.flush()
        return loop.time() - started

    waited = asyncio.run(timed_flush())
    assert waited < driver.FLUSH_TIMEOUT_S / 4, f"waited {waited:.1f} s: the running-time timeout was used"
    assert dead.close(timeout=0) == 1  # the record is reported as undelivered, and its input stays uncommitted


def test_records_left_held_by_a_cancelled_flush_are_delivered_once_and_in_order_by_the_next(
    bus_settings, new_outbox
):
    """A flush cancelled while it hands held records to a full queue leaves the rest for the next flush."""
    outbox = new_outbox({**bus_settings.kafka.producer_config(), "queue.buffering.max.messages": 2})
    topic = catalogue.DEAD_LETTER.full_name(bus_settings.topics)
    records = [(topic, b"k", b"%d" % i, 0) for i in range(10)]

    async def cancel_then_flush() -> tuple[list, int]:
        outbox._held = list(records)  # as a flush leaves them when its hand-over is cancelled
        handing_over = asyncio.ensure_future(outbox._hand_over())
        await asyncio.sleep(0)  # it fills the queue, then waits for room
        handing_over.cancel()
        with pytest.raises(asyncio.CancelledError):
            await handing_over
        left_held = list(outbox._held or [])
        await outbox.flush(timeout=20)
        return left_held, len(outbox.producer)

    left_held, queued = asyncio.run(cancel_then_flush())
    assert left_held and left_held == records[len(records) - len(left_held):]
    assert queued == 0 and outbox._held is None
    got = read_partition(bus_settings, topic, 0, lambda got: len(got) >= 10, what="ten records")
    assert _values(got) == [b"%d" % i for i in range(10)]


def test_a_dropped_outbox_and_its_producer_are_freed_without_the_garbage_collector(bus_settings):
    """No reference cycle through the delivery callback: the producer disconnects as soon as it is dropped."""
    import gc
    import weakref

    outbox = Outbox(bus_settings.kafka.producer_config())
    outbox.producer.flush(0)  # the producer exists, holding the delivery callback
    dropped = weakref.ref(outbox)
    gc.disable()
    try:
        del outbox
        assert dropped() is None
    finally:
        gc.enable()


def test_records_held_while_the_worker_is_behind_reach_librdkafka_on_release_in_order(bus_settings, new_outbox):
    outbox = new_outbox(bus_settings.kafka.producer_config(), max_hold_s=60.0)
    topic = catalogue.DEAD_LETTER.full_name(bus_settings.topics)

    async def hold_then_release() -> tuple[int, int]:
        outbox.produce(topic, b"k", b"0", partition=0)  # before the hold: handed over at once
        outbox.hold()
        outbox.produce(topic, b"k", b"1", partition=0)
        await outbox.send(topic, b"k", b"2", partition=0)
        queued_while_held = len(outbox.producer)
        await outbox.release()
        return queued_while_held, len(outbox.producer)

    while_held, after_release = asyncio.run(hold_then_release())
    assert while_held <= 1 and after_release >= 2  # "0" may be on its way already; "1" and "2" waited
    assert not outbox.holding
    assert outbox.close() == 0
    records = read_partition(bus_settings, topic, 0, lambda got: len(got) >= 3, what="three records")
    assert _values(records) == [b"0", b"1", b"2"]


def test_a_hold_older_than_its_limit_passes_the_held_records_on_with_the_next_one(bus_settings, new_outbox):
    """A large batch takes seconds; its first outputs must not wait for its end."""
    outbox = new_outbox(bus_settings.kafka.producer_config(), max_hold_s=0.05)
    topic = catalogue.DEAD_LETTER.full_name(bus_settings.topics)

    async def hold_past_the_limit() -> list[int]:
        outbox.hold()
        queued = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        n = 0
        while len(outbox.producer) < 2 and loop.time() < deadline:
            await outbox.send(topic, b"k", b"%d" % n, partition=0)
            queued.append(len(outbox.producer))
            n += 1
            await asyncio.sleep(0.005)
        await outbox.release()
        await outbox.flush(timeout=20)
        return queued

    queued = asyncio.run(hold_past_the_limit())
    assert queued[0] == 0, "the first record was held"
    assert queued[-1] == len(queued), "the limit passed everything held on, in one go"
    records = read_partition(bus_settings, topic, 0, lambda got: len(got) >= len(queued), what="every record")
    assert _values(records) == [b"%d" % n for n in range(len(queued))]


def test_a_flush_during_a_hold_delivers_what_was_held_and_the_hold_goes_on(bus_settings, new_outbox):
    """At-least-once: offsets are committed after a flush, so the flush must deliver every held output."""
    outbox = new_outbox(bus_settings.kafka.producer_config(), max_hold_s=60.0)
    topic = catalogue.DEAD_LETTER.full_name(bus_settings.topics)

    async def flush_mid_hold() -> tuple[int, int]:
        outbox.hold()
        outbox.produce(topic, b"k", b"a", partition=0)
        outbox.produce(topic, b"k", b"b", partition=0)
        await outbox.flush(timeout=20)
        delivered = len(outbox.producer)
        outbox.produce(topic, b"k", b"c", partition=0)
        still_held = len(outbox.producer) == 0 and outbox.holding
        return delivered, still_held

    delivered, still_held = asyncio.run(flush_mid_hold())
    assert delivered == 0 and still_held
    read_partition(bus_settings, topic, 0, lambda got: _values(got) == [b"a", b"b"], what="the two flushed records")
    assert outbox.close() == 0, "closing hands the held record over too"
    records = read_partition(bus_settings, topic, 0, lambda got: len(got) >= 3, what="three records")
    assert _values(records) == [b"a", b"b", b"c"]


def test_an_outbox_without_a_hold_limit_never_holds(bus_settings, new_outbox):
    outbox = new_outbox(bus_settings.kafka.producer_config())
    outbox.hold()
    outbox.produce(catalogue.DEAD_LETTER.full_name(bus_settings.topics), b"k", b"v", partition=0)
    assert not outbox.holding and len(outbox.producer) == 1
    assert outbox.close() == 0


def test_changelog_records_are_sent_only_once_the_outputs_before_them_are_delivered(bus_settings, new_outbox):
    """State never gets ahead of outputs: a killed worker's restored state has not seen inputs whose
    outputs may be lost, so those inputs are handled again and their outputs sent again."""
    outbox = new_outbox(bus_settings.kafka.producer_config())
    outputs = catalogue.DEAD_LETTER.full_name(bus_settings.topics)
    state = catalogue.DECISIONS.full_name(bus_settings.topics)  # stands for a changelog topic
    sent: list[tuple[str, bytes]] = []
    real_produce = outbox.producer.produce

    def produce(topic, value, key, **kw):
        sent.append((topic, value))
        return real_produce(topic, value, key, **kw)

    outbox._producer = _Recording(outbox.producer, produce)

    async def run():
        await outbox.send(outputs, b"k", b"out-1", partition=0)
        outbox.keep_state(state, b"k", b"state-1", 0)
        await outbox.send(outputs, b"k", b"out-2", partition=0)
        assert sent == [(outputs, b"out-1"), (outputs, b"out-2")]  # the state waits for a flush
        await outbox.flush()
        assert sent[2:] == [(state, b"state-1")]

    asyncio.run(run())
    assert outbox.close() == 0
    [record] = read_partition(bus_settings, state, 0, lambda got: len(got) >= 1, what="the state record")
    assert record.value() == b"state-1"


def test_changelog_records_of_a_failed_flush_are_never_sent(bus_settings, new_outbox):
    outbox = new_outbox({**bus_settings.kafka.producer_config(), "message.timeout.ms": 500})
    state = catalogue.DECISIONS.full_name(bus_settings.topics)
    outbox.produce(f"missing-{uuid.uuid4().hex[:8]}", b"k", b"never delivered")
    outbox.keep_state(state, b"k", b"state that saw it", 0)
    with pytest.raises(DeliveryFailed):
        asyncio.run(outbox.flush())
    assert outbox.close(timeout=5) == 2  # the failed output, and the state kept back
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(bus_settings.kafka.consumer_config("end-offsets"))
    try:
        assert consumer.get_watermark_offsets(TopicPartition(state, 0), timeout=10) == (0, 0)
    finally:
        consumer.close()


class _Recording:
    """A librdkafka producer whose produce() goes through ``produce``; everything else is the producer's."""

    def __init__(self, producer, produce) -> None:
        self._producer, self.produce = producer, produce

    def __getattr__(self, name):
        return getattr(self._producer, name)

    def __len__(self) -> int:
        return len(self._producer)


def test_kept_back_state_goes_out_without_a_flush_once_nothing_before_it_is_in_flight(bus_settings, new_outbox):
    """A timer's table delete comes with no input, so no commit flushes it: serving the outbox sends it."""
    outbox = new_outbox(bus_settings.kafka.producer_config())
    state = catalogue.DECISIONS.full_name(bus_settings.topics)
    outbox.keep_state(state, b"k", None, 0)  # a tombstone
    outbox.serve()
    assert outbox._state  # a flush may still come
    outbox._flushed_at -= output_producer.IDLE_STATE_S  # none came
    outbox.serve()
    [record] = read_partition(bus_settings, state, 0, lambda got: len(got) >= 1, what="the tombstone",
                              timeout=10)
    assert record.value() is None


def test_kept_back_state_waits_while_an_output_before_it_is_in_flight(bus_settings, new_outbox):
    outbox = new_outbox({**bus_settings.kafka.producer_config(), "message.timeout.ms": 500})
    state = catalogue.DECISIONS.full_name(bus_settings.topics)
    outbox.produce(f"missing-{uuid.uuid4().hex[:8]}", b"k", b"never delivered")
    outbox.keep_state(state, b"k", b"state that saw it", 0)
    outbox._flushed_at -= output_producer.IDLE_STATE_S
    outbox.serve()  # the output is in flight: the state stays
    assert outbox._state
    with pytest.raises(DeliveryFailed):
        asyncio.run(outbox.flush())
    outbox.serve()  # the output failed: the state never goes out
    assert outbox._state
