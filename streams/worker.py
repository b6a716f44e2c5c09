"""Run the Faust worker in this process."""

from __future__ import annotations

import faust

from .runtime import gc_tuning
from .kafka.admin import create_topics
from .app import create_app
from .settings import Settings


def run_worker(settings: Settings) -> int:
    """Create the catalogue's topics, then run the worker until SIGINT/SIGTERM."""
    create_topics(settings)
    if settings.worker.gc_freeze:
        gc_tuning.install()
    bus = create_app(settings)
    worker = faust.Worker(bus.app, loglevel=settings.worker.log_level.upper(), quiet=True)
    worker.execute_from_commandline()
    return 0
