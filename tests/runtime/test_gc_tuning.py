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
