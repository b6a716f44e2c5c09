"""The drain's rate window: outputs handed over in bursts must not look faster than the same work spread out."""

from __future__ import annotations

import pytest

from bench.traffic import WINDOW_OPENS_AFTER_S, Arrivals

RATE = 5_000.0  # outputs made per second
WORK_S = 2.0
POLL_S = 0.004  # the collector's polls while records keep coming
DELIVERY_S = 0.015  # from handing a record over to its arrival


def arrivals(burst_every_s: float | None) -> Arrivals:
    """A collector's view of outputs made steadily at RATE from t=0, handed over at once or in bursts."""
    made = [i / RATE for i in range(int(RATE * WORK_S))]
    if burst_every_s is None:
        handed = made
    else:  # held, then handed over when the next burst is due, and at the end
        handed = [min((int(t / burst_every_s) + 1) * burst_every_s, WORK_S) for t in made]
    arrive = sorted(t + DELIVERY_S for t in handed)
    got = Arrivals()
    i, now = 0, 0.0
    while i < len(arrive):
        now += POLL_S
        while i < len(arrive) and arrive[i] <= now:
            if got.first is None:
                got.first = now
            got.count += 1
            got.last = now
            i += 1
        got.poll_ended(now)
    return got


def naive_rate(got: Arrivals) -> float:
    assert got.first is not None and got.last is not None
    return (got.count - 1) / (got.last - got.first)


@pytest.mark.parametrize("burst_every_s", [None, 0.1, 0.25])
def test_the_rate_is_the_rate_of_the_work_whether_outputs_come_steadily_or_in_bursts(burst_every_s):
    got = arrivals(burst_every_s)
    counted, seconds, start = got.window()
    assert start == "open" and got.opened == pytest.approx(got.first + WINDOW_OPENS_AFTER_S, abs=POLL_S)
    assert counted / seconds == pytest.approx(RATE, rel=0.015)


def test_counting_from_the_first_arrival_would_have_flattered_bursts():
    """What the window fixes: the first burst's records were made before the first arrival."""
    assert naive_rate(arrivals(None)) == pytest.approx(RATE, rel=0.01)
    assert naive_rate(arrivals(0.1)) > RATE * 1.04


def test_a_run_too_short_to_open_the_window_counts_from_the_first_arrival():
    got = Arrivals()
    got.first, got.last, got.count = 1.0, 1.01, 11
    assert not got.poll_ended(1.01)
    assert got.window() == (10, pytest.approx(0.01), "first")
