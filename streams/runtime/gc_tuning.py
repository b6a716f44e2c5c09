"""Keep full garbage collections from stalling the worker as its tables grow.

With tens of thousands of calls in memory, every full (generation-2)
collection walks all of them, takes hundreds of milliseconds and frees almost
nothing, while every call arriving meanwhile waits (docs/benchmark.md,
"Garbage collection"). Freezing the survivors after each full collection moves
them out of the collector's sight; objects created later are still collected as
usual, and acyclic garbage (most of it: replaced table values) is freed by
reference counting whether frozen or not.

A frozen object is never examined again, so a reference cycle that was alive
when it was frozen and dropped later would never be freed: a worker running for
weeks would keep growing. So at most once every :data:`FULL_WALK_INTERVAL_S`
a full collection starts by unfreezing everything, walks it all once and frees
those cycles; the survivors are frozen again when it ends.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

FULL_WALK_INTERVAL_S = 600.0
"""Longest time between two full collections that walk every object, frozen ones included."""


class FreezeAfterFullCollection:
    """A ``gc.callbacks`` entry: freezes what survives each full collection, unfreezing first now and then."""

    def __init__(self, full_walk_interval_s: float = FULL_WALK_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.full_walk_interval_s = full_walk_interval_s
        self._clock = clock
        self._last_full_walk = clock()
        self.full_walks = 0
        """Full collections that started unfrozen (walked every object)."""

    def __call__(self, phase: str, info: dict) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            now = self._clock()
            if now - self._last_full_walk >= self.full_walk_interval_s:
                self._last_full_walk = now
                if gc.get_freeze_count():
                    gc.unfreeze()  # back into the oldest generation, which this collection is about to walk
                    self.full_walks += 1
        elif phase == "stop":
            gc.freeze()


def installed() -> FreezeAfterFullCollection | None:
    """The callback :func:`install` added, if any."""
    return next((cb for cb in gc.callbacks if isinstance(cb, FreezeAfterFullCollection)), None)


def install(full_walk_interval_s: float = FULL_WALK_INTERVAL_S,
            clock: Callable[[], float] = time.monotonic) -> FreezeAfterFullCollection:
    """Freeze what survives each full collection; one walks everything again every ``full_walk_interval_s``.

    Idempotent: a second call returns the callback already installed.
    """
    callback = installed()
    if callback is None:
        callback = FreezeAfterFullCollection(full_walk_interval_s, clock)
        gc.callbacks.append(callback)
    return callback
