"""Faust agents of the bus; each module exposes ``register(bus, ...)``."""

from __future__ import annotations

from typing import Any


def register_all(bus: Any, **options: Any) -> None:
    """Register every agent on ``bus.app``."""
    from . import feedback, lifecycle

    lifecycle.register(bus, **options)
    feedback.register(bus, **options)
