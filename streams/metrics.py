"""Prometheus metrics of the bus: base units (seconds), ``_total`` counters, no call ids as labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_CONSUMED = Counter(
    "dispatchbus_events_consumed_total",
    "Records consumed by bus agents, by topic and event type.",
    ["topic", "event_type"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "dispatchbus_dead_letters_total",
    "Records sent to the dead-letter topic, by source topic and reason.",
    ["source_topic", "reason"],
    registry=REGISTRY,
)
DECISIONS = Counter(
    "dispatchbus_routing_decisions_total",
    "Routing decisions. Police-default rate = eligible decisions to police / eligible decisions; "
    "diversion rate = eligible decisions to community_responder, embedded_professional or "
    "external_hotline / eligible decisions (initial decisions: sequence=\"initial\").",
    ["model", "target", "team", "fallback", "reason", "eligible", "sequence"],
    registry=REGISTRY,
)


def render() -> bytes:
    """The exposition text of every bus metric."""
    return generate_latest(REGISTRY)
