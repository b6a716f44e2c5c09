import subprocess
import sys

PROGRAM = """
import gc
from dispatchbus.runtime import gc_tuning
assert gc.get_freeze_count() == 0
gc_tuning.install(); gc_tuning.install()
survivors = [[i] for i in range(1000)]
gc.collect(1)
assert gc.get_freeze_count() == 0, "young collections freeze nothing"
gc.collect()
frozen = gc.get_freeze_count()
assert frozen >= 1000, frozen
a = []; a.append(a); del a  # a cycle created after the freeze is still collected
assert gc.collect() >= 1
print("ok", len(gc.callbacks))
"""


def test_survivors_of_full_collections_are_frozen_and_new_cycles_still_collected():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok", "1"]


LONG_RUN = """
import gc, sys
from dispatchbus.runtime import gc_tuning


class Marker:
    live = 0

    def __init__(self):
        Marker.live += 1
        self.me = self  # a reference cycle: only the collector frees it

    def __del__(self):
        Marker.live -= 1


now = [0.0]  # simulated seconds: one per round
walk_every = float(sys.argv[1])
gc_tuning.install(full_walk_interval_s=walk_every, clock=lambda: now[0])
live = []
for second in range(120):
    held = [Marker() for _ in range(500)]  # alive through a full collection, so frozen with the survivors
    gc.collect()
    del held  # then dropped: garbage in reference cycles
    now[0] += 1.0
    gc.collect()
    live.append(Marker.live)
print(" ".join(map(str, live)))
"""


def _live_markers(walk_every_s: float) -> list[int]:
    """Live cycles after each simulated second of a worker that makes cycles, keeps them through a freeze, drops them."""
    out = subprocess.run([sys.executable, "-c", LONG_RUN, str(walk_every_s)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return [int(n) for n in out.stdout.split()]


def test_cycles_dropped_after_a_freeze_are_freed_so_memory_stays_flat_over_a_long_run():
    live = _live_markers(10.0)
    first, last = live[:30], live[-30:]
    assert max(last) <= max(first), f"live cycles grow: {first[-1]} after 30 s, {last[-1]} after 120 s"
    assert max(live) <= 11 * 500


def test_without_the_periodic_full_walk_the_same_run_grows_for_ever():
    """What the worker did before: every frozen cycle stayed, 500 more each simulated second."""
    live = _live_markers(float("inf"))
    assert live[-1] >= 120 * 500 and live == sorted(live)
