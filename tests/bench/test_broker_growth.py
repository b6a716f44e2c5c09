"""The broker-growth probe: its windows (pure), and a short run on the session broker (never a speed)."""

import math

import pytest

from bench.broker_growth import Phase, Window, close_marks, main, windows_of


def test_arrivals_are_cut_into_the_windows_between_cpu_marks():
    start = 100.0
    marks = [(100.0, 10.0), (101.0, 10.5), (102.0, 11.5)]
    # Two arrivals in the first second (5 and 7 ms), three in the next (20, 30, 40 ms), one after the end.
    arrivals = [(100.1, 0.005), (100.9, 0.007), (101.0, 0.020), (101.5, 0.030), (101.9, 0.040), (102.5, 1.0)]
    first, second = windows_of(arrivals, marks, start)
    assert (first.end_s, first.received, first.p50_ms, first.p99_ms) == (1.0, 2, 5.0, 7.0)
    assert first.broker_percent == pytest.approx(50.0)
    assert (second.end_s, second.received, second.p50_ms, second.p99_ms) == (2.0, 3, 30.0, 40.0)
    assert second.broker_percent == pytest.approx(100.0)


def test_the_end_of_the_sending_closes_the_last_window_or_extends_it():
    marks = [(0.0, 1.0), (5.0, 2.0), (10.0, 3.0)]
    close_marks(marks, (10.02, 3.1), 5.0)  # the flush's few milliseconds join the window before
    assert marks == [(0.0, 1.0), (5.0, 2.0), (10.02, 3.1)]
    close_marks(marks, (13.0, 4.0), 5.0)  # more than half a window: a window of its own
    assert marks == [(0.0, 1.0), (5.0, 2.0), (10.02, 3.1), (13.0, 4.0)]
    first = [(0.0, 1.0)]
    close_marks(first, (0.01, 1.0), 5.0)  # the only window is never merged away
    assert first == [(0.0, 1.0), (0.01, 1.0)]


def test_growth_compares_the_last_window_that_received_with_the_first():
    def window(p50: float, received: int = 10) -> Window:
        return Window(0.0, received, p50, p50, math.nan)

    assert Phase(0, [window(2.0), window(5.0), window(8.0), window(math.nan, 0)], 30, 30).growth() == 4.0
    assert math.isnan(Phase(0, [window(2.0)], 10, 10).growth())


@pytest.mark.broker
def test_a_short_run_reports_both_phases(broker, capsys):
    assert main(["--bootstrap", broker.bootstrap_servers, "--broker-pid", str(broker.pid),
                 "--rate", "200", "--seconds", "1.5", "--window", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "200 records/s, one batch per record: 300 sent, 300 received" in out
    assert "200 records/s, batched by a 50 ms linger: 300 sent, 300 received" in out
    growth = dict(line.split()[1:4:2] for line in out.splitlines() if line.strip().startswith("linger "))
    assert set(growth) == {"0", "50"}
    assert all(not math.isnan(float(v)) for v in growth.values())
