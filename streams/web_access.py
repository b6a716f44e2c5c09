"""Who may see which worker view: bearer tokens per role, checked on every request.

Roles: ``ops`` (every view), ``cad`` (the calls), ``psap-<id>`` (that PSAP's own
feedback) and ``metrics`` (``/metrics``, for Prometheus). Tokens come from
``worker.web_tokens`` as ``ROLE:TOKEN`` pairs; a request names its token in
``Authorization: Bearer <token>``. Every configured token is compared, in
constant time, with the one presented. A view no rule names is for ``ops``
alone, so a view added later is closed until a rule opens it.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ROLE_PATTERN = re.compile(r"^(ops|cad|metrics|psap-[A-Za-z0-9_-]{1,64})$")
MIN_TOKEN_LENGTH = 16


class TokenError(ValueError):
    """``web_tokens`` cannot be read; the message never quotes a token."""


def parse_tokens(text: str) -> list[tuple[str, str]]:
    """``ROLE:TOKEN,ROLE:TOKEN`` as (role, token) pairs; raises :class:`TokenError`."""
    pairs: list[tuple[str, str]] = []
    for n, item in enumerate((part.strip() for part in text.split(",")), start=1):
        if not item:
            continue
        role, sep, token = item.partition(":")
        if not sep or not ROLE_PATTERN.match(role):
            raise TokenError(f"web_tokens entry {n}: expected ROLE:TOKEN with ROLE ops, cad, metrics or psap-<id>")
        if len(token) < MIN_TOKEN_LENGTH:
            raise TokenError(f"web_tokens entry {n} ({role}): a token needs at least {MIN_TOKEN_LENGTH} characters")
        pairs.append((role, token))
    if len({token for _, token in pairs}) != len(pairs):
        raise TokenError("web_tokens: two entries share a token; each role needs its own")
    return pairs


def _digest(token: str) -> bytes:
    # Equal-length operands for compare_digest, whatever the length presented.
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class TokenBook:
    """The accepted tokens (their digests) and the role each one grants."""

    entries: tuple[tuple[bytes, str], ...]

    @classmethod
    def from_text(cls, text: str) -> TokenBook:
        return cls(tuple((_digest(token), role) for role, token in parse_tokens(text)))

    def role_of(self, presented: str | None) -> str | None:
        """The role of ``presented``, or None; compares with every entry, stopping at none."""
        if not presented:
            return None
        wanted, found = _digest(presented), None
        for digest, role in self.entries:
            if hmac.compare_digest(digest, wanted):
                found = role
        return found


Rule = Callable[[str, Mapping[str, str]], bool]
"""Whether a role may read a view, given the view's path parameters."""


def _roles(*allowed: str) -> Rule:
    return lambda role, _params: role in allowed


def _own_feedback(role: str, params: Mapping[str, str]) -> bool:
    return role == "ops" or role == f"psap-{params.get('psap_id', '')}"


RULES: Mapping[str, Rule] = {
    "/calls": _roles("ops", "cad"),
    "/calls/{call_id}": _roles("ops", "cad"),
    "/feedback": _roles("ops"),
    "/feedback/{psap_id}": _own_feedback,
    "/metrics": _roles("ops", "metrics"),
}
"""The views by route pattern; any other route is for ``ops`` alone."""


def may_read(role: str, route: str | None, params: Mapping[str, str]) -> bool:
    """Whether ``role`` may read the view at route pattern ``route`` with path ``params``."""
    rule = RULES.get((route or "").rstrip("/") or "/")
    return rule(role, params) if rule is not None else role == "ops"


def bearer_token(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = (headers.get("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def middlewares(tokens: str | None, *, metrics_open: bool = False) -> list[Any]:
    """aiohttp middlewares checking every request's token, or none when no tokens are configured."""
    if not tokens:
        return []
    from aiohttp import web

    book = TokenBook.from_text(tokens)

    @web.middleware
    async def authorize(request: Any, handler: Any) -> Any:
        info = request.match_info
        resource = getattr(info.route, "resource", None)
        route = resource.canonical if resource is not None else None
        if metrics_open and route == "/metrics":
            return await handler(request)
        role = book.role_of(bearer_token(request.headers))
        if role is None:
            return web.json_response(
                {"error": "a bearer token is required"}, status=401,
                headers={"WWW-Authenticate": 'Bearer realm="dispatchbus"'},
            )
        if route is not None and not may_read(role, route, info):
            # The route's pattern, never its parameters (a call id or PSAP id the caller chose).
            log.info("web: %s may not read %s", role, route)
            return web.json_response({"error": "this token may not read this view"}, status=403)
        return await handler(request)

    return [authorize]


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine alone."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_headers(token: str | None) -> dict[str, str]:
    """The request headers presenting ``token`` (none without one)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


DEFAULT_PAGE = 100
MAX_PAGE = 500
"""List views answer at most this many items a page; ``next`` is the cursor of the page after."""


class PageError(ValueError):
    """A list view's ``limit`` or ``cursor`` cannot be read."""


def page_request(query: Mapping[str, str]) -> tuple[int, tuple | None]:
    """The ``limit`` and the decoded ``cursor`` of a list view's query; raises :class:`PageError`."""
    try:
        limit = int(query.get("limit") or DEFAULT_PAGE)
    except ValueError:
        raise PageError("limit must be a whole number") from None
    if not 1 <= limit <= MAX_PAGE:
        raise PageError(f"limit must be between 1 and {MAX_PAGE}")
    cursor = query.get("cursor")
    if not cursor:
        return limit, None
    try:
        after = tuple(json.loads(base64.urlsafe_b64decode(cursor.encode() + b"==")))
    except (ValueError, TypeError):
        raise PageError("cursor is not one this view gave") from None
    return limit, after


def one_page(items: Iterable[Any], key: Callable[[Any], tuple], limit: int, after: tuple | None
             ) -> tuple[list[Any], str | None]:
    """The ``limit`` items with the smallest keys above ``after``, and the cursor of the next page.

    Keys must be unique and JSON-able (e.g. a time and the item's id). Picks the page without sorting
    every item (the heap holds ``limit + 1``), so a large table costs one pass.
    """
    keyed = ((key(item), item) for item in items)
    if after is not None:
        keyed = ((k, item) for k, item in keyed if k > after)
    try:
        chosen = heapq.nsmallest(limit + 1, keyed, key=lambda pair: pair[0])
    except TypeError:  # a cursor whose values are not of the keys' types
        raise PageError("cursor is not one this view gave") from None
    more = len(chosen) > limit
    chosen = chosen[:limit]
    cursor = None
    if more:
        cursor = base64.urlsafe_b64encode(json.dumps(list(chosen[-1][0])).encode()).decode().rstrip("=")
    return [item for _, item in chosen], cursor
