"""CPU accounting of the benchmark's processes."""

import math
import os
import time

from dispatchbus.bench.measure import Cpu, percentile


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
