import sys

import pytest

from dispatchbus.runtime.lock_switch import BUSY_BATCH_RECORDS, IDLE_SWITCH_INTERVAL_S, LockSwitch


pytestmark = pytest.mark.usefixtures("restore_switch_interval")


def batch(*sizes):
    return {f"tp{i}": [object()] * n for i, n in enumerate(sizes)}


def test_a_large_batch_gets_the_busy_interval_and_a_small_one_cpythons_default():
    switch = LockSwitch(0.04)
    steps = [batch(BUSY_BATCH_RECORDS - 40, 40), batch(BUSY_BATCH_RECORDS - 1), {}, None, batch(3)]
    chosen = []
    for records in steps:
        chosen.append(switch.after_fetch(records))
        assert sys.getswitchinterval() == pytest.approx(chosen[-1], abs=1e-6)
    assert chosen == [0.04, IDLE_SWITCH_INTERVAL_S, IDLE_SWITCH_INTERVAL_S, IDLE_SWITCH_INTERVAL_S, IDLE_SWITCH_INTERVAL_S]


def test_the_interval_is_set_only_when_it_changes(monkeypatch):
    calls = []
    monkeypatch.setattr(sys, "setswitchinterval", calls.append)
    switch = LockSwitch(0.04)
    for records in (batch(500), batch(300), batch(2), batch(1), batch(200)):
        switch.after_fetch(records)
    assert calls == [0.04, IDLE_SWITCH_INTERVAL_S, 0.04]
