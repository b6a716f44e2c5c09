"""Run the Faust worker in this process."""

from __future__ import annotations

from typing import Any

import faust

from .runtime import gc_tuning
from .kafka.admin import check_copartitioned, create_topics
from .app import create_app
from .settings import Settings


def internal_topics(app: Any) -> dict[str, int]:
    """The topics Faust declares for ``app`` (tables' changelogs, internal re-keying topics) and their partitions."""
    default = app.conf.topic_partitions
    found: dict[str, int] = {}
    for table in app.tables.values():
        found[table.changelog_topic.get_topic_name()] = table.partitions or default
    for agent in app.agents.values():
        channel = agent.channel
        if getattr(channel, "internal", False):
            for name in channel.topics:
                found[name] = channel.partitions or default
    return found


def run_worker(settings: Settings) -> int:
    """Create the catalogue's topics, check their layout, then run the worker until SIGINT/SIGTERM.

    Raises :class:`dispatchbus.kafka.admin.TopicLayoutError` (before any record is read) when a
    co-partitioned topic has another partition count than the catalogue's.
    """
    create_topics(settings)
    if settings.worker.gc_freeze:
        gc_tuning.install()
    bus = create_app(settings)
    check_copartitioned(settings, internal_topics(bus.app))
    worker = faust.Worker(bus.app, loglevel=settings.worker.log_level.upper(), quiet=True)
    worker.execute_from_commandline()
    return 0
