import asyncio

from faust.transport.drivers import by_url

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
