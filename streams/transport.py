"""Faust Kafka driver with a configurable consumer fetch wait.

Faust's aiokafka driver hard-codes ``fetch_max_wait_ms=1500``. On brokers that
hold every fetch for about half of that even when data is ready (the embedded
tansu broker), each hop then costs over a second. This driver, registered
under the ``dispatchbus://`` URL scheme through the ``faust.transports`` entry
point, applies ``Settings.kafka.fetch_max_wait_ms`` instead. The app exposes
the value as ``app.fetch_max_wait_ms``.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka

DEFAULT_FETCH_MAX_WAIT_MS = 500


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Consumer thread whose worker consumer uses the configured fetch wait."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # AIOKafkaConsumer only reads this when start() builds its fetcher, which
        # has not happened yet: setting it here is equivalent to the constructor argument.
        consumer._fetch_max_wait_ms = fetch_max_wait_ms(self.app)
        return consumer


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """aiokafka transport with :class:`Consumer`."""

    Consumer = Consumer
    driver_version = f"dispatchbus+{faust_aiokafka.Transport.driver_version}"


def fetch_max_wait_ms(app: Any) -> int:
    """The fetch wait configured for ``app`` (Faust's own settings have no such key)."""
    return int(getattr(app, "fetch_max_wait_ms", DEFAULT_FETCH_MAX_WAIT_MS))
