"""The interpreter lock's switch interval, longer while the worker's thread works through a large batch.

The worker's Kafka consumer runs in a thread of its own and polls every
partition it is assigned (38 for a worker) each time its fetch wait ends.
Each poll needs the interpreter lock. At CPython's switch interval (5 ms) the
consumer takes the lock from the worker's thread about every 5 ms, mid-batch,
to poll partitions whose records the worker could not take before it finishes
the batch anyway. While a fetched batch is large (the worker is behind), the
interval is longer; once batches are small again (the worker keeps up, and a
record's latency matters), CPython's interval comes back. Measured in
docs/benchmark.md, "The interpreter lock's switch interval".

The fetched batch's size also decides when the worker's outbox holds its
outputs (``HOLD_BATCH_RECORDS``; :meth:`dispatchbus.runtime.output_producer.Outbox.hold`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sized
from typing import Any

BUSY_BATCH_RECORDS = 100
"""A fetched batch at least this large means the worker is behind (~20 ms of work for new calls)."""

HOLD_BATCH_RECORDS = 1000
"""A fetched batch at least this large has the outbox hold the worker's outputs (``busy_output_hold_s``).

About 0.2 s of work for new calls: the worker is far behind, and a record
waits longer than a hold for its turn anyway. At 1 000 calls/s on a slow
stretch of the development VM batches of 100 were common, and holding them
raised the p99 (docs/benchmark.md, "Outputs in bursts while far behind")."""

IDLE_SWITCH_INTERVAL_S = 0.005
"""CPython's default switch interval."""


class LockSwitch:
    """Sets ``sys.setswitchinterval`` after each fetch from the size of the batch fetched."""

    def __init__(self, busy_s: float, idle_s: float = IDLE_SWITCH_INTERVAL_S) -> None:
        self.busy_s = busy_s
        self.idle_s = idle_s
        self._current: float | None = None
        self.fetched = 0
        """How many records the last fetch returned."""

    def after_fetch(self, records: Mapping[Any, Sized] | None) -> float:
        """Choose the interval for handling ``records`` (partition -> its records); returns it."""
        count = self.fetched = sum(len(batch) for batch in records.values()) if records else 0
        interval = self.busy_s if count >= BUSY_BATCH_RECORDS else self.idle_s
        if interval != self._current:
            sys.setswitchinterval(interval)
            self._current = interval
        return interval
