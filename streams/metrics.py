"""Prometheus metrics of the bus: base units (seconds), ``_total`` counters, no call ids as labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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

HOP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600)
"""Seconds: a routing hop takes milliseconds, a unit's travel takes many minutes."""

HOP_LATENCY = Histogram(
    "dispatchbus_hop_latency_seconds",
    "Event-time latency of each hop of a call: received_to_decided, decided_to_accepted, "
    "accepted_to_consult_result, decided_to_dispatched, dispatched_to_on_scene, "
    "received_to_on_scene, on_scene_to_cleared.",
    ["model", "agency", "team", "hop"],
    buckets=HOP_BUCKETS,
    registry=REGISTRY,
)
HANDOFF_TIMEOUTS = Counter(
    "dispatchbus_handoff_timeouts_total",
    "Handoffs nobody answered before their deadline, by receiving agency.",
    ["model", "agency"],
    registry=REGISTRY,
)
HANDOFF_DECLINES = Counter(
    "dispatchbus_handoff_declines_total",
    "Handoffs the receiving agency declined, by agency and reason.",
    ["model", "agency", "reason"],
    registry=REGISTRY,
)
CALLS_WAITING = Gauge(
    "dispatchbus_calls_waiting",
    "Calls whose handoff to this agency is not yet answered.",
    ["agency"],
    registry=REGISTRY,
)
OLDEST_WAITING = Gauge(
    "dispatchbus_oldest_waiting_seconds",
    "Age of the oldest unanswered handoff to this agency (0 when none waits).",
    ["agency"],
    registry=REGISTRY,
)
RESOLVED_BY_PHONE = Counter(
    "dispatchbus_resolved_by_phone_total",
    "Calls a clinician or the hotline resolved by phone: in-person responses averted.",
    ["model", "agency"],
    registry=REGISTRY,
)
