"""PacedSend: the sender's paced loop in a thread for the time of a block (a stand-in sender, no broker)."""

import threading

import pytest

from bench.traffic import PacedSend


class _Sender:
    def __init__(self, result=None, error=None):
        self.result, self.error = result, error

    def paced(self, topic, records, rate, stop: threading.Event):
        if self.error is not None:
            raise self.error
        if self.result is None:  # runs until the block's end stops it
            stop.wait(30)
            return [float(i) for i, _ in enumerate(records)][:1]
        return self.result


def test_the_send_times_are_there_once_the_block_ends():
    with PacedSend(_Sender(result=[1.0, 2.0]), "t", [(b"a", b""), (b"b", b"")], 100.0) as sending:
        assert sending.done.wait(5)
    assert sending.sent == [1.0, 2.0]


def test_leaving_the_block_stops_a_sending_still_under_way():
    with PacedSend(_Sender(), "t", [(b"a", b""), (b"b", b"")], 1.0) as sending:
        assert not sending.done.wait(0.05)
    assert sending.done.is_set() and sending.sent == [0.0]


def test_what_the_sending_raised_is_raised_when_the_block_ends():
    with pytest.raises(RuntimeError, match="undelivered"):
        with PacedSend(_Sender(error=RuntimeError("2 undelivered")), "t", [], 1.0) as sending:
            assert sending.done.wait(5)
