"""Transient faults (the broker, the network, the Schema Registry) apart from faults of a record itself.

A record that fails with a transient fault is not at fault: the bus waits and
handles it again (``Bus.deliver``), and never dead-letters it. Everything else
is a fault of the record (or a bug) and goes to the dead-letter topic.
"""

from __future__ import annotations

import asyncio

from confluent_kafka import KafkaError, KafkaException

from .contract.serde import Unavailable


_PERMANENT_KAFKA = {
    KafkaError.MSG_SIZE_TOO_LARGE,  # the record's outputs are too large: the record's own fault
    KafkaError.INVALID_RECORD,
    KafkaError._INVALID_ARG,
    KafkaError.INVALID_MSG,
    KafkaError.INVALID_MSG_SIZE,
}


def transient_reason(exc: BaseException) -> str | None:
    """The metrics label of a transient fault (``broker``, ``network``, ``schema_registry``), or None."""
    if isinstance(exc, Unavailable):
        return exc.reason
    if isinstance(exc, KafkaException):
        err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        if err is None or err.code() in _PERMANENT_KAFKA or err.fatal():
            return None
        return "broker"
    try:
        import aiokafka.errors as aiokafka_errors
    except ImportError:  # pragma: no cover - aiokafka is a dependency
        return None
    if isinstance(exc, aiokafka_errors.KafkaConnectionError):
        return "network"
    if isinstance(exc, aiokafka_errors.KafkaError) and getattr(exc, "retriable", False):
        return "broker"
    if isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return "network"
    return None

