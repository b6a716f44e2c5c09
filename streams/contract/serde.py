"""Avro in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body).

Two schema-id resolvers share one codec:

* :class:`ContractIds` (no registry configured): ids derived from the committed
  contract, so every process with the same contract agrees without a server;
* :class:`RegistryIds`: a real Confluent-compatible Schema Registry through
  confluent-kafka's client, subjects named ``<topic>-<record fullname>``
  (TopicRecordNameStrategy, since several record types share a topic).

Decoding resolves the writer's schema against the current reader schema and
validates the result with the pydantic model; every failure of the record
(bytes after the record included) raises :class:`DecodeError` with a short
reason code and a value-free detail. A Schema Registry that does not answer
raises :class:`Unavailable` instead: the record is not at fault.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from typing import Any, Protocol

import fastavro
from pydantic import ValidationError

from .avro_writer import UnsupportedSchema, compile_writer
from .events import NAMESPACE, Event
from .jsonlines import describe_validation_error
from .schemas import SchemaVersion, _parse, current_versions, event_class, released_versions

MAGIC = 0
_HEADER = struct.Struct(">bI")


@dataclass
class DecodeError(Exception):
    """A record that cannot become a contract event; ``reason`` is a short code."""

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


class Unavailable(RuntimeError):
    """A service the serde depends on did not answer (the Schema Registry): no fault of the record.

    ``reason`` is a short code (``schema_registry``); the record is to be handled again later.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def registry_unavailable(exc: BaseException) -> bool:
    """Whether a Schema Registry call failed for the registry's sake (down, overloaded, unreachable,
    refusing our credentials), not because it answered that the schema is unknown or invalid."""
    status = getattr(exc, "http_status_code", None)
    if isinstance(status, int):
        return status >= 500 or status < 0 or status in (401, 403, 408, 429)
    return True  # httpx's transport errors: refused connections, DNS failures, timeouts


class SchemaIds(Protocol):
    """Maps record schemas to wire-format ids and back."""

    def id_for(self, topic: str, record: str) -> int: ...

    def writer_for(self, schema_id: int) -> tuple[str, Any]:
        """(record short name, parsed writer schema) for an id."""
        ...


class ContractIds:
    """Schema ids from the committed contract (current and every released version)."""

    def __init__(self) -> None:
        self._current = current_versions()
        self._by_id: dict[int, SchemaVersion] = {}
        for version in (*released_versions(), *self._current.values()):
            self._by_id[version.schema_id] = version
        self._ids = {name: v.schema_id for name, v in self._current.items()}

    def id_for(self, topic: str, record: str) -> int:
        return self._ids[record]

    def writer_for(self, schema_id: int) -> tuple[str, Any]:
        try:
            version = self._by_id[schema_id]
        except KeyError:
            raise DecodeError("unknown_schema", f"schema id {schema_id} is not in the contract") from None
        return version.name, version.parsed


class RegistryIds:
    """Schema ids from a Confluent-compatible Schema Registry (registered on first use)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._current = current_versions()
        self._ids: dict[tuple[str, str], int] = {}
        self._writers: dict[int, tuple[str, Any]] = {}

    @classmethod
    def from_url(cls, conf: dict[str, Any]) -> RegistryIds:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        return cls(SchemaRegistryClient(conf))

    def id_for(self, topic: str, record: str) -> int:
        key = (topic, record)
        if key not in self._ids:
            from confluent_kafka.schema_registry import Schema

            subject = f"{topic}-{NAMESPACE}.{record}"
            try:
                self._ids[key] = self._client.register_schema(subject, Schema(self._current[record].text, "AVRO"))
            except Exception as exc:
                if registry_unavailable(exc):
                    raise Unavailable("schema_registry", type(exc).__name__) from exc
                raise
        return self._ids[key]

    def writer_for(self, schema_id: int) -> tuple[str, Any]:
        if schema_id not in self._writers:
            try:
                schema = self._client.get_schema(schema_id)
            except Exception as exc:  # the client raises SchemaRegistryError or transport errors
                if registry_unavailable(exc):
                    raise Unavailable("schema_registry", type(exc).__name__) from exc
                raise DecodeError("unknown_schema", f"schema id {schema_id}: {type(exc).__name__}") from None
            raw = json.loads(schema.schema_str)
            self._writers[schema_id] = (raw["name"].rsplit(".", 1)[-1], _parse(schema.schema_str))
        return self._writers[schema_id]


class AvroSerde:
    """Encode contract events to Confluent-framed Avro and back."""

    def __init__(self, ids: SchemaIds) -> None:
        self._ids = ids
        current = current_versions()
        self._schemas = {name: _prepared(v.parsed) for name, v in current.items()}  # fastavro's writer, if needed
        # What decoding resolves against: uuid strings stay strings, which the models' validation turns into
        # UUIDs (and names the field when one is malformed).
        self._readers = {name: _prepared(_uuid_as_text(v.parsed)) for name, v in current.items()}
        self._writers = {name: _compiled(v.text) for name, v in current.items()}
        # schema id -> (record name, writer schema, reader schema or None when equal, model class)
        self._plans: dict[int, tuple[str, Any, Any, type[Event]]] = {}

    def encode(self, event: Event, topic: str) -> bytes:
        """Serialize ``event`` for ``topic`` (the topic matters only to a registry)."""
        name = type(event).__name__
        header = _HEADER.pack(MAGIC, self._ids.id_for(topic, name))
        writer = self._writers[name]
        if writer is None:
            buf = io.BytesIO()
            buf.write(header)
            fastavro.schemaless_writer(buf, self._schemas[name], event.model_dump())
            return buf.getvalue()
        out = bytearray(header)
        writer(event, out)
        return bytes(out)

    def decode(self, data: bytes | None) -> Event:
        """Deserialize one record value, or raise :class:`DecodeError`."""
        if not data:
            raise DecodeError("empty", "record has no value")
        if len(data) < _HEADER.size or data[0] != MAGIC:
            raise DecodeError("undecodable", "not in the Confluent Avro wire format (magic byte 0)")
        _, schema_id = _HEADER.unpack_from(data)
        plan = self._plans.get(schema_id)
        if plan is None:
            plan = self._plans[schema_id] = self._plan(schema_id)
        name, writer, reader, model = plan
        buf = io.BytesIO(data)
        buf.seek(_HEADER.size)
        try:
            body = fastavro.schemaless_reader(buf, writer, reader)
        except Exception as exc:  # fastavro raises many types for corrupt bodies
            raise DecodeError("schema_mismatch", f"{name}: {type(exc).__name__}") from None
        if buf.tell() != len(data):
            raise DecodeError("trailing_bytes", f"{name}: {len(data) - buf.tell()} byte(s) after the record")
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            fields = "; ".join(f"{f}: {m}" for f, m in describe_validation_error(exc))
            raise DecodeError("invalid_event", f"{name}: {fields}") from None

    def _plan(self, schema_id: int) -> tuple[str, Any, Any, type[Event]]:
        """How to read records written with ``schema_id`` (raises :class:`DecodeError`)."""
        name, writer = self._ids.writer_for(schema_id)
        reader = self._readers.get(name)
        if reader is None:
            raise DecodeError("unknown_record", f"record {name} is not in the current contract")
        writer = _prepared(_uuid_as_text(writer))
        # fastavro skips schema resolution when both schemas are equal; deciding it once saves the comparison.
        return name, writer, None if writer == reader else reader, event_class(name)


def _compiled(text: str) -> Any:
    """The compiled writer for a record schema, or None to keep fastavro's generic writer."""
    try:
        return compile_writer(json.loads(text))
    except UnsupportedSchema:
        return None


def _uuid_as_text(schema: Any) -> Any:
    """``schema`` without the ``uuid`` logical type, whose reading in fastavro builds a UUID in Python.

    pydantic's validation builds it in a fraction of the time (about 2 µs less per decoded call).
    fastavro's parse marker is dropped with it, so the copy is parsed again.
    """
    if isinstance(schema, list):
        return [_uuid_as_text(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: _uuid_as_text(value)
        for key, value in schema.items()
        if not (key == "logicalType" and value == "uuid") and key != "__fastavro_parsed"
    }


def _prepared(schema: Any) -> Any:
    """``schema`` parsed with fastavro's marker, so that reading and writing do not parse it again per record."""
    return fastavro.parse_schema(schema)


def serde_from_settings(settings: Any) -> AvroSerde:
    """The serde that ``settings`` asks for: a Schema Registry when a URL is set."""
    if settings.schema_registry.url:
        return AvroSerde(RegistryIds.from_url(settings.schema_registry.client_config()))
    return AvroSerde(ContractIds())
