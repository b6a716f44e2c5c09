"""A small, bounded quantile sketch for response times (median, p90).

Values go into logarithmic buckets: bucket ``i`` holds (γ^(i-1), γ^i] with
γ = (1 + a) / (1 - a), and is reported as 2γ^i / (γ + 1), which is within a
relative error ``a`` (:data:`RELATIVE_ACCURACY`, 2 %) of every value in it. Values
up to 1 s share bucket 0 and values above a day the last bucket, so a sketch
never holds more than :data:`MAX_BUCKETS` counters however many calls it sees;
the exact minimum and maximum bound every estimate (a single value is exact).
Quantiles use the nearest rank (the median of two values is the lower one).

The JSON form (a table value) is ``{"n": int, "min": s, "max": s, "b": {"i": count}}``.
"""

from __future__ import annotations

import math
from typing import Any

RELATIVE_ACCURACY = 0.02
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
MAX_SECONDS = 86_400.0
MAX_INDEX = math.ceil(math.log(MAX_SECONDS) / math.log(GAMMA))
MAX_BUCKETS = MAX_INDEX + 1


def bucket_of(seconds: float) -> int:
    """The bucket index of a value in seconds."""
    if seconds <= 1.0:
        return 0
    return min(MAX_INDEX, math.ceil(math.log(seconds) / math.log(GAMMA) - 1e-12))


def bucket_value(index: int) -> float:
    """The value a bucket reports."""
    if index <= 0:
        return 1.0
    return 2 * GAMMA**index / (GAMMA + 1)


def empty() -> dict[str, Any]:
    return {"n": 0, "min": None, "max": None, "b": {}}


def add(sketch: dict[str, Any], seconds: float) -> None:
    """Count one value (in place)."""
    seconds = max(0.0, float(seconds))
    key = str(bucket_of(seconds))
    sketch["b"][key] = sketch["b"].get(key, 0) + 1
    sketch["n"] += 1
    sketch["min"] = seconds if sketch["min"] is None else min(sketch["min"], seconds)
    sketch["max"] = seconds if sketch["max"] is None else max(sketch["max"], seconds)


def of(values: list[float]) -> dict[str, Any]:
    """A sketch of ``values`` (tests and tools)."""
    sketch = empty()
    for v in values:
        add(sketch, v)
    return sketch


def quantile(sketch: dict[str, Any], q: float) -> float | None:
    """The nearest-rank ``q`` quantile within 2 % (None when empty), rounded to 0.1 s."""
    n = sketch["n"]
    if not n:
        return None
    rank = max(1, math.ceil(q * n - 1e-9))
    seen = 0
    for index in sorted(int(i) for i in sketch["b"]):
        seen += sketch["b"][str(index)]
        if seen >= rank:
            value = min(max(bucket_value(index), sketch["min"]), sketch["max"])
            return round(value, 1)
    return round(sketch["max"], 1)  # unreachable when counts add up
