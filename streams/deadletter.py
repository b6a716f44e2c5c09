"""Build dead-letter records: the reason, where the record came from, and its original bytes."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from .contract.events import DeadLetter
from .contract.ids import uuid5

_NAMESPACE = uuid.UUID("7d1f7a52-3f57-4b53-9d0e-6a2f4f2b0d11")


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
    return DeadLetter(
        event_id=uuid5(_NAMESPACE, f"{source_topic}:{partition}:{offset}:{consumer}"),
        source_topic=source_topic,
        source_partition=partition,
        source_offset=offset,
        consumer=consumer,
        reason=reason,
        detail=detail,
        original_key=key,
        original_value=value,
        failed_at=failed_at or datetime.now(timezone.utc),
    )
