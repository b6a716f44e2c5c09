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

    consumer = asyncio.new_event_loop().run_until_complete(build())
    assert consumer._fetch_max_wait_ms == 10
