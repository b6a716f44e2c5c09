"""The committed Avro contract: loading, schema ids and release history.

``schemas/<Record>.avsc`` is the current contract, generated from
:mod:`dispatchbus.contract.events`; ``schemas/history/<Record>/v<N>.avsc``
keeps every released version so that old data stays readable and each change
can be checked for BACKWARD compatibility.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro

from .avro_gen import render_avsc
from .events import EVENT_TYPES, NAMESPACE, Event


def schema_dir() -> Path:
    """Folder holding the committed .avsc files."""
    return Path(str(resources.files("dispatchbus.schemas")))


@dataclass(frozen=True)
class SchemaVersion:
    """One released (or current) version of one record's schema."""

    name: str
    version: int | None  # None: the current contract
    text: str

    @property
    def fullname(self) -> str:
        return f"{NAMESPACE}.{self.name}"

    @property
    def parsed(self) -> Any:
        return _parse(self.text)

    @property
    def schema_id(self) -> int:
        """Embedded-mode schema id: stable across processes, derived from the schema itself."""
        return contract_schema_id(self.text)


@cache
def _parse(text: str) -> Any:
    return fastavro.parse_schema(json.loads(text), _write_hint=False)


def contract_schema_id(text: str) -> int:
    """31-bit id from the SHA-256 of the schema's canonical form.

    Used in the Confluent wire format when no schema registry is configured, so
    every process that has the same contract agrees on the ids without a server.
    """
    canonical = fastavro.schema.to_parsing_canonical_form(json.loads(text))
    digest = hashlib.sha256(canonical.encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF or 1


def current_versions() -> dict[str, SchemaVersion]:
    """The current contract, read from the committed .avsc files."""
    folder = schema_dir()
    return {
        cls.__name__: SchemaVersion(cls.__name__, None, (folder / f"{cls.__name__}.avsc").read_text())
        for cls in EVENT_TYPES
    }


def released_versions() -> list[SchemaVersion]:
    """Every released version under schemas/history, oldest first per record."""
    root = schema_dir() / "history"
    out: list[SchemaVersion] = []
    if not root.is_dir():
        return out
    for record_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        versions = sorted(record_dir.glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
        out.extend(SchemaVersion(record_dir.name, int(p.stem[1:]), p.read_text()) for p in versions)
    return out


def generated_avsc() -> dict[str, str]:
    """What the .avsc files must contain, rendered from the pydantic models."""
    return {cls.__name__: render_avsc(cls) for cls in EVENT_TYPES}


def write_generated(folder: Path | None = None) -> list[Path]:
    """Write the generated .avsc files; returns those whose content changed."""
    folder = folder or schema_dir()
    changed = []
    for name, text in generated_avsc().items():
        path = folder / f"{name}.avsc"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


def release(folder: Path | None = None) -> list[Path]:
    """Copy each current schema that differs from its latest release to a new version."""
    folder = folder or schema_dir()
    latest: dict[str, SchemaVersion] = {}
    for v in released_versions():
        latest[v.name] = v
    written = []
    for name, current in current_versions().items():
        last = latest.get(name)
        if last is not None and json.loads(last.text) == json.loads(current.text):
            continue
        version = 1 if last is None else (last.version or 0) + 1
        path = folder / "history" / name / f"v{version}.avsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(current.text)
        written.append(path)
    return written


def event_class(name: str) -> type[Event]:
    """Model class for a record name (short or full)."""
    from .events import EVENTS_BY_NAME

    return EVENTS_BY_NAME[name.rsplit(".", 1)[-1]]
