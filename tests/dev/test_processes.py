"""Children of dispatchbus processes die with their parent, even one that died while they started."""

import subprocess
import sys

import pytest

from dispatchbus.dev.processes import child_preexec

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")


def test_a_child_of_a_living_parent_runs():
    done = subprocess.run([sys.executable, "-c", "print('ran')"], preexec_fn=child_preexec(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ran"


def test_a_child_whose_parent_is_already_gone_exits_before_running():
    # The child believes its parent was pid 1; its actual parent is this test, so to it the
    # parent it was started for has died: it must exit instead of running on as an orphan.
    code = "from dispatchbus.dev.processes import _die_with_parent; _die_with_parent(1); print('ran as an orphan')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "ran as an orphan" not in done.stdout
