"""Outcome feedback to call centers: the call-ended hook, the digest agent and the feedback views.

* When a call ends, the lifecycle agent runs :func:`Bus.on_call_ended`; the hook
  registered here builds the call's minimised ``OutcomeFeedback`` (a pure
  function of the timeline) and only produces it: on ``feedback.outcomes`` (every
  PSAP; the CAD's archive and the digests' input) and, for a PSAP listed in
  ``DISPATCHBUS_FEEDBACK__PSAPS``, on its own ``feedback.psap.<id>.outcomes``.
* The ``feedback_digests`` agent re-keys ``feedback.outcomes`` by PSAP (Faust
  ``group_by``), counts each feedback once into day and week windows of the
  changelogged ``feedback`` table (:mod:`dispatchbus.feedback.digest`) and produces
  the changed ``FeedbackDigest`` revisions on ``feedback.digests`` and the PSAP's own
  ``feedback.psap.<id>.digests``.
* ``GET /feedback/{psap_id}`` and ``GET /feedback`` read the table.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timezone
from typing import Any

from .. import catalogue, metrics
from ..contract.events import Event, OutcomeFeedback
from ..contract.serde import DecodeError
from ..feedback.builder import build_feedback
from ..feedback.digest import DigestBook

log = logging.getLogger(__name__)

UNLISTED = "unlisted"
"""Metrics label of PSAPs without their own feedback topics (bounded label values)."""


def register(bus: Any, **_: Any) -> None:
    """Register the call-ended hook, the digest agent and the feedback views on ``bus``."""
    app = bus.app
    settings = bus.settings.feedback
    own_topics = {
        psap: (catalogue.PSAP_FEEDBACK.spec(psap), catalogue.PSAP_DIGESTS.spec(psap)) for psap in settings.psap_ids
    }
    for outcomes, digests in own_topics.values():
        bus.topic(outcomes)
        bus.topic(digests)

    def label(psap_id: str) -> str:
        return psap_id if psap_id in own_topics else UNLISTED

    async def send_feedback(timeline: Any, event: Event) -> None:
        """Produce the ended call's feedback; never raises into the lifecycle agent."""
        try:
            feedback = build_feedback(timeline, event)
        except Exception as exc:  # a bug here must not stop call routing; no values in the log
            metrics.FEEDBACK_ERRORS.inc()
            log.error("feedback for call %s not built: %s", getattr(event, "call_id", "?"), type(exc).__name__)
            return
        if feedback is None:
            return
        await bus.send(catalogue.FEEDBACK, feedback.call_id, feedback)
        own = own_topics.get(feedback.psap_id)
        if own is not None:
            await bus.send(own[0], feedback.call_id, feedback)
        metrics.FEEDBACK_SENT.labels(label(feedback.psap_id)).inc()

    bus.call_ended_hooks.append(send_feedback)

    table = app.Table(
        "feedback", default=None, partitions=catalogue.CALL_PARTITIONS,
        help="Outcome digest windows and counted feedback ids, keyed <psap>|... (JSON).",
    )
    book = DigestBook(table, settings.timezone, settings.retention_days)
    wall_clock = bus.settings.worker.clock == "wall"
    serde = bus.serde

    def psap_key(value: bytes) -> bytes:
        """The re-keying key: the PSAP id, JSON-encoded as the table's keys are (so table_route agrees)."""
        try:
            psap = serde.decode(value).psap_id  # type: ignore[attr-defined]
        except (DecodeError, AttributeError):
            psap = ""  # dead-lettered after the re-keying
        return json.dumps(psap).encode()

    # Named under the app id, like the tables' changelogs, so the bus's internal-topic ACL covers it.
    by_psap = app.topic(
        f"{bus.settings.worker.app_id}-feedback-by-psap", key_type=bytes, value_type=bytes,
        key_serializer="raw", value_serializer="raw", partitions=catalogue.CALL_PARTITIONS, internal=True,
    )

    async def count_feedback(feedback: Any, message: Any) -> None:
        assert isinstance(feedback, OutcomeFeedback)
        applied = book.apply(feedback, datetime.now(timezone.utc) if wall_clock else None)
        psap = label(feedback.psap_id)
        if applied.status != "counted":
            metrics.FEEDBACK_DROPPED.labels(psap, applied.status).inc()
            return
        metrics.FEEDBACK_OUTCOMES.labels(
            psap, feedback.first_target or "unknown", feedback.outcome_category
        ).inc()
        own = own_topics.get(feedback.psap_id)
        if own is not None:
            for window, digest in applied.current.items():
                if digest.share_resolved_without_police is not None:
                    metrics.FEEDBACK_RESOLVED_WITHOUT_POLICE.labels(psap, window).set(
                        digest.share_resolved_without_police
                    )
                if digest.police_backup_rate is not None:
                    metrics.FEEDBACK_POLICE_BACKUP.labels(psap, window).set(digest.police_backup_rate)
                if digest.median_seconds_to_on_scene is not None:
                    metrics.FEEDBACK_MEDIAN_TO_ON_SCENE.labels(psap, window).set(
                        digest.median_seconds_to_on_scene
                    )
        for digest in applied.digests:
            await bus.send(catalogue.FEEDBACK_DIGESTS, digest.psap_id, digest)
            if own is not None:
                await bus.send(own[1], digest.psap_id, digest)

    @app.agent(bus.topic(catalogue.FEEDBACK), name="feedback_digests")
    async def feedback_digests(stream: Any) -> None:
        async for item in stream.group_by(psap_key, name="psap", topic=by_psap).events():
            await bus.deliver(item.message, catalogue.FEEDBACK, "feedback_digests", count_feedback)

    @app.page("/feedback/{psap_id}")
    @app.table_route(table=table, match_info="psap_id")
    async def psap_feedback(web: Any, request: Any, psap_id: str) -> Any:
        on = request.query.get("date")
        try:
            day = date.fromisoformat(on) if on else None
        except ValueError:
            return web.json({"error": "date must be YYYY-MM-DD"}, status=400)
        view = book.psap_view(psap_id, day)
        if view is None:
            return web.json({"error": f"no feedback for PSAP {psap_id}"}, status=404)
        return web.json(view)

    @app.page("/feedback")
    async def all_feedback(web: Any, request: Any) -> Any:
        return web.json({"timezone": settings.timezone, "digests": book.summaries()})
