"""Prometheus metrics of the bus: base units (seconds), ``_total`` counters, no call ids as labels."""

from __future__ import annotations

from typing import Any

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
DEAD_LETTER_FAILURES = Counter(
    "dispatchbus_dead_letter_failures_total",
    "Records that could not be dead-lettered either (logged; the records after them keep flowing), by source topic.",
    ["source_topic"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "dispatchbus_retries_total",
    "Records handled again after a transient fault (never dead-lettered), by reason: broker, network, "
    "schema_registry.",
    ["reason"],
    registry=REGISTRY,
)
RECORDS_WAITING = Gauge(
    "dispatchbus_records_waiting",
    "Records waiting to be handled again after a transient fault (each holds its partition).",
    registry=REGISTRY,
)
for _reason in ("broker", "network", "schema_registry"):  # every series exists from the start
    RETRIES.labels(_reason)
PRODUCE_FAILURES = Counter(
    "dispatchbus_produce_failures_total",
    "Records the worker's outbox could not deliver (the offsets behind them are not committed), by topic.",
    ["topic"],
    registry=REGISTRY,
)
BROKER_UP = Gauge(
    "dispatchbus_broker_up",
    "1 while the worker's output producer holds a connection to a Kafka broker, 0 while none answers "
    "(outputs wait in the producer meanwhile).",
    registry=REGISTRY,
)
UNDELIVERED_IN_FORCE = Gauge(
    "dispatchbus_undelivered_outputs",
    "1 while a record of the worker's outbox was not delivered: no offset is committed until the "
    "worker restarts and processes the inputs behind it again.",
    registry=REGISTRY,
)
OUTPUT_HOLDS = Counter(
    "dispatchbus_output_holds_total",
    "Fetched batches so large (the worker far behind) that the worker's outbox held their outputs and "
    "handed them over in bursts.",
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


class Children:
    """A labelled metric's children by label values, for the per-event paths.

    ``labels()`` takes a lock and checks the values on every call (~2 µs, three
    times per routed call); a child found once is reused. The label sets are
    bounded (no call ids as labels), so this cache is too.
    """

    def __init__(self, metric: Counter | Gauge | Histogram) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


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
EVENTS_REJECTED = Counter(
    "dispatchbus_events_rejected_total",
    "Replies and unit activity refused because they came from an agency or unit the call was not handed to.",
    ["event_type", "reason"],
    registry=REGISTRY,
)
HANDOFFS_WITHDRAWN = Counter(
    "dispatchbus_handoffs_withdrawn_total",
    "Agencies told to stand down from a call, by agency and reason (superseded by new facts, call closed).",
    ["agency", "reason"],
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
CALLS_HELD = Gauge(
    "dispatchbus_calls_held",
    "Calls in this worker's calls table: open calls, and ended ones within their retention.",
    registry=REGISTRY,
)
CALLS_EXPIRED = Counter(
    "dispatchbus_calls_expired_total",
    "Ended calls deleted from the calls table after their retention (DISPATCHBUS_WORKER__ENDED_RETENTION_S).",
    registry=REGISTRY,
)
RESOLVED_BY_PHONE = Counter(
    "dispatchbus_resolved_by_phone_total",
    "Calls a clinician or the hotline resolved by phone: in-person responses averted.",
    ["model", "agency"],
    registry=REGISTRY,
)

# --- outcome feedback to call centers (labelled by PSAP, never by call taker) -------------

FEEDBACK_SENT = Counter(
    "dispatchbus_feedback_sent_total",
    "OutcomeFeedback events produced when a call ended, by PSAP; psap=\"unlisted\" for PSAPs without "
    "their own feedback topics (not in DISPATCHBUS_FEEDBACK__PSAPS).",
    ["psap"],
    registry=REGISTRY,
)
FEEDBACK_ERRORS = Counter(
    "dispatchbus_feedback_errors_total",
    "Ended calls whose feedback could not be built (the call's lifecycle goes on).",
    registry=REGISTRY,
)
FEEDBACK_OUTCOMES = Counter(
    "dispatchbus_feedback_outcomes_total",
    "Outcomes counted in the feedback digests (each call once), by PSAP, first target and outcome category.",
    ["psap", "first_target", "category"],
    registry=REGISTRY,
)
FEEDBACK_DROPPED = Counter(
    "dispatchbus_feedback_dropped_total",
    "Feedback not counted in the digests: reason=duplicate (a redelivered copy), too_late (the call "
    "was received before the retained windows) or future_dated (stamped ahead of the clock).",
    ["psap", "reason"],
    registry=REGISTRY,
)
FEEDBACK_RESOLVED_WITHOUT_POLICE = Gauge(
    "dispatchbus_feedback_resolved_without_police_ratio",
    "Share of the diverted calls received in the PSAP's current day or week (event time) that ended "
    "resolved with police never needed.",
    ["psap", "window"],
    registry=REGISTRY,
)
FEEDBACK_POLICE_BACKUP = Gauge(
    "dispatchbus_feedback_police_backup_ratio",
    "Share of the diverted calls received in the PSAP's current day or week that needed police after all.",
    ["psap", "window"],
    registry=REGISTRY,
)
FEEDBACK_MEDIAN_TO_ON_SCENE = Gauge(
    "dispatchbus_feedback_median_to_on_scene_seconds",
    "Median time from received to on scene of the calls received in the PSAP's current day or week.",
    ["psap", "window"],
    registry=REGISTRY,
)

POLICY_INFO = Gauge(
    "dispatchbus_policy_info",
    "The routing policy in force (value 1), by id, version and model.",
    ["policy_id", "version", "model"],
    registry=REGISTRY,
)
POLICY_RELOADS = Counter(
    "dispatchbus_policy_reloads_total",
    "Policy file reloads, by result (applied or rejected).",
    ["result"],
    registry=REGISTRY,
)
