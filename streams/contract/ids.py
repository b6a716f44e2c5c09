"""Deterministic event ids: name-based UUIDs (version 5), computed without ``uuid.UUID.__init__``.

Every event the bus derives from another (a decision from its trigger, a
handoff request from its decision, feedback from the call's closing event)
gets ``uuid5(namespace, name)``, so handling an event twice yields the same
ids. The worker derives two per routed call; the standard library's
``uuid.uuid5`` validates its own digest through ``UUID.__init__`` and took
more than twice as long as the hash itself.
"""

from __future__ import annotations

from hashlib import sha1
from uuid import UUID, SafeUUID

_KEEP = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_5 = (0x5000 << 64) | (0x8000 << 48)  # version 5, RFC 4122 variant
_new = object.__new__
_set = object.__setattr__  # UUID forbids attribute assignment once built
_from_bytes = int.from_bytes
_UNKNOWN = SafeUUID.unknown  # an enum member's lookup is a descriptor call


def uuid5(namespace: UUID, name: str) -> UUID:
    """``uuid.uuid5(namespace, name)``, the same value, built directly from its integer."""
    digest = sha1(namespace.int.to_bytes(16) + name.encode()).digest()  # .bytes is a property around this
    derived = _new(UUID)
    _set(derived, "int", (_from_bytes(digest[:16]) & _KEEP) | _VERSION_5)
    _set(derived, "is_safe", _UNKNOWN)
    return derived


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def uuid5_str(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(UUID(bytes=namespace), name))`` without building UUID objects."""
    digest = sha1(namespace + name.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-{_VARIANT[digest[16]]}{digest[17:20]}-{digest[20:32]}"
