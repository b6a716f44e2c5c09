"""The private Faust (and aiokafka) methods the driver overrides or calls still exist, with the same signatures.

``dispatchbus.runtime.driver`` was written against faust-streaming 0.15.3 and
aiokafka 0.14; ``pyproject.toml`` pins faust-streaming to 0.15.x. A release
that renames, removes or changes one of these methods would otherwise fail
only at run time (a rebalance, a shutdown). Parameters are compared by name,
kind and default, and sync against async, not by their annotations' text.
"""

from __future__ import annotations

import inspect

import aiokafka
import faust
import pytest
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from dispatchbus.runtime import driver

P = inspect.Parameter
SELF = ("self", P.POSITIONAL_OR_KEYWORD, P.empty)


def arg(name: str, default=P.empty) -> tuple:
    return (name, P.POSITIONAL_OR_KEYWORD, default)


ConsumerThread = faust_aiokafka.AIOKafkaConsumerThread
Consumer = faust_aiokafka.Consumer
Producer = faust_aiokafka.Producer

# (class, method, is async, parameters) as in faust-streaming 0.15.3.
OVERRIDDEN = [
    (ConsumerThread, "_create_worker_consumer", False, [SELF, arg("transport")]),
    (ConsumerThread, "seek", False, [SELF, arg("partition"), arg("offset")]),
    (ConsumerThread, "_highwaters", True, [SELF, arg("partitions")]),
    (Consumer, "_new_consumer_thread", False, [SELF]),
    (Consumer, "_wait_next_records", True, [SELF, arg("timeout")]),
    (Consumer, "perform_seek", True, [SELF]),
    (Consumer, "_drain_messages", True, [SELF, arg("fetcher")]),
    (Consumer, "_commit", True, [SELF, arg("offsets")]),
    (Producer, "flush", True, [SELF]),
    (Producer, "on_stop", True, [SELF]),
    (FlowControlEvent, "clear", False, [SELF]),
]
CALLED = [
    (ConsumerThread, "earliest_offsets", True, [SELF, ("partitions", P.VAR_POSITIONAL, P.empty)]),
    (Consumer, "seek_to_committed", True, [SELF]),
    (Consumer, "_is_changelog_tp", False, [SELF, arg("tp")]),
    (Consumer, "track_message", False, [SELF, arg("message")]),
    (Consumer, "ack", False, [SELF, arg("message")]),
    (Consumer, "wait_first", True, [SELF, ("coros", P.VAR_POSITIONAL, P.empty), ("timeout", P.KEYWORD_ONLY, None)]),
    (Consumer, "_add_gap", True, [SELF, arg("tp"), arg("offset_from"), arg("offset_to")]),
    (Consumer, "commit", True, [SELF, arg("topics", None), arg("start_new_transaction", True)]),
    (Consumer, "seek", True, [SELF, arg("partition"), arg("offset")]),
    (Consumer, "assignment", False, [SELF]),
    (FlowControlEvent, "__init__", False, [
        SELF, ("initially_suspended", P.KEYWORD_ONLY, True), ("loop", P.KEYWORD_ONLY, None),
    ]),
]


def parameters(function) -> list[tuple]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_faust_is_the_minor_version_the_driver_was_written_against():
    assert faust.__version__.startswith("0.15."), faust.__version__
    assert faust_aiokafka.Transport.driver_version.startswith("aiokafka=")


@pytest.mark.parametrize(("cls", "name", "is_async", "expected"), OVERRIDDEN + CALLED,
                         ids=[f"{c.__name__}.{n}" for c, n, _, _ in OVERRIDDEN + CALLED])
def test_a_private_method_the_driver_relies_on_keeps_its_signature(cls, name, is_async, expected):
    function = inspect.getattr_static(cls, name)
    assert inspect.isfunction(function), f"{cls.__qualname__}.{name} is no longer a plain method"
    assert inspect.iscoroutinefunction(function) is is_async
    assert parameters(function) == expected


@pytest.mark.parametrize(("cls", "name", "_", "__"), OVERRIDDEN,
                         ids=[f"{c.__name__}.{n}" for c, n, _, _ in OVERRIDDEN])
def test_each_override_takes_what_the_method_it_replaces_takes(cls, name, _, __):
    ours = next(c for c in (driver.ConsumerThread, driver.Consumer, driver.Producer, driver.StreamFlowControl)
                if issubclass(c, cls))
    mine, theirs = inspect.getattr_static(ours, name), inspect.getattr_static(cls, name)
    assert mine is not theirs, f"{ours.__name__} no longer overrides {name}"
    assert parameters(mine) == parameters(theirs)
    assert inspect.iscoroutinefunction(mine) is inspect.iscoroutinefunction(theirs)


def test_the_app_s_flow_control_and_the_consumer_s_fetch_wait_are_where_the_driver_sets_them():
    # App.flow_control is replaced by a cached property of our own; aiokafka reads _fetch_max_wait_ms in start().
    assert isinstance(inspect.getattr_static(faust.App, "flow_control"), cached_property)
    assert isinstance(inspect.getattr_static(driver.App, "flow_control"), cached_property)
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.__init__)
    assert "self._fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.start)
    # Names imported from Faust's consumer module.
    assert faust_consumer.CONSUMER_FETCHING and callable(faust_consumer.ensure_TP)
