"""Build dead-letter records: the reason, where the record came from, and its original bytes (bounded).

A letter must always fit in a Kafka record whatever the record it reports: an
original key or value larger than :data:`ORIGINAL_MAX_BYTES` is truncated, and
the letter keeps its length and SHA-256 so the original can still be found and
checked; a detail longer than :data:`DETAIL_MAX_CHARS` is cut.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone

from .contract.events import ID_MAX_LENGTH, DeadLetter
from .contract.ids import uuid5

_NAMESPACE = uuid.UUID("7d1f7a52-3f57-4b53-9d0e-6a2f4f2b0d11")

ORIGINAL_MAX_BYTES = 16_384
"""Longest original key or value a letter carries in full; longer ones are truncated to it."""

DETAIL_MAX_CHARS = 2_000
"""Longest detail a letter carries."""

KEY_MAX_BYTES = ID_MAX_LENGTH
"""Longest dead-letter record key: a longer original key is replaced by its SHA-256 (hex)."""


def _bounded(data: bytes | None) -> tuple[bytes | None, int | None, str | None]:
    """(data or its first bytes, original size, SHA-256) with size and digest only when truncated."""
    if data is None or len(data) <= ORIGINAL_MAX_BYTES:
        return data, None, None
    return data[:ORIGINAL_MAX_BYTES], len(data), hashlib.sha256(data).hexdigest()


def letter_key(key: bytes | None) -> bytes:
    """The dead-letter record's key: the original key, or its SHA-256 (hex) when longer than :data:`KEY_MAX_BYTES`."""
    if not key:
        return b""
    return key if len(key) <= KEY_MAX_BYTES else hashlib.sha256(key).hexdigest().encode()


def dead_letter(
    *,
    source_topic: str,
    partition: int,
    offset: int,
    consumer: str,
    reason: str,
    detail: str,
    key: bytes | None,
    value: bytes | None,
    failed_at: datetime | None = None,
) -> DeadLetter:
    """A DeadLetter whose id is derived from the source position, so a redelivered record maps to the same id."""
    original_key, key_size, key_sha = _bounded(key)
    original_value, value_size, value_sha = _bounded(value)
    return DeadLetter(
        event_id=uuid5(_NAMESPACE, f"{source_topic}:{partition}:{offset}:{consumer}"),
        source_topic=source_topic,
        source_partition=partition,
        source_offset=offset,
        consumer=consumer,
        reason=reason,
        detail=detail if len(detail) <= DETAIL_MAX_CHARS else detail[: DETAIL_MAX_CHARS - 1] + "…",
        original_key=original_key,
        original_value=original_value,
        failed_at=failed_at or datetime.now(timezone.utc),
        original_key_size=key_size,
        original_key_sha256=key_sha,
        original_value_size=value_size,
        original_value_sha256=value_sha,
    )
