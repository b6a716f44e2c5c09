"""Table plumbing for the worker: a timeline codec and changelogs written through the outbox.

The calls table holds :class:`Timeline` objects. Their changelog records are
the timeline's JSON (pydantic's serializer, the same JSON that earlier
versions wrote from plain dicts, so old changelogs recover). They go through
the app's outbox, flushed before every offset commit like Faust's own
producer, so a changelog record costs a librdkafka ``produce``; the outbox
sends them only once the outputs queued before them are delivered.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import faust
from faust.serializers import codecs
from faust.stores.memory import Store as MemoryStore
from faust.types.codecs import CodecT

from ..lifecycle.timeline import Timeline
from .driver import outbox_of

TIMELINE_CODEC = "dispatchbus-timeline"


class TimelineCodec(codecs.Codec):
    """:class:`Timeline` <-> its JSON bytes."""

    def _dumps(self, obj: Any) -> bytes:
        return obj.to_json()

    def _loads(self, s: bytes) -> Any:
        return Timeline.from_json(s)


codecs.register(TIMELINE_CODEC, TimelineCodec())


class OutboxTable(faust.Table):
    """A table whose changelog records go through the app's outbox.

    Only for the in-memory store and a known partition: a RocksDB store records
    the offset of each changelog write from Faust's own send result, so that
    store keeps Faust's path.
    """

    def __init__(self, app: faust.App, *, value_serializer: str | None = None, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        if value_serializer is not None:
            # Faust derives the codec from value_type (Faust records only); set before the
            # changelog topic and the store, which copy it, are created.
            self.value_serializer = value_serializer
        self._codecs: dict[Any, CodecT] = {}

    def put(self, key: Any, value: Any, partition: int) -> None:
        """``table[key] = value`` with the changelog record in ``partition``, inside a stream or not.

        What Faust's write adds around the two steps is left out: a time-to-live
        index that only windowed tables keep, and its monitor's table counters,
        which nothing here reads.
        """
        self.send_changelog(partition, key, value)
        self.data[key] = value

    def peek(self, key: Any) -> Any:
        """``table.get(key)`` (None when absent) without the monitor's read counter: about half the cost."""
        return self.data.get(key)

    def delete(self, key: Any, partition: int) -> None:
        """``del table[key]`` with the tombstone in ``partition``, inside a stream or not (as :meth:`put`)."""
        del self.data[key]  # first: an absent key raises KeyError and writes nothing
        self.send_changelog(partition, key, None, value_serializer="raw")

    def _codec(self, serializer: Any) -> CodecT:
        # The codec itself, resolved once: Faust's prepare_key/prepare_value look it up (and
        # check for Faust records) on every write, a few microseconds per call.
        codec = self._codecs.get(serializer)
        if codec is None:
            codec = self._codecs[serializer] = codecs.get_codec(serializer)
        return codec

    def _raw_key(self, key: Any, serializer: Any) -> bytes:
        codec = self._codec(serializer)
        if (
            type(key) is str and type(codec) is codecs.json and len(codec.nodes) == 1
            and key.isascii() and key.isprintable() and '"' not in key and "\\" not in key
        ):
            # A call id as JSON: the bytes Faust's codec writes (with orjson or json alone), in a tenth of the time.
            return b'"' + key.encode() + b'"'
        return codec.dumps(key)

    def send_changelog(
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: Any = None,
        value_serializer: Any = None,
    ) -> Any:
        outbox = outbox_of(self.app)
        if outbox is None or partition is None or not isinstance(self.data, MemoryStore):
            return super().send_changelog(partition, key, value, key_serializer, value_serializer)
        raw_key = key if isinstance(key, bytes) else self._raw_key(key, key_serializer or self.key_serializer)
        raw_value = None if value is None else self._codec(value_serializer or self.value_serializer).dumps(value)
        # Kept back until the outputs queued before it are delivered (see Outbox.keep_state).
        outbox.keep_state(self.changelog_topic.get_topic_name(), raw_key, raw_value, partition)
        # Faust's on_key_set/on_key_del (a write inside a stream) read the partition from what this
        # returns, a FutureMessage from Faust's own send.
        return SimpleNamespace(message=SimpleNamespace(partition=partition))


def outbox_table(app: faust.App, name: str, **kwargs: Any) -> OutboxTable:
    """Register an :class:`OutboxTable` on ``app`` (what ``app.Table`` does for Faust's own class)."""
    return app.tables.add(OutboxTable(app, name=name, beacon=app.tables.beacon, **kwargs))
