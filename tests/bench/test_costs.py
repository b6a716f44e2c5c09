"""The in-process stage costs: every stage is timed, and the command line reports them."""

import json
import math
import subprocess
import sys

import pytest

from bench.costs import STAGES, CallCosts, measure


def test_every_stage_of_a_new_call_is_timed():
    costs = measure(40)
    assert costs.calls == 40
    for stage in STAGES:
        value = getattr(costs, stage)
        assert value > 0 and math.isfinite(value), stage
    assert costs.total == pytest.approx(sum(getattr(costs, stage) for stage in STAGES))
    assert set(costs.to_json()) == {"calls", *STAGES, "total"}


def test_the_command_prints_json_that_reads_back():
    done = subprocess.run([sys.executable, "-m", "bench.costs", "--calls", "20", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert CallCosts(figures["calls"], *(figures[s] for s in STAGES)).total == pytest.approx(figures["total"])


def test_the_command_refuses_a_count_below_one():
    done = subprocess.run([sys.executable, "-m", "bench.costs", "--calls", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--calls" in done.stderr
