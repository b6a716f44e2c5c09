"""CPU accounting of the benchmark's processes, and the statistics of its figures."""

import math
import os
import random
import time

import pytest

from bench.measure import Cpu, median_interval, percentile


def test_cpu_of_no_process_is_not_a_number():
    assert math.isnan(Cpu(None).seconds())
    assert math.isnan(Cpu(None).percent_over(0.1))


def test_cpu_of_a_process_grows_with_its_work():
    cpu = Cpu(os.getpid())
    before, start = cpu.seconds(), time.process_time()
    while time.process_time() - start < 0.2:  # busy until this process has used 0.2 s of CPU
        sum(range(1000))
    assert cpu.seconds() - before >= 0.1


def test_a_zero_window_measures_nothing():
    assert math.isnan(Cpu(os.getpid()).percent_over(0))


def test_percentile_is_nearest_rank():
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile([5, 1, 3, 2, 4], 99) == 5
    assert math.isnan(percentile([], 50))


def test_median_interval_takes_the_order_statistics_that_cover_95_percent():
    # n = 12: P(Binomial(12, 1/2) <= 2) = 79/4096, so the 3rd smallest and the 3rd largest cover 96.1 %.
    low, high, coverage = median_interval([12, 1, 11, 2, 10, 3, 9, 4, 8, 5, 7, 6])
    assert (low, high) == (3, 10)
    assert coverage == pytest.approx(1 - 2 * 79 / 4096)
    # n = 20: the 6th smallest and the 6th largest (95.9 %); the 7th would cover only 88.5 %.
    low, high, coverage = median_interval(range(1, 21))
    assert (low, high) == (6, 15)
    assert coverage == pytest.approx(0.9586, abs=1e-4)


def test_median_interval_of_six_values_is_their_range_and_of_five_there_is_none():
    assert median_interval([0.9, 0.7, 1.1, 0.8, 0.6, 1.0])[:2] == (0.6, 1.1)
    assert median_interval([0.9, 0.7, 1.1, 0.8, 0.6]) is None
    assert median_interval([0.9, math.nan, 0.7, 1.1, 0.8, 0.6]) is None  # a NaN is no measurement


def test_median_interval_covers_the_true_median_about_as_often_as_it_says():
    rng = random.Random(5)
    trials, covered = 4000, 0
    for _ in range(trials):
        sample = [rng.expovariate(1.0) for _ in range(12)]  # skewed on purpose; true median ln 2
        low, high, _ = median_interval(sample)
        covered += low <= math.log(2) <= high
    assert 0.945 <= covered / trials <= 0.975  # 96.1 % claimed
