"""The call-lifecycle agent: routes calls, tracks handoffs, escalates the unanswered ones.

One agent subscribes to every call-keyed input topic (co-partitioned by
call_id), whose records are handled straight from the fetch loop
(``runtime.driver.App.deliver_directly``). Each call's timeline lives in one
changelogged table partition, until the timer deletes it a retention period
after the call ended. Unit statuses feed a global table that every worker
holds in full.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from .. import catalogue, metrics
from ..contract import events as ev
from ..lifecycle.expiry import ExpiryIndex
from ..lifecycle.timers import PendingIndex
from ..lifecycle.transitions import HANDLED_TYPES, Context, Effects, apply
from ..policy.availability import UnitHistory, to_epoch_ms
from ..policy.reasons import primary_reason_code
from ..policy.reload import PolicyHolder
from ..runtime.tables import TIMELINE_CODEC, outbox_table

log = logging.getLogger(__name__)

INPUTS = (catalogue.CAD_CALLS, catalogue.HANDOFF_REPLIES, catalogue.RESPONDER_ACTIVITY, catalogue.ESCALATIONS)

HANDOFF_TOPICS = {
    "embedded_professional": catalogue.HANDOFF_EMBEDDED,
    "external_hotline": catalogue.HANDOFF_HOTLINE,
    "community_responder": catalogue.HANDOFF_RESPONDERS,
    "police": catalogue.HANDOFF_CAD,
    "ems": catalogue.HANDOFF_CAD,
    "fire": catalogue.HANDOFF_CAD,
}
"""Where a handoff request to each agency goes."""

UNIT_HISTORY_DAYS = 7

_decisions = metrics.Children(metrics.DECISIONS)
_hop_latency = metrics.Children(metrics.HOP_LATENCY)
_declines = metrics.Children(metrics.HANDOFF_DECLINES)
_timeouts = metrics.Children(metrics.HANDOFF_TIMEOUTS)
_resolved_by_phone = metrics.Children(metrics.RESOLVED_BY_PHONE)


class TableUnits:
    """Unit-status lookups over the global ``units`` table (unit_id -> [[epoch_ms, status], ...])."""

    def __init__(self, table: Any) -> None:
        self._table = table
        # unit_id -> (table value, its UnitHistory), used while the table holds that very value.
        self._parsed: dict[str, tuple[Any, UnitHistory]] = {}

    def status_at(self, unit_id: str, epoch_ms: int) -> str | None:
        # The store itself, as OutboxTable.peek: Faust's get adds a monitor hook per read, and an
        # eligible call reads every unit of every team in service.
        data = self._table.data.get(unit_id)
        if not data:
            return None
        hit = self._parsed.get(unit_id)
        if hit is None or hit[0] is not data:
            hit = self._parsed[unit_id] = (data, UnitHistory.from_json(data))
        return hit[1].status_at(epoch_ms)


class BusClock:
    """``now`` for deadlines: the wall clock, or in event-time mode the latest event time seen."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._latest: datetime | None = None

    def observe(self, event_time: datetime) -> None:
        if self._latest is None or event_time > self._latest:
            self._latest = event_time

    def now(self) -> datetime:
        wall = datetime.now(timezone.utc)
        if self.mode == "wall" or self._latest is None:
            return wall
        return self._latest


def record_effects(fx: Effects, policy_model: str) -> None:
    """Count what a transition did."""
    for d in fx.decisions:
        _decisions(
            d.model, d.target, d.team or "", str(d.fallback).lower(), primary_reason_code(d),
            str(d.eligible).lower(), "initial" if d.sequence == 0 else "reroute",
        ).inc()
    for lat in fx.latencies:
        _hop_latency(policy_model, lat.agency, lat.team, lat.hop).observe(lat.seconds)
    for agency, reason in fx.declines:
        _declines(policy_model, agency, reason).inc()
    for agency in fx.timeouts:
        _timeouts(policy_model, agency).inc()
    for agency in fx.resolved_by_phone:
        _resolved_by_phone(policy_model, agency).inc()


def register(bus: Any, **_: Any) -> None:
    """Register the lifecycle and unit agents, the deadline timer and the call views."""
    app = bus.app
    settings = bus.settings
    holder = PolicyHolder(settings.worker.policy_file, settings.worker.policy_model)
    bus.policy = holder
    calls = outbox_table(
        app, "calls", default=None, partitions=catalogue.CALL_PARTITIONS, value_serializer=TIMELINE_CODEC,
        help="Call timelines by call_id.",
    )
    units = app.GlobalTable(
        "units", default=None, partitions=catalogue.UNIT_STATUS.partitions,
        help="Unit status histories by unit_id.",
    )
    bus.calls_table, bus.units_table = calls, units
    unit_lookup = TableUnits(units)
    pending = PendingIndex(HANDOFF_TOPICS)
    expiry = ExpiryIndex(timedelta(seconds=settings.worker.ended_retention_s), catalogue.CALL_PARTITIONS)

    @calls.on_recover
    async def index_recovered_calls() -> None:
        # Recovery (start-up, rebalance) changes the table behind the agent's back.
        held = list(calls.values())
        pending.rebuild(held)
        expiry.rebuild(held)

    clock = BusClock(settings.worker.clock)
    by_topic = {spec.full_name(settings.topics): spec for spec in INPUTS}
    source = app.topic(*by_topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    ctx = Context(holder.current, unit_lookup)

    async def handle(message: Any) -> None:
        nonlocal ctx
        event = bus.decode(message, by_topic[message.topic])
        if not isinstance(event, HANDLED_TYPES):  # a type this agent ignores
            return
        policy = holder.current
        if ctx.policy is not policy:  # a reloaded policy
            ctx = Context(policy, unit_lookup)
        new, fx = apply(calls.peek(event.call_id), event, ctx)
        if fx.duplicate and not fx.resend:
            return
        if not fx.duplicate:  # a resend (redelivered last event) only sends again
            clock.observe(event.event_time)
            # apply() never changes the timeline it is given, so the stored object is never mutated.
            calls.put(event.call_id, new, message.partition)
            pending.update(new)
            expiry.update(new, message.partition)
            if isinstance(event, ev.CallReceived) and fx.decisions and clock.mode == "wall":
                # The only hop measured on the wall clock: how long the bus took to decide.
                waited = (datetime.now(timezone.utc) - event.received_at).total_seconds()
                d = fx.decisions[0]
                _hop_latency(policy.model, d.target, d.team or "", "received_to_decided").observe(
                    max(0.0, waited)
                )
            record_effects(fx, policy.model)
        for decision in fx.decisions:
            await bus.send(catalogue.DECISIONS, decision.call_id, decision)
        for request in fx.handoffs:
            await bus.send(HANDOFF_TOPICS[request.agency], request.call_id, request)
        if fx.ended:
            await bus.on_call_ended(new, event)

    async def handle_call_event(message: Any) -> None:
        await bus.handle_or_dead_letter(message, by_topic[message.topic], "call_lifecycle", handle)

    # Faust's per-record path (channel, event, stream, a task switch) cost 10-15 % of a call's CPU (round 10).
    app.deliver_directly(by_topic, handle_call_event)

    @app.agent(source, name="call_lifecycle")
    async def call_lifecycle(stream: Any) -> None:
        # Subscribes the worker to the inputs; their records go to handle_call_event directly.
        async for item in stream.events():
            await handle_call_event(item.message)

    async def record_unit_status(message: Any) -> None:
        event = bus.decode(message, catalogue.UNIT_STATUS)
        history = UnitHistory.from_json(units.get(event.unit_id) or [])
        if history.record(to_epoch_ms(event.occurred_at), event.status):
            history.prune(to_epoch_ms(event.occurred_at) - UNIT_HISTORY_DAYS * 86_400_000)
            units[event.unit_id] = history.to_json()

    @app.agent(bus.topic(catalogue.UNIT_STATUS), name="unit_status")
    async def unit_status(stream: Any) -> None:
        async for item in stream.events():
            await bus.handle_or_dead_letter(item.message, catalogue.UNIT_STATUS, "unit_status", record_unit_status)

    @app.timer(interval=settings.worker.timer_interval_s, name="handoff_deadlines")
    async def handoff_deadlines() -> None:
        holder.poll()
        now = clock.now()
        for agency, w in pending.waiting(now).items():
            metrics.CALLS_WAITING.labels(agency).set(w.count)
            metrics.OLDEST_WAITING.labels(agency).set(w.oldest_seconds)
        for timeout in pending.take_overdue(now):
            log.info("handoff %s to %s overdue; escalating", timeout.handoff_id, timeout.agency)
            await bus.send(catalogue.ESCALATIONS, timeout.call_id, timeout)
        for call_id, partition in expiry.take_expired(now):
            if call_id in calls:  # not already gone with a revoked partition
                calls.delete(call_id, partition)
                metrics.CALLS_EXPIRED.inc()
        metrics.CALLS_HELD.set(len(calls))

    @app.page("/calls/{call_id}")
    @app.table_route(table=calls, match_info="call_id")
    async def call_view(web: Any, request: Any, call_id: str) -> Any:
        timeline = calls.get(call_id)
        if timeline is None:
            return web.json({"error": f"unknown call {call_id}"}, status=404)
        return web.json(timeline.view(clock.now()))

    @app.page("/calls")
    async def calls_view(web: Any, request: Any) -> Any:
        status = request.query.get("status")
        now = clock.now()
        timelines = [t for t in list(calls.values()) if t is not None]
        if status:
            timelines = [t for t in timelines if t.status == status]
        if status == "waiting":
            timelines.sort(key=lambda t: t.pending.requested_at if t.pending else now)
        else:
            timelines.sort(key=lambda t: t.call.received_at if t.call else now)
        return web.json({"calls": [t.view(now) for t in timelines]})
