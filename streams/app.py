"""The Faust application: topics from the catalogue, agents, web views.

Records travel as raw bytes through Faust. :meth:`Bus.deliver` decodes each one
with our own Avro serde before it calls the agent's handler with the event, so
that a record that fails to decode (or to be handled) goes to the dead-letter
topic with its original bytes instead of stopping the stream. A transient fault
(the broker, the network, the Schema Registry: :mod:`dispatchbus.faults`) is no
fault of the record: the record waits and is handled again, with backoff, until
it succeeds or the worker stops; it is never dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.types import Message
from faust.types.tables import GlobalTableT
from prometheus_client import CONTENT_TYPE_LATEST

from . import catalogue, metrics
from .catalogue import TopicSpec
from .contract.events import Event
from .contract.serde import AvroSerde, DecodeError, serde_from_settings
from .deadletter import dead_letter, letter_key
from .faults import transient_reason
from .lifecycle.timeline import Timeline
from .policy.reload import PolicyHolder
from .runtime import driver
from .runtime.output_producer import Outbox
from .runtime.tables import OutboxTable
from .settings import Settings

log = logging.getLogger(__name__)

_consumed = metrics.Children(metrics.EVENTS_CONSUMED)

EventHandler = Callable[[Any, Message], Awaitable[None]]
"""Handles one decoded event (a catalogue type of its topic) and the record it came in."""

CallEndedHook = Callable[[Timeline, Event], Awaitable[None]]
"""Runs when a call ends, with its final timeline and the event that ended it."""

RETRY_FIRST_S = 0.1
"""The first wait before a record that met a transient fault is handled again; each next wait doubles."""
RETRY_MAX_S = 5.0
"""The longest wait between two attempts."""


@dataclass
class Bus:
    """What every agent needs: settings, the serde, the output producer and the catalogue's Faust topics.

    The lifecycle agent registers the policy in force and the two tables
    (``policy``, ``calls_table``, ``units_table``); the feedback agent its
    ``call_ended_hooks``.
    """

    app: driver.App
    settings: Settings
    serde: AvroSerde
    outbox: Outbox
    topics: dict[str, faust.TopicT] = field(default_factory=dict)
    call_ended_hooks: list[CallEndedHook] = field(default_factory=list)
    policy: PolicyHolder | None = None
    calls_table: OutboxTable | None = None
    units_table: GlobalTableT | None = None

    def topic(self, spec: TopicSpec) -> faust.TopicT:
        """The Faust topic for a catalogue entry (raw bytes in and out)."""
        if spec.name not in self.topics:
            self.topics[spec.name] = self.app.topic(
                spec.full_name(self.settings.topics),
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=spec.partition_count(self.settings.topics),
                internal=False,
            )
        return self.topics[spec.name]

    def decode(self, message: Any, spec: TopicSpec) -> Event:
        """Decode a consumed record, checking that its type belongs on that topic."""
        event = self.serde.decode(message.value)
        if not isinstance(event, spec.value_types):
            raise DecodeError(
                "unexpected_type",
                f"{type(event).__name__} does not belong on {spec.name} ({', '.join(spec.value_type_names)})",
            )
        _consumed(spec.name, type(event).__name__).inc()
        return event

    async def deliver(self, message: Message, spec: TopicSpec, consumer: str, handler: EventHandler) -> None:
        """Decode ``message`` as a record of ``spec``, then run ``handler(event, message)``.

        A record that cannot be decoded or handled goes to the dead-letter topic;
        one that met a transient fault waits and is handled again (see
        :meth:`handle_or_dead_letter`). The records after it keep flowing.
        """
        try:
            event = self.decode(message, spec)
            await handler(event, message)
        except Exception as exc:
            async def again() -> None:
                await handler(self.decode(message, spec), message)

            await self._after_failure(message, spec, consumer, exc, again)

    async def handle_or_dead_letter(
        self, message: Any, spec: TopicSpec, consumer: str, handle: Callable[[Any], Awaitable[None]]
    ) -> None:
        """Run ``handle(message)``; a record it cannot decode or handle goes to the dead-letter topic.

        ``handle`` decodes with :meth:`decode`, whose :class:`DecodeError` names
        the reason. Any other exception is a record no transition expected (or a
        bug): it waits with its bytes for a fix and a replay. Either way the
        records after it keep flowing. A transient fault (broker, network, Schema
        Registry) is retried with backoff instead: the record waits, and
        ``dispatchbus_retries_total`` and ``dispatchbus_records_waiting`` show it.
        A handler sees the same record again then, as after a redelivery.
        """
        try:
            await handle(message)
        except Exception as exc:
            await self._after_failure(message, spec, consumer, exc, lambda: handle(message))

    async def _after_failure(
        self, message: Any, spec: TopicSpec, consumer: str, exc: Exception, again: Callable[[], Awaitable[None]]
    ) -> None:
        """Handle ``message`` again while it fails with transient faults; dead-letter it on any other.

        A stopping worker gives up waiting: the exception stops the consumer, the
        record's offset is not committed, and it is handled again after a restart.
        """
        attempt = 0
        while (reason := transient_reason(exc)) is not None:
            attempt += 1
            await self._wait_out(reason, attempt, message, consumer, exc)
            try:
                await again()
                log.info("%s handled %s[%s]@%s after %d retries", consumer, message.topic,
                         message.partition, message.offset, attempt)
                return
            except Exception as retry_exc:
                exc = retry_exc
        await self._dead_letter_failure(message, spec, consumer, exc)

    async def _wait_out(self, reason: str, attempt: int, message: Any, consumer: str, exc: Exception) -> None:
        if self.app.should_stop:
            raise exc
        metrics.RETRIES.labels(reason).inc()
        if attempt == 1 or attempt % 20 == 0:
            log.warning("%s waits on a transient fault (%s, %s) at %s[%s]@%s; attempt %d", consumer, reason,
                        type(exc).__name__, message.topic, message.partition, message.offset, attempt)
        metrics.RECORDS_WAITING.inc()
        try:
            await asyncio.sleep(min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (attempt - 1)))
        finally:
            metrics.RECORDS_WAITING.dec()

    async def _dead_letter_failure(self, message: Any, spec: TopicSpec, consumer: str, exc: Exception) -> None:
        """Dead-letter a record whose decoding (its reason) or handling (``processing_failed``) raised ``exc``."""
        if isinstance(exc, DecodeError):
            await self.reject(message, spec, consumer, exc)
            return
        # Only the type: an exception's message may quote the record's fields.
        log.error("%s failed on %s[%s]@%s: %s", consumer, message.topic, message.partition, message.offset,
                  type(exc).__name__)
        log.debug("%s failure", consumer, exc_info=exc)
        await self.reject(message, spec, consumer, DecodeError("processing_failed", type(exc).__name__))

    async def send(self, spec: TopicSpec, key: str, event: Event) -> None:
        """Encode ``event`` and queue it for a catalogue topic (delivered before the next offset commit)."""
        name = spec.full_name(self.settings.topics)
        await self.outbox.send(name, key.encode(), self.serde.encode(event, name))

    async def on_call_ended(self, timeline: Timeline, event: Event) -> None:
        """Run every hook registered for the end of a call (feedback to the call center)."""
        for hook in self.call_ended_hooks:
            await hook(timeline, event)

    async def reject(self, message: Any, spec: TopicSpec, consumer: str, error: DecodeError) -> None:
        """Send a record that could not be processed to the dead-letter topic; never raises.

        The letter is bounded (:mod:`dispatchbus.deadletter`). Sending it waits
        out transient faults like any record; should it fail otherwise, the
        failure is logged and counted (``dispatchbus_dead_letter_failures_total``)
        and the records after it keep flowing.
        """
        async def send_letter() -> None:
            letter = dead_letter(
                source_topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                consumer=consumer,
                reason=error.reason,
                detail=error.detail,
                key=message.key,
                value=message.value,
            )
            name = catalogue.DEAD_LETTER.full_name(self.settings.topics)
            await self.outbox.send(name, letter_key(message.key), self.serde.encode(letter, name))

        attempt = 0
        while True:
            try:
                await send_letter()
                break
            except Exception as exc:
                reason = transient_reason(exc)
                if reason is None:
                    metrics.DEAD_LETTER_FAILURES.labels(spec.name).inc()
                    log.error("dead letter for %s[%s]@%s not sent: %s", message.topic, message.partition,
                              message.offset, type(exc).__name__)
                    return
                attempt += 1
                await self._wait_out(reason, attempt, message, consumer, exc)
        metrics.DEAD_LETTERS.labels(spec.name, error.reason).inc()
        log.warning(
            "dead-lettered %s[%s]@%s: %s", message.topic, message.partition, message.offset, error.reason
        )


def create_app(settings: Settings, **agent_options: Any) -> Bus:
    """Build the Faust app and register every agent and web view."""
    from .agents import register_all

    app = driver.App.from_settings(settings)
    outbox = Outbox(settings.kafka.producer_config(), settings.worker.busy_output_hold_s)
    bus = Bus(app, settings, serde_from_settings(settings), outbox)
    app.outbox = bus.outbox  # flushed with Faust's producer, see dispatchbus.runtime.driver
    for spec in catalogue.CATALOGUE:
        bus.topic(spec)

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset in content_type; the exposition format is UTF-8 by definition.
        return web.bytes(metrics.render(), content_type=CONTENT_TYPE_LATEST.split(";")[0] + "; version=0.0.4")

    @app.timer(interval=1.0, name="outbox_events")
    async def outbox_events() -> None:
        # Broker states and delivery failures are served even while no record is produced.
        bus.outbox.serve()

    register_all(bus, **agent_options)
    return bus
