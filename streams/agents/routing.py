"""The routing agent: CallReceived in, RoutingDecision out, bad records to the DLQ."""

from __future__ import annotations

import uuid
from typing import Any, Callable

from .. import catalogue, metrics
from ..contract.events import CallReceived, RoutingDecision
from ..contract.serde import DecodeError

Router = Callable[[CallReceived], RoutingDecision]

_NAMESPACE = uuid.UUID("5b0c3a8e-2d7e-4c55-8f55-1c9a3b6e2f10")


def placeholder_router(call: CallReceived) -> RoutingDecision:
    """Send everything to police unless fire or medical (replaced by the policy engine)."""
    s = call.screening
    target = "fire" if call.call_type == "fire" else "ems" if s.medical_emergency else "police"
    return RoutingDecision(
        event_id=uuid.uuid5(_NAMESPACE, f"{call.event_id}:route:0"),
        causation_id=call.event_id,
        call_id=call.call_id,
        target=target,
        model="placeholder",
        policy_id="placeholder",
        policy_version="0",
        reasons=[f"placeholder: {target}"],
        decided_at=call.received_at,
    )


def register(bus: Any, router: Router | None = None, **_: Any) -> None:
    """Register the routing agent on ``bus.app``."""
    route = router or placeholder_router
    source = catalogue.CAD_CALLS

    @bus.app.agent(bus.topic(source), name="route_calls")
    async def route_calls(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            try:
                record = bus.decode(message, source)
            except DecodeError as err:
                await bus.reject(message, source, "route_calls", err)
                continue
            if not isinstance(record, CallReceived):
                continue
            decision = route(record)
            metrics.DECISIONS.labels(
                decision.model,
                decision.target,
                decision.team or "",
                str(decision.fallback).lower(),
                decision.reasons[0].split(":", 1)[0] if decision.reasons else "",
                str(decision.eligible).lower(),
                "initial" if decision.sequence == 0 else "reroute",
            ).inc()
            await bus.send(catalogue.DECISIONS, decision.call_id, decision)
