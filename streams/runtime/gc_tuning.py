"""Keep full garbage collections from stalling the worker as its tables grow.

With tens of thousands of calls in memory, every full (generation-2)
collection walks all of them, takes hundreds of milliseconds and frees almost
nothing, while every call arriving meanwhile waits (see docs/benchmark.md).
Freezing the survivors after each full collection moves them out of the
collector's sight; objects created later are still collected as usual, and
acyclic garbage (most of it: replaced table values) is freed by reference
counting whether frozen or not.
"""

from __future__ import annotations

import gc


def _freeze_after_full_collection(phase: str, info: dict) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def install() -> None:
    """Freeze what survives each full collection (idempotent)."""
    if _freeze_after_full_collection not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full_collection)
