"""The call path as a plain object: a decoded event in, the timeline stored, the outputs sent (no Faust, no broker)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace

from dispatchbus import catalogue
from dispatchbus.agents.lifecycle import BusClock, CallLifecycle
from dispatchbus.lifecycle.expiry import ExpiryIndex
from dispatchbus.lifecycle.timers import PendingIndex
from dispatchbus.policy.availability import AvailabilityBook
from dispatchbus.policy.reload import PolicyHolder
from tests.support.samples import call


class Calls(dict):
    """The calls table's interface the call path uses, over a dict that also records each write's partition."""

    def __init__(self) -> None:
        super().__init__()
        self.partitions: dict[str, int] = {}

    def peek(self, call_id):
        return self.get(call_id)

    def put(self, call_id, timeline, partition):
        self[call_id] = timeline
        self.partitions[call_id] = partition

    def delete(self, call_id, partition):
        del self[call_id]


class Outputs:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.ended: list[str] = []

    async def send(self, spec, key, event):
        self.sent.append((spec.name, key, type(event).__name__))

    async def on_call_ended(self, timeline, event):
        self.ended.append(timeline.call_id)


def lifecycle() -> tuple[CallLifecycle, Calls, Outputs]:
    calls, outputs = Calls(), Outputs()
    path = CallLifecycle(
        calls=calls,
        units=AvailabilityBook(),
        policy=PolicyHolder(None, "911-led"),
        pending=PendingIndex(catalogue.HANDOFF_TOPICS),
        expiry=ExpiryIndex(timedelta(hours=24), catalogue.CALL_PARTITIONS),
        clock=BusClock("event-time"),
        outputs=outputs,
    )
    return path, calls, outputs


def test_a_new_call_is_stored_in_its_partition_and_its_decision_and_handoff_are_sent():
    path, calls, outputs = lifecycle()
    event = call(7, "welfare_check", weapon_present=True)  # the gate sends it to police, through the CAD
    asyncio.run(path.handle(event, SimpleNamespace(partition=4)))

    assert calls.partitions == {"C7": 4} and calls["C7"].call_id == "C7"
    assert outputs.sent == [
        (catalogue.DECISIONS.name, "C7", "RoutingDecision"),
        (catalogue.HANDOFF_TOPICS["police"].name, "C7", "HandoffRequested"),
    ]
    assert len(path.pending) == 1 and outputs.ended == []


def test_a_redelivered_event_sends_its_outputs_again_without_storing_the_call_again():
    path, calls, outputs = lifecycle()
    event = call(8, "welfare_check", weapon_present=True)
    asyncio.run(path.handle(event, SimpleNamespace(partition=2)))
    stored = calls["C8"]
    asyncio.run(path.handle(event, SimpleNamespace(partition=2)))

    assert calls["C8"] is stored
    assert outputs.sent[2:] == outputs.sent[:2]


def test_an_event_type_the_lifecycle_does_not_handle_changes_nothing():
    path, calls, outputs = lifecycle()
    status = SimpleNamespace(call_id="C9")  # not a call event: ignored before any lookup
    asyncio.run(path.handle(status, SimpleNamespace(partition=0)))

    assert calls == {} and outputs.sent == []
