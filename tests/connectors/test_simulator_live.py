"""The console simulator on the embedded broker: a handoff in, acceptance and result out."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone

import pytest

from dispatchbus import catalogue
from dispatchbus.kafka.clients import EventProducer, TopicReader
from dispatchbus.connectors.simulators import load_config, start_simulators, stop_simulators
from dispatchbus.contract.events import ConsultResult, HandoffAccepted, HandoffRequested, Location

from ..support.waiting import wait_for

pytestmark = pytest.mark.broker


def test_console_answers_a_handoff_over_kafka(bus_settings):
    config = load_config().with_overrides(
        seed=5,
        speed=600,
        console={"no_answer_probability": 0.0, "accept_delay": 30, "consult_duration": 300},
    )
    request = HandoffRequested(
        event_id=uuid.uuid4(),
        call_id=f"LIVE-{uuid.uuid4().hex[:8]}",
        decision_id=uuid.uuid4(),
        agency="embedded_professional",
        requested_at=datetime.now(timezone.utc),
        call_type="mental_health",
        priority=3,
        location=Location(lat=39.76, lon=-84.19, zone="Z1-CENTRAL"),
        zone="Z1-CENTRAL",
    )
    stop = threading.Event()
    threads = start_simulators(bus_settings, config, ["console"], stop)
    try:
        producer = EventProducer(bus_settings)
        producer.send(catalogue.HANDOFF_EMBEDDED, request)
        producer.flush()

        replies: dict[type, object] = {}
        keys: set[bytes] = set()
        with TopicReader(bus_settings, catalogue.HANDOFF_REPLIES) as reader:

            def answered() -> bool:
                record = reader.poll(0.2)
                if record is not None and getattr(record.event, "handoff_id", None) == request.event_id:
                    replies[type(record.event)] = record.event
                    keys.add(record.key)
                return {HandoffAccepted, ConsultResult} <= replies.keys()

            wait_for(answered, timeout=60, interval=0, what="HandoffAccepted and ConsultResult on handoff.replies")
    finally:
        stop_simulators(threads, stop)

    assert not any(t.is_alive() for t in threads)
    assert [t.error for t in threads] == [None]
    accepted, result = replies[HandoffAccepted], replies[ConsultResult]
    assert accepted.call_id == result.call_id == request.call_id
    assert accepted.causation_id == result.causation_id == request.event_id
    assert request.requested_at <= accepted.accepted_at <= result.completed_at
    assert keys == {request.call_id.encode()}
