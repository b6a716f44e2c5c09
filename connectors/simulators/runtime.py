"""What every simulator shares: a simulated clock, ids, and the Kafka loop.

A simulator's behaviour lives in pure methods that unit tests drive without
Kafka: ``start(now)``, ``tick(now)`` and ``handle(event, now)`` each return
:class:`Emit` tuples ``(delay_seconds, event, topic_spec)``. The event's own
time already says when it happens (``now`` plus the delay, or later than the
request it answers); :class:`Runner` holds each emit back until the simulated
clock reaches it, then produces it. Timelines are planned when a request
arrives: a simulator keeps only the state it needs to plan (busy units,
clinicians), never a queue of its own.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, ClassVar, NamedTuple, Protocol

from confluent_kafka import Consumer, KafkaError

from dispatchbus.catalogue import TopicSpec
from dispatchbus.kafka.clients import DeliveryError, EventProducer
from dispatchbus.contract.events import Event, HandoffWithdrawn
from dispatchbus.contract.serde import AvroSerde, DecodeError, serde_from_settings

from .config import SimulatorConfig

if TYPE_CHECKING:
    from dispatchbus.settings import Settings

log = logging.getLogger(__name__)

ID_NAMESPACE = uuid.UUID("0f5d3c52-7a61-4f0e-9d8c-3b2a6e1c4d77")
"""Namespace of the simulators' deterministic event ids."""


class Emit(NamedTuple):
    """An event to produce ``delay`` simulated seconds from now on ``topic``."""

    delay: float
    event: Event
    topic: TopicSpec


# --- clocks -----------------------------------------------------------------------


class Clock(Protocol):
    """Simulated time."""

    speed: float

    def now(self) -> datetime: ...


class SimClock:
    """Simulated time = ``start`` + elapsed real time × ``speed``.

    ``monotonic`` is injectable so tests can drive real time by hand.
    """

    def __init__(
        self,
        start: datetime | None = None,
        speed: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = (start or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self.speed = speed
        self._monotonic = monotonic
        self._t0 = monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(self._monotonic() - self._t0) * self.speed)

    def real_seconds(self, simulated: float) -> float:
        """Real seconds that ``simulated`` seconds take."""
        return simulated / self.speed

    @classmethod
    def from_config(cls, config: SimulatorConfig) -> SimClock:
        return cls(config.start(), config.speed)


class ManualClock:
    """A clock that moves only when told to (for tests)."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self._now = start.astimezone(timezone.utc)
        self.speed = speed

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(timezone.utc)


class IdFactory:
    """Deterministic event ids: uuid5 of the seed, the simulator's name and a counter."""

    def __init__(self, seed: int, name: str) -> None:
        self._namespace = uuid.uuid5(ID_NAMESPACE, f"{seed}:{name}")
        self._counter = itertools.count()

    def __call__(self) -> uuid.UUID:
        return uuid.uuid5(self._namespace, str(next(self._counter)))


def at(base: datetime, seconds: float) -> datetime:
    """``base`` plus ``seconds``."""
    return base + timedelta(seconds=seconds)


def since(when: datetime, now: datetime) -> float:
    """Seconds from ``now`` to ``when`` (never negative): an emit's delay."""
    return max(0.0, (when - now).total_seconds())


# --- simulators -------------------------------------------------------------------


class Simulator:
    """Base of every simulator: a pure core plus :meth:`run` on Kafka.

    Subclasses set ``name`` and ``consumes`` and override :meth:`start`,
    :meth:`tick` and/or :meth:`handle`. ``settings`` and ``clock`` matter only
    to :meth:`run`; the pure methods take ``now`` as an argument.
    """

    name: ClassVar[str] = "simulator"
    consumes: ClassVar[tuple[TopicSpec, ...]] = ()

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.clock = clock
        self.seed = config.seed if seed is None else seed
        self.rng = random.Random(f"{self.seed}:{self.name}")
        self.new_id = IdFactory(self.seed, self.name)

    def start(self, now: datetime) -> list[Emit]:
        """Events to emit when the simulator starts."""
        return []

    def tick(self, now: datetime) -> list[Emit]:
        """Events that are due because time passed (called on every loop turn)."""
        return []

    def handle(self, event: Event, now: datetime) -> list[Emit]:
        """Events answering one consumed event."""
        return []

    def run(self, stop_event: threading.Event) -> None:
        """Consume, handle and produce on Kafka until ``stop_event`` is set."""
        if self.settings is None:
            raise RuntimeError(f"{self.name}: run() needs settings")
        clock = self.clock or SimClock.from_config(self.config)
        Runner(self, self.settings, clock).run(stop_event)


class Runner:
    """The Kafka loop of one simulator: a scheduler of emits, a consumer and a producer."""

    poll_interval = 0.1
    """Longest real wait between loop turns, so ticks and stops are prompt."""

    def __init__(
        self,
        simulator: Simulator,
        settings: Settings,
        clock: Clock,
        *,
        serde: AvroSerde | None = None,
    ) -> None:
        self.sim = simulator
        self.settings = settings
        self.clock = clock
        self.serde = serde or serde_from_settings(settings)
        self.group_id = f"{settings.kafka.client_id}-sim-{simulator.name}"
        self._heap: list[tuple[datetime, int, Emit]] = []
        self._seq = itertools.count()
        self.consumed = 0
        self.produced = 0

    # scheduling (no Kafka)

    def schedule(self, emits: Iterable[Emit], now: datetime) -> None:
        for emit in emits:
            due = now + timedelta(seconds=max(0.0, emit.delay))
            heapq.heappush(self._heap, (due, next(self._seq), emit))

    def stand_down(self, call_id: str) -> int:
        """Drop what is still planned for ``call_id`` (the bus withdrew the call); returns how many went.

        Unit statuses stay planned, so units still become free when they would have.
        """
        keep = [entry for entry in self._heap if getattr(entry[2].event, "call_id", None) != call_id]
        dropped = len(self._heap) - len(keep)
        if dropped:
            self._heap[:] = keep
            heapq.heapify(self._heap)
        return dropped

    def due(self, now: datetime) -> list[Emit]:
        """Pop every emit whose time has come, in time order (ties: scheduling order)."""
        out = []
        while self._heap and self._heap[0][0] <= now:
            out.append(heapq.heappop(self._heap)[2])
        return out

    @property
    def pending(self) -> int:
        return len(self._heap)

    def wait_seconds(self, now: datetime) -> float:
        """Real seconds until the next emit is due, at most :attr:`poll_interval`."""
        if not self._heap:
            return self.poll_interval
        simulated = (self._heap[0][0] - now).total_seconds()
        return min(self.poll_interval, max(0.0, simulated / self.clock.speed))

    # the loop

    def run(self, stop_event: threading.Event) -> None:
        name = self.sim.name
        topics = [spec.full_name(self.settings.topics) for spec in self.sim.consumes]
        producer = EventProducer(self.settings, self.serde)
        consumer: Consumer | None = None
        try:
            if topics:
                consumer = Consumer(self.settings.kafka.consumer_config(group_id=self.group_id))
                consumer.subscribe(topics)
            log.info("%s simulator started (group %s, topics %s)", name, self.group_id, ", ".join(topics) or "-")
            now = self.clock.now()
            self.schedule(self.sim.start(now), now)
            while not stop_event.is_set():
                now = self.clock.now()
                self.schedule(self.sim.tick(now), now)
                self._produce(producer, self.due(now))
                wait = self.wait_seconds(self.clock.now())
                if consumer is None:
                    stop_event.wait(wait)
                    continue
                msg = consumer.poll(wait)
                if msg is not None:
                    self._consume(consumer, msg)
        finally:
            try:
                producer.flush(10)
            except DeliveryError as exc:
                log.error("%s simulator: %s", name, exc)
            if consumer is not None:
                consumer.close()
            log.info(
                "%s simulator stopped: %d consumed, %d produced, %d planned events dropped",
                name, self.consumed, self.produced, self.pending,
            )

    def _produce(self, producer: EventProducer, emits: list[Emit]) -> None:
        if not emits:
            return
        for emit in emits:
            producer.send(emit.topic, emit.event)
            log.debug("%s -> %s %s", self.sim.name, emit.topic.name, type(emit.event).__name__)
        try:
            producer.flush(10)
        except DeliveryError as exc:
            log.error("%s simulator: %s", self.sim.name, exc)
            return
        self.produced += len(emits)

    def _consume(self, consumer: Consumer, msg: object) -> None:
        err = msg.error()  # type: ignore[attr-defined]
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("%s simulator: consume error: %s", self.sim.name, err)
            return
        where = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"  # type: ignore[attr-defined]
        try:
            event = self.serde.decode(msg.value())  # type: ignore[attr-defined]
        except DecodeError as exc:
            log.warning("%s simulator: skipped %s: %s", self.sim.name, where, exc.reason)
        else:
            self.consumed += 1
            now = self.clock.now()
            if isinstance(event, HandoffWithdrawn) and event.reason == "superseded":
                self.stand_down(event.call_id)  # the unit turns back: its planned reports are not sent
            try:
                self.schedule(self.sim.handle(event, now), now)
            except Exception:
                # never log the event itself: it may carry call details
                log.exception("%s simulator: failed on %s %s", self.sim.name, type(event).__name__, where)
        consumer.commit(message=msg, asynchronous=True)  # type: ignore[arg-type]
