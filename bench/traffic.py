"""Benchmark traffic: synthetic calls stamped now, a producer that can pace itself, an output collector.

Latency is measured without touching the events: the sender notes the
monotonic time at which each call was handed to the producer, keyed by its
``call_id`` (the record key), and the collector notes when the record keyed
by that ``call_id`` arrived on the output topic (a forwarded call, or the
``RoutingDecision`` whose ``causation_id`` is the call's ``event_id``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from dispatchbus.contract import events as ev
from dispatchbus.contract.serde import AvroSerde
from dispatchbus.dev.synthetic import UNITS, synthetic_objects
from dispatchbus.settings import Settings

Record = tuple[bytes, bytes]
"""(key, value) as produced."""


def fresh_calls(n: int, *, seed: int, tag: str) -> list[ev.CallReceived]:
    """``n`` synthetic calls (the generator's call-type mix), all received now, with ids unique to ``tag``.

    Received "now" so that no handoff deadline (45 s at the shortest) falls
    due while the benchmark runs.
    """
    now = datetime.now(timezone.utc)
    calls = []
    for obj in synthetic_objects(n, seed=seed):
        if obj["type"] != "CallReceived":
            continue
        obj = {k: v for k, v in obj.items() if k != "type"}
        obj["call_id"] = obj["correlation_id"] = f"{tag}-{obj['call_id'][2:]}"
        obj["received_at"] = now
        calls.append(ev.CallReceived.model_validate(obj))
    return calls


def responder_lifecycles(
    calls: Sequence[ev.CallReceived], decisions: Mapping[str, ev.RoutingDecision]
) -> list[ev.Event]:
    """A responder's whole visit for each call and agency holding it: dispatched, on scene, cleared.

    Each visit comes from the agencies (and team) of the call's decision in
    ``decisions`` (by call id), as the worker accepts activity only from units
    of the agencies a call was handed to. All go to one topic with the call's
    key, so each call's replies keep their order; the last clearing ends the
    call, and the worker sends its outcome feedback.
    """
    now = datetime.now(timezone.utc)
    out: list[ev.Event] = []
    for i, call in enumerate(calls):
        decision = decisions[call.call_id]
        for agency in (decision.target, *decision.co_responders):
            if agency == "community_responder":
                team_units = [unit for unit, team in UNITS if team == decision.team]
                unit, team = team_units[i % len(team_units)], decision.team
            else:
                unit, team = f"{agency.upper()}-{i % 50}", None
            common = {"call_id": call.call_id, "unit_id": unit}
            out += [
                ev.DispatchAssigned(event_id=uuid.uuid4(), team=team, agency_type=agency,
                                    assigned_at=now, **common),
                ev.UnitOnScene(event_id=uuid.uuid4(), occurred_at=now + timedelta(minutes=12), **common),
                ev.UnitCleared(event_id=uuid.uuid4(), cleared_at=now + timedelta(minutes=40),
                               outcome=ev.Outcome(category="resolved_on_scene"), **common),
            ]
    return out


def unit_statuses() -> list[ev.UnitStatus]:
    """Every reference unit available since an hour ago (the worker's unit table is then populated)."""
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    return [
        ev.UnitStatus(
            event_id=uuid.uuid4(),
            unit_id=unit, team=team, agency_type="community_responder", status="available", occurred_at=since,
        )
        for unit, team in UNITS
    ]


def encode(serde: AvroSerde, topic: str, events: Sequence[ev.Event], key_field: str) -> list[Record]:
    """Each event as (key, Confluent-framed Avro value) for ``topic``."""
    return [(str(getattr(e, key_field)).encode(), serde.encode(e, topic)) for e in events]


class Sender:
    """A confluent-kafka producer for offered load (``linger.ms`` 0 by default: the sender adds no batching delay)."""

    def __init__(self, settings: Settings, linger_ms: int = 0) -> None:
        conf = settings.kafka.producer_config()
        conf["linger.ms"] = linger_ms
        self._producer = Producer(conf)
        self._errors: list[str] = []

    def _delivered(self, err: KafkaError | None, msg: object) -> None:
        if err is not None:
            self._errors.append(str(err))

    def _produce(self, topic: str, key: bytes, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=self._delivered)
                return
            except BufferError:
                self._producer.poll(0.01)

    def preload(self, topic: str, records: Sequence[Record]) -> None:
        """Produce every record as fast as possible and wait until all are acknowledged."""
        for key, value in records:
            self._produce(topic, key, value)
            self._producer.poll(0)
        self.flush()

    def paced(self, topic: str, records: Sequence[Record], rate: float, stop: threading.Event) -> list[float]:
        """Produce ``records`` at ``rate`` per second (open loop); returns each one's send time (perf_counter)."""
        sent = [0.0] * len(records)
        start = time.perf_counter()
        for i, (key, value) in enumerate(records):
            if stop.is_set():
                break
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent[i] = time.perf_counter()
            self._produce(topic, key, value)
            self._producer.poll(0)
        self.flush()
        return sent

    def flush(self, timeout: float = 60.0) -> None:
        left = self._producer.flush(timeout)
        if left or self._errors:
            raise RuntimeError(f"benchmark producer: {left} undelivered, errors: {self._errors[:3]}")


class PacedSend:
    """:meth:`Sender.paced` in a thread of its own, for the time of a ``with`` block.

    ``sent`` holds each record's send time once the sending ended, ``done`` is
    set when it ends; leaving the block stops the sending, waits for it and
    raises what it raised.
    """

    def __init__(self, sender: Sender, topic: str, records: Sequence[Record], rate: float) -> None:
        self.sent: list[float] = []
        self.done = threading.Event()
        self._stop = threading.Event()
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(sender, topic, records, rate), name="bench-sender",
                                        daemon=True)

    def _run(self, sender: Sender, topic: str, records: Sequence[Record], rate: float) -> None:
        try:
            self.sent.extend(sender.paced(topic, records, rate, self._stop))
        except BaseException as exc:  # raised in the thread that waits for it
            self._failure.append(exc)
        finally:
            self.done.set()

    def __enter__(self) -> PacedSend:
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._failure and exc_type is None:
            raise self._failure[0]


COLLECT_BATCH = 100
"""Records taken per consume call; they share one arrival time. Small against every drain, so a drain
always spans several batches: the smoke run's 300 records arriving in one batch gave a span of 0 and an
infinite rate (a worker / bare-Faust ratio of 0)."""

WINDOW_OPENS_AFTER_S = 0.02
"""Longer than one burst of outputs takes to arrive, short against a drain (seconds)."""


@dataclass
class Arrivals:
    """When each expected key first arrived, the first/last arrival times, and when the rate's window opened."""

    at: dict[bytes, float] = field(default_factory=dict)
    count: int = 0
    first: float | None = None
    last: float | None = None
    values: dict[bytes, bytes] = field(default_factory=dict)
    opened: float | None = None
    """End of the first poll at least :data:`WINDOW_OPENS_AFTER_S` after the first arrival (None: none came)."""
    before_open: int = 0
    """Records that arrived up to ``opened``."""

    def poll_ended(self, now: float) -> bool:
        """Note that a poll ended at ``now`` (its records counted); True if the rate's window opened with it."""
        if self.opened is None and self.first is not None and now - self.first >= WINDOW_OPENS_AFTER_S:
            self.opened, self.before_open = now, self.count
            return True
        return False

    def window(self) -> tuple[int, float, str]:
        """The records that count for a rate, their seconds, and which mark starts them ("open" or "first").

        From the window's opening, not from the first arrival: a processor
        that hands its outputs over in bursts (the worker while it is behind)
        delivers in its first burst records made before that arrival, which
        would shorten the window without shortening the work. The records
        after the opening were made after the first burst, so the rate is not
        inflated by more than :data:`WINDOW_OPENS_AFTER_S` over the window
        (about 1 % in a drain); for a steady stream both counts agree. A run
        too short to open the window counts from the first arrival.
        """
        assert self.first is not None and self.last is not None, "nothing arrived"
        if self.opened is not None and self.last > self.opened:
            return self.count - self.before_open, self.last - self.opened, "open"
        return self.count - 1, self.last - self.first, "first"


class Collector:
    """Reads every partition of an output topic from the beginning (no group join, no decoding)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        conf = settings.kafka.consumer_config(group_id=f"{settings.kafka.client_id}-collector")
        conf["fetch.wait.max.ms"] = settings.kafka.fetch_max_wait_ms
        self.topic = topic
        self._consumer = Consumer(conf)
        meta = self._consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            self._consumer.close()
            raise KeyError(f"topic {topic} does not exist")
        self.partitions = len(meta.partitions)
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])

    def collect(
        self,
        want: int,
        *,
        timeout: float,
        keys: set[bytes] | None = None,
        keep_values: bool = False,
        on_first: object = None,
        on_open: object = None,
        alive: object = None,
    ) -> Arrivals:
        """Consume until ``want`` records (of ``keys``, when given) arrived or ``timeout`` passed.

        ``on_first()`` runs when the first record arrives and ``on_open()`` when
        the rate's window opens (:meth:`Arrivals.window`); ``alive()`` is
        checked between polls and may raise (a processor that died).
        """
        got = Arrivals()
        deadline = time.monotonic() + timeout
        consume, poll = self._consumer.consume, self._consumer.poll
        while got.count < want:
            if time.monotonic() > deadline:
                break
            # consume() waits for all num_messages or the timeout: wait for one record only.
            head = poll(0.05)
            batch = [head, *consume(num_messages=COLLECT_BATCH - 1, timeout=0)] if head is not None else []
            now = time.perf_counter()
            if not batch and alive is not None:
                alive()  # type: ignore[operator]
            for msg in batch:
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(f"consume error on {self.topic}: {msg.error()}")
                key = msg.key()
                if keys is not None:
                    if key not in keys or key in got.at:
                        continue
                    got.at[key] = now
                    if keep_values:
                        got.values[key] = msg.value()
                if got.first is None:
                    got.first = now
                    if on_first is not None:
                        on_first()  # type: ignore[operator]
                got.count += 1
                got.last = now
                if got.count >= want:
                    break
            if got.poll_ended(now) and on_open is not None:
                on_open()  # type: ignore[operator]
        return got

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
