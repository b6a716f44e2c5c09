"""Checks that a record the bus built without validation is what validation would have built."""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel


def assert_as_validated(record: BaseModel) -> None:
    """``record`` equals its validated form field by field, with the same types and normal timestamps."""
    again = type(record)(**record.__dict__)
    assert again == record
    assert record.__dict__.keys() == again.__dict__.keys() == type(record).model_fields.keys()
    for name, value in record.__dict__.items():
        twin = getattr(again, name)
        assert type(value) is type(twin), f"{type(record).__name__}.{name}: {type(value)} vs {type(twin)}"
        if isinstance(value, datetime):
            assert value.tzinfo is timezone.utc and value.microsecond % 1000 == 0, f"{name}: {value!r}"
        if isinstance(value, BaseModel):
            assert_as_validated(value)
    assert record.model_dump_json() == again.model_dump_json()
