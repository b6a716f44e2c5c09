"""Derive Avro schemas (.avsc) from the pydantic event models.

The mapping is deliberately small: str, int, float, bool, bytes, UUID,
datetime, Literal (documented string), Optional, list and nested records.
Anything else is a contract error raised at generation time.
"""

from __future__ import annotations

import json
import types
import typing
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .events import NAMESPACE, Record

_PRIMITIVES: dict[type, Any] = {
    str: "string",
    int: "long",
    float: "double",
    bool: "boolean",
    bytes: "bytes",
    UUID: {"type": "string", "logicalType": "uuid"},
    datetime: {"type": "long", "logicalType": "timestamp-millis"},
    AwareDatetime: {"type": "long", "logicalType": "timestamp-millis"},
}


class ContractError(TypeError):
    """A model uses a type the Avro mapping does not support."""


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _avro_type(tp: Any, defined: set[str], where: str) -> tuple[Any, str]:
    """Return the Avro type for ``tp`` and an extra doc string (allowed values)."""
    tp = _strip_annotated(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise ContractError(f"{where}: only Optional[X] unions are supported")
        inner, doc = _avro_type(args[0], defined, where)
        return ["null", inner], doc
    if origin is typing.Literal:
        values = typing.get_args(tp)
        if not all(isinstance(v, str) for v in values):
            raise ContractError(f"{where}: only string literals are supported")
        return "string", "One of: " + ", ".join(values) + "."
    if origin is list:
        (item,) = typing.get_args(tp)
        inner, _ = _avro_type(item, defined, where)
        return {"type": "array", "items": inner}, ""
    if isinstance(tp, type) and issubclass(tp, Record):
        return record_schema(tp, defined), ""
    if tp in _PRIMITIVES:
        return _PRIMITIVES[tp], ""
    raise ContractError(f"{where}: unsupported type {tp!r}")


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def _field_schema(name: str, info: FieldInfo, defined: set[str], where: str) -> dict[str, Any]:
    avro_type, values_doc = _avro_type(info.annotation, defined, f"{where}.{name}")
    field: dict[str, Any] = {"name": name, "type": avro_type}
    doc = " ".join(part for part in (info.description or "", values_doc) if part)
    if doc:
        field["doc"] = doc
    if info.default is not PydanticUndefined:
        field["default"] = _json_default(info.default)
    elif info.default_factory is not None:
        field["default"] = _json_default(info.default_factory())  # type: ignore[call-arg]
    return field


def record_schema(model: type[Record], defined: set[str] | None = None) -> Any:
    """Avro record schema for ``model``; records already defined are referenced by name."""
    defined = set() if defined is None else defined
    fullname = f"{NAMESPACE}.{model.__name__}"
    if fullname in defined:
        return fullname
    defined.add(fullname)
    schema: dict[str, Any] = {"type": "record", "name": model.__name__, "namespace": NAMESPACE}
    doc = (model.__doc__ or "").strip().splitlines()
    if doc:
        schema["doc"] = doc[0]
    schema["fields"] = [
        _field_schema(name, info, defined, model.__name__)
        for name, info in model.model_fields.items()
    ]
    return schema


def render_avsc(model: type[Record]) -> str:
    """The .avsc text for ``model``, stable byte for byte."""
    return json.dumps(record_schema(model), indent=2) + "\n"
