import asyncio
import logging

from faust.transport.drivers import by_url
from faust.types import TP

from dispatchbus import transport
from dispatchbus.app import create_app
from dispatchbus.settings import Settings


def test_dispatchbus_scheme_resolves_to_our_driver():
    assert by_url("dispatchbus://localhost:9092") is transport.Transport


def test_worker_consumer_uses_the_configured_fetch_wait(tmp_path):
    settings = Settings()
    settings.kafka.fetch_max_wait_ms = 10
    settings.worker.data_dir = tmp_path
    bus = create_app(settings)
    assert isinstance(bus.app.transport, transport.Transport)

    async def build():
        thread = bus.app.consumer._thread
        return thread._create_worker_consumer(bus.app.transport)

    consumer = asyncio.run(build())
    assert consumer._fetch_max_wait_ms == 10


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
    verified = transport.verified_end_offsets(bus_settings, {TP(topic, 0): reported})
    assert verified[TP(topic, 0)] == 5
    assert reported <= 5  # 1 on tansu (one batch of five), 5 on Apache Kafka


class SeekRecorder:
    """Stands in for the consumer in the first-record-after-seek check (pure bookkeeping, no broker)."""

    RESYNC_ATTEMPTS = transport.Consumer.RESYNC_ATTEMPTS

    def __init__(self, committed):
        self._resync = {tp: transport.Resync(offset) for tp, offset in committed.items()}
        self.seeks = []
        self.log = logging.getLogger("test")

    async def seek(self, tp, offset):
        self.seeks.append((tp, offset))

    def check(self, tp, offset, batch):
        return asyncio.run(transport.Consumer._check_first_after_seek(self, tp, offset, batch))


def test_a_record_ahead_of_the_committed_offset_is_dropped_and_the_partition_sought_back():
    tp = TP("cad.calls", 3)
    c = SeekRecorder({tp: 82})
    # A batch fetched before the seek, from the old position: dropped, one seek back for the batch.
    assert [c.check(tp, offset, batch=1) for offset in (236, 237, 238)] == [False, False, False]
    assert c.seeks == [(tp, 82)]
    # Records older than the committed offset are left to Faust's read-offset filter.
    assert c.check(tp, 80, batch=2)
    # The sought records arrive: delivered, and the partition is in step again.
    assert c.check(tp, 82, batch=2) and c.check(tp, 239, batch=2)
    assert tp not in c._resync and c.seeks == [(tp, 82)]


def test_a_partition_whose_committed_offset_holds_no_record_starts_ahead_after_a_few_seeks():
    tp = TP("cad.calls", 0)
    c = SeekRecorder({tp: 10})
    results = [c.check(tp, 11, batch=b) for b in range(1, transport.Consumer.RESYNC_ATTEMPTS + 2)]
    assert results == [False] * transport.Consumer.RESYNC_ATTEMPTS + [True]
    assert len(c.seeks) == transport.Consumer.RESYNC_ATTEMPTS
    # Other partitions are not checked.
    assert c.check(TP("cad.calls", 1), 500, batch=9)
