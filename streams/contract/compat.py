"""BACKWARD compatibility of the contract, on Apache Avro's own checker.

BACKWARD (the Confluent Schema Registry default): consumers using the new
schema can read data written with any released schema of the same record.
"""

from __future__ import annotations

from dataclasses import dataclass

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from .schemas import SchemaVersion, current_versions, released_versions


@dataclass(frozen=True)
class Incompatibility:
    """A released version that the current schema cannot read."""

    record: str
    version: int
    messages: tuple[str, ...]
    locations: tuple[str, ...]

    def __str__(self) -> str:
        where = ", ".join(self.locations)
        return f"{self.record} cannot read v{self.version} data at {where}: {'; '.join(self.messages)}"


def check_backward(reader_text: str, writer_text: str) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
    """Can a reader with ``reader_text`` read data written with ``writer_text``?"""
    result = ReaderWriterCompatibilityChecker().get_compatibility(
        reader=avro.schema.parse(reader_text), writer=avro.schema.parse(writer_text)
    )
    ok = result.compatibility is SchemaCompatibilityType.compatible
    return ok, tuple(sorted(result.messages)), tuple(sorted(result.locations))


def backward_incompatibilities(
    current: dict[str, SchemaVersion] | None = None,
    released: list[SchemaVersion] | None = None,
) -> list[Incompatibility]:
    """Every released version the current contract can no longer read (empty when compatible)."""
    current = current_versions() if current is None else current
    released = released_versions() if released is None else released
    problems = []
    for old in released:
        new = current.get(old.name)
        if new is None:
            problems.append(Incompatibility(old.name, old.version or 0, ("record removed",), ("/",)))
            continue
        ok, messages, locations = check_backward(new.text, old.text)
        if not ok:
            problems.append(Incompatibility(old.name, old.version or 0, messages, locations))
    return problems
