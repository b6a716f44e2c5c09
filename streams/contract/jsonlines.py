"""The contract's JSON-lines form: one object per line, ``"type"`` = record name.

Timestamps are ISO-8601 UTC strings (``2026-05-04T18:00:00Z``), UUIDs are
strings and bytes are base64. Errors name the source, the line and the field,
never the field's value (values may be sensitive).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from pydantic import ValidationError

from .events import EVENTS_BY_NAME, Event


@dataclass(frozen=True)
class LineError(Exception):
    """A JSON line that is not a valid contract event."""

    source: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}"
        return f"{where}: field '{self.field}': {self.message}" if self.field else f"{where}: {self.message}"


def describe_validation_error(exc: ValidationError) -> list[tuple[str, str]]:
    """(field path, message) pairs of a pydantic error, without the offending values."""
    return [
        (".".join(str(p) for p in err["loc"]) or "<record>", err["msg"])
        for err in exc.errors(include_input=False, include_url=False)
    ]


def parse_event(obj: object, *, source: str = "<input>", line: int = 0) -> Event:
    """Validate one decoded JSON object as a contract event."""
    if not isinstance(obj, dict):
        raise LineError(source, line, "", "expected a JSON object")
    type_name = obj.get("type")
    if type_name is None:
        raise LineError(source, line, "type", "missing; expected one of " + ", ".join(EVENTS_BY_NAME))
    cls = EVENTS_BY_NAME.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise LineError(source, line, "type", f"unknown event type {type_name!r}")
    body = {k: v for k, v in obj.items() if k != "type"}
    try:
        return cls.model_validate_json(json.dumps(body))
    except ValidationError as exc:
        field, message = describe_validation_error(exc)[0]
        raise LineError(source, line, field, message) from None


def parse_line(text: str, *, source: str = "<input>", line: int = 0) -> Event:
    """Parse one JSON line into a contract event, or raise :class:`LineError`."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineError(source, line, "", f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:  # no contract event nests more than a few levels
        raise LineError(source, line, "", "not valid JSON (nested too deeply)") from None
    return parse_event(obj, source=source, line=line)


def read_events(stream: IO[str], source: str) -> Iterator[tuple[int, Event | LineError]]:
    """Yield (line number, event or error) for every non-blank line of ``stream``."""
    for number, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            yield number, parse_line(text, source=source, line=number)
        except LineError as err:
            yield number, err


def to_json_obj(event: Event) -> dict:
    """The event as a JSON-ready dict with ``"type"`` first."""
    return {"type": type(event).__name__, **event.model_dump(mode="json")}


def to_json_line(event: Event) -> str:
    """The event as one JSON line (no trailing newline)."""
    return json.dumps(to_json_obj(event), separators=(",", ":"))


def write_events(events: Iterable[Event], stream: IO[str]) -> None:
    """Write events as JSON lines."""
    for event in events:
        stream.write(to_json_line(event) + "\n")
