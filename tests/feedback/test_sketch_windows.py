"""The response-time sketch and the day/week windows."""

from __future__ import annotations

import json
import math
import random
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from dispatchbus.feedback import sketch
from dispatchbus.feedback.windows import window_of, window_on

NY = ZoneInfo("America/New_York")


def exact(values, q):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_empty_and_single_values():
    assert sketch.quantile(sketch.empty(), 0.5) is None
    assert sketch.quantile(sketch.of([660]), 0.5) == 660.0
    assert sketch.quantile(sketch.of([660]), 0.9) == 660.0
    assert sketch.quantile(sketch.of([0.4]), 0.5) == 0.4


def test_nearest_rank_median_and_p90_within_two_percent():
    s = sketch.of([600, 900])
    assert sketch.quantile(s, 0.5) == pytest.approx(600, rel=0.02)
    assert sketch.quantile(s, 0.9) == pytest.approx(900, rel=0.02)
    assert sketch.quantile(s, 0.5) >= 600 and sketch.quantile(s, 0.9) <= 900  # clamped to the exact range


@pytest.mark.parametrize("seed", range(5))
def test_relative_accuracy_on_skewed_response_times(seed):
    rng = random.Random(seed)
    values = [rng.lognormvariate(math.log(600), 0.6) for _ in range(rng.randint(1, 3000))]
    s = sketch.of(values)
    for q in (0.5, 0.9, 0.99):
        assert sketch.quantile(s, q) == pytest.approx(exact(values, q), rel=0.021, abs=0.05)


def test_bounded_size_whatever_the_values():
    rng = random.Random(1)
    s = sketch.of([rng.uniform(0, 200_000) for _ in range(50_000)])
    assert len(s["b"]) <= sketch.MAX_BUCKETS <= 300
    assert len(json.dumps(s)) < 6000
    assert sketch.quantile(s, 1.0) <= 200_000 and s["n"] == 50_000


def test_day_window_is_the_local_calendar_day():
    w = window_of("day", datetime(2026, 5, 4, 3, 0, tzinfo=timezone.utc), NY)  # 23:00 on May 3 in New York
    assert w.first_day == date(2026, 5, 3)
    assert (w.start, w.end) == (datetime(2026, 5, 3, 4, tzinfo=timezone.utc), datetime(2026, 5, 4, 4, tzinfo=timezone.utc))


def test_week_window_starts_on_monday():
    w = window_of("week", datetime(2026, 5, 7, 15, tzinfo=timezone.utc), NY)  # a Thursday
    assert w.first_day == date(2026, 5, 4) and w.first_day.weekday() == 0
    assert (w.end - w.start).days == 7
    assert window_on("week", date(2026, 5, 10), NY) == w  # the Sunday is still that week


def test_dst_change_days_are_23_and_25_hours():
    spring = window_on("day", date(2026, 3, 8), NY)
    autumn = window_on("day", date(2026, 11, 1), NY)
    assert (spring.end - spring.start).total_seconds() == 23 * 3600
    assert (autumn.end - autumn.start).total_seconds() == 25 * 3600
