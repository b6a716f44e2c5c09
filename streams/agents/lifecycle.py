"""The call-lifecycle agent: routes calls, tracks handoffs, escalates the unanswered ones.

The call path is :class:`CallLifecycle`: one decoded call event in (from
:meth:`dispatchbus.app.Bus.deliver`), the call's timeline moved on by the pure
transition (:func:`dispatchbus.lifecycle.transitions.apply`), its outputs sent.
Its deadline timer (:meth:`CallLifecycle.check_deadlines`) escalates unanswered
handoffs and deletes ended calls after their retention.

:func:`register` wires it into Faust: one agent subscribes to every call-keyed
input topic (co-partitioned by call_id), whose records are handled straight
from the fetch loop (``runtime.driver.App.deliver_directly``). Each call's
timeline lives in one changelogged table partition, until the timer deletes it
a retention period after the call ended. Unit statuses feed a global table that
every worker holds in full.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from faust.types import Message

from .. import catalogue, metrics, web_access
from ..catalogue import TopicSpec
from ..contract import events as ev
from ..lifecycle.expiry import ExpiryIndex
from ..lifecycle.timeline import Timeline
from ..lifecycle.timers import PendingIndex
from ..lifecycle.transitions import HANDLED_TYPES, REJECTIONS, Context, Effects, apply
from ..policy.availability import UnitHistory, to_epoch_ms
from ..policy.reasons import primary_reason_code
from ..policy.reload import PolicyHolder
from ..runtime.tables import TIMELINE_CODEC, OutboxTable, outbox_table

log = logging.getLogger(__name__)

INPUTS = (catalogue.CAD_CALLS, catalogue.HANDOFF_REPLIES, catalogue.RESPONDER_ACTIVITY, catalogue.ESCALATIONS)

UNIT_HISTORY_DAYS = 7

_decisions = metrics.Children(metrics.DECISIONS)
_hop_latency = metrics.Children(metrics.HOP_LATENCY)
_declines = metrics.Children(metrics.HANDOFF_DECLINES)
_timeouts = metrics.Children(metrics.HANDOFF_TIMEOUTS)
_resolved_by_phone = metrics.Children(metrics.RESOLVED_BY_PHONE)
_rejected = metrics.Children(metrics.EVENTS_REJECTED)
_withdrawn = metrics.Children(metrics.HANDOFFS_WITHDRAWN)
for _labels in REJECTIONS:  # every series exists from the start, so the first refusal shows in rate()
    _rejected(*_labels)


class TableUnits:
    """Unit-status lookups over the global ``units`` table (unit_id -> [[epoch_ms, status], ...])."""

    def __init__(self, table: Any) -> None:
        self._table = table
        # unit_id -> (table value, its UnitHistory), used while the table holds that very value.
        self._parsed: dict[str, tuple[Any, UnitHistory]] = {}

    def _history(self, unit_id: str) -> UnitHistory | None:
        # The store itself, as OutboxTable.peek: Faust's get adds a monitor hook per read, and an
        # eligible call reads every unit of every team in service.
        data = self._table.data.get(unit_id)
        if not data:
            return None
        hit = self._parsed.get(unit_id)
        if hit is None or hit[0] is not data:
            hit = self._parsed[unit_id] = (data, UnitHistory.from_json(data))
        return hit[1]

    def status_at(self, unit_id: str, epoch_ms: int) -> str | None:
        history = self._history(unit_id)
        return history.status_at(epoch_ms) if history is not None else None

    def latest_at(self, unit_id: str, epoch_ms: int) -> tuple[int, str] | None:
        history = self._history(unit_id)
        return history.latest_at(epoch_ms) if history is not None else None


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
    for event_type, reason in fx.rejected:
        _rejected(event_type, reason).inc()
    for notice in fx.withdrawals:
        _withdrawn(notice.agency, notice.reason).inc()


class Outputs(Protocol):
    """Where the lifecycle's outputs go: the :class:`dispatchbus.app.Bus` in the worker."""

    async def send(self, spec: TopicSpec, key: str, event: ev.Event) -> None:
        """Queue ``event`` for a catalogue topic."""

    async def on_call_ended(self, timeline: Timeline, event: ev.Event) -> None:
        """Run the hooks of an ended call (feedback to its call center)."""


class CallLifecycle:
    """The call path: moves a call on with each of its events, and escalates the handoffs nobody answers.

    Collaborators: ``calls`` (the timelines by call_id, written with their
    partition), ``units`` (unit statuses for routing), ``policy`` (the policy in
    force, reloaded by the timer), ``pending`` and ``expiry`` (indexes of the
    waiting handoffs and of the ended calls), ``clock`` (``now`` for deadlines)
    and ``outputs``.
    """

    CONSUMER = "call_lifecycle"
    """The consumer named in the dead letters of the call events."""

    def __init__(
        self,
        *,
        calls: OutboxTable,
        units: TableUnits,
        policy: PolicyHolder,
        pending: PendingIndex,
        expiry: ExpiryIndex,
        clock: BusClock,
        outputs: Outputs,
    ) -> None:
        self.calls = calls
        self.units = units
        self.policy = policy
        self.pending = pending
        self.expiry = expiry
        self.clock = clock
        self.outputs = outputs
        self._context = Context(policy.current, units)

    def context(self) -> Context:
        """What the transitions read: the policy in force (a new context once it was reloaded), the units and,
        live, the wall clock (deadlines count from the moment of sending; the clock rules apply)."""
        policy = self.policy.current
        if self._context.policy is not policy:
            self._context = Context(policy, self.units)
        if self.clock.mode == "wall":
            return Context(policy, self.units, datetime.now(timezone.utc))
        return self._context

    async def handle(self, event: ev.Event, message: Message) -> None:
        """Apply ``event`` to its call's timeline, store the new timeline and send what the transition produced."""
        if not isinstance(event, HANDLED_TYPES):  # a type this agent ignores
            return
        ctx = self.context()
        new, fx = apply(self.calls.peek(event.call_id), event, ctx)
        if fx.duplicate and not fx.resend:
            return
        if not fx.duplicate:  # a resend (redelivered last event) only sends again
            self._store(event, new, fx, message.partition, ctx.policy.model)
        await self._send(event, new, fx)

    def _store(self, event: Any, new: Timeline, fx: Effects, partition: int, model: str) -> None:
        """Keep the new timeline (table and indexes) and count what the transition did."""
        self.clock.observe(event.event_time)
        # apply() never changes the timeline it is given, so the stored object is never mutated.
        self.calls.put(event.call_id, new, partition)
        self.pending.update(new)
        self.expiry.update(new, partition, self.clock.now())
        if isinstance(event, ev.CallReceived) and fx.decisions and self.clock.mode == "wall":
            # The only hop measured on the wall clock: how long the bus took to decide.
            waited = (datetime.now(timezone.utc) - event.received_at).total_seconds()
            d = fx.decisions[0]
            _hop_latency(model, d.target, d.team or "", "received_to_decided").observe(max(0.0, waited))
        record_effects(fx, model)

    async def _send(self, event: Any, new: Timeline, fx: Effects) -> None:
        """Send the transition's decisions, handoff requests, stand-downs and updates; run the ended call's hooks."""
        for decision in fx.decisions:
            await self.outputs.send(catalogue.DECISIONS, decision.call_id, decision)
        for request in fx.handoffs:
            await self.outputs.send(catalogue.HANDOFF_TOPICS[request.agency], request.call_id, request)
        for notice in (*fx.withdrawals, *fx.updates):
            await self.outputs.send(catalogue.HANDOFF_TOPICS[notice.agency], notice.call_id, notice)
        if fx.ended:
            await self.outputs.on_call_ended(new, event)

    async def check_deadlines(self) -> None:
        """The timer's tick: reload a changed policy, escalate overdue handoffs, delete expired calls."""
        self.policy.poll()
        now = self.clock.now()
        for agency, w in self.pending.waiting(now).items():
            metrics.CALLS_WAITING.labels(agency).set(w.count)
            metrics.OLDEST_WAITING.labels(agency).set(w.oldest_seconds)
        for timeout in self.pending.take_overdue(now):
            log.info("handoff %s to %s overdue; escalating", timeout.handoff_id, timeout.agency)
            await self.outputs.send(catalogue.ESCALATIONS, timeout.call_id, timeout)
        for call_id, partition in self.expiry.take_expired(now):
            if call_id in self.calls:  # not already gone with a revoked partition
                self.calls.delete(call_id, partition)
                metrics.CALLS_EXPIRED.inc()
        metrics.CALLS_HELD.set(len(self.calls))

    async def recovered(self) -> None:
        """Rebuild the indexes from the table: recovery (start-up, rebalance) changes it behind the handler's back."""
        held = list(self.calls.values())
        self.pending.rebuild(held)
        self.expiry.rebuild(held, self.clock.now())


def register(bus: Any, **_: Any) -> CallLifecycle:
    """Register the lifecycle and unit agents, the deadline timer and the call views; returns the call path."""
    app = bus.app
    settings = bus.settings
    holder = PolicyHolder(settings.worker.policy_file, settings.worker.policy_model)
    calls = outbox_table(
        app, "calls", default=None, partitions=catalogue.CALL_PARTITIONS, value_serializer=TIMELINE_CODEC,
        help="Call timelines by call_id.",
    )
    units = app.GlobalTable(
        "units", default=None, partitions=catalogue.UNIT_STATUS.partitions,
        help="Unit status histories by unit_id.",
    )
    bus.policy, bus.calls_table, bus.units_table = holder, calls, units
    lifecycle = CallLifecycle(
        calls=calls,
        units=TableUnits(units),
        policy=holder,
        pending=PendingIndex(catalogue.HANDOFF_TOPICS),
        expiry=ExpiryIndex(timedelta(seconds=settings.worker.ended_retention_s), catalogue.CALL_PARTITIONS),
        clock=BusClock(settings.worker.clock),
        outputs=bus,
    )
    calls.on_recover(lifecycle.recovered)
    clock = lifecycle.clock

    by_topic = {spec.full_name(settings.topics): spec for spec in INPUTS}
    source = app.topic(*by_topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    async def handle_call_event(message: Any) -> None:
        await bus.deliver(message, by_topic[message.topic], CallLifecycle.CONSUMER, lifecycle.handle)

    # Faust's per-record path (channel, event, stream, a task switch) cost 10-15 % of a call's CPU
    # (docs/benchmark.md, "Call events skip Faust's stream").
    app.deliver_directly(by_topic, handle_call_event)

    @app.agent(source, name=CallLifecycle.CONSUMER)
    async def call_lifecycle(stream: Any) -> None:
        # Subscribes the worker to the inputs; their records go to handle_call_event directly.
        async for item in stream.events():
            await handle_call_event(item.message)

    async def record_unit_status(event: Any, message: Any) -> None:
        history = UnitHistory.from_json(units.get(event.unit_id) or [])
        if history.record(to_epoch_ms(event.occurred_at), event.status):
            history.prune(to_epoch_ms(event.occurred_at) - UNIT_HISTORY_DAYS * 86_400_000)
            units[event.unit_id] = history.to_json()

    @app.agent(bus.topic(catalogue.UNIT_STATUS), name="unit_status")
    async def unit_status(stream: Any) -> None:
        async for item in stream.events():
            await bus.deliver(item.message, catalogue.UNIT_STATUS, "unit_status", record_unit_status)

    @app.timer(interval=settings.worker.timer_interval_s, name="handoff_deadlines")
    async def handoff_deadlines() -> None:
        await lifecycle.check_deadlines()

    @app.page("/calls/{call_id}")
    @app.table_route(table=calls, match_info="call_id")
    async def call_view(web: Any, request: Any, call_id: str) -> Any:
        timeline = calls.get(call_id)
        if timeline is None:
            return web.json({"error": f"unknown call {call_id}"}, status=404)
        return web.json(timeline.view(clock.now()))

    @app.page("/calls")
    async def calls_view(web: Any, request: Any) -> Any:
        """One page of calls, oldest first: ``limit`` (at most web_access.MAX_PAGE), ``cursor`` from ``next``."""
        try:
            limit, after = web_access.page_request(request.query)
        except web_access.PageError as exc:
            return web.json({"error": str(exc)}, status=400)
        status = request.query.get("status")
        timelines = (t for t in calls.values() if t is not None and (not status or t.status == status))
        since = (lambda t: t.pending.requested_at if t.pending else None) if status == "waiting" else (
            lambda t: t.call.received_at if t.call else None)

        def key(t: Timeline) -> tuple:
            at = since(t)
            return (0, at.timestamp(), t.call_id) if at is not None else (1, 0.0, t.call_id)

        try:
            chosen, cursor = web_access.one_page(timelines, key, limit, after)
        except web_access.PageError as exc:
            return web.json({"error": str(exc)}, status=400)
        now = clock.now()
        return web.json({"calls": [t.view(now) for t in chosen], "next": cursor})

    return lifecycle
