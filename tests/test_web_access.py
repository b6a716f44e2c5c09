"""Who may see which worker view: tokens, roles, the bound address, paging; live ones from a real HTTP client."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from pydantic import SecretStr, ValidationError

from dispatchbus import catalogue, web_access
from dispatchbus.dev.embedded_broker import free_port
from dispatchbus.kafka.clients import EventProducer
from dispatchbus.settings import Settings, WorkerSettings

from .support.samples import T0, call
from .support.waiting import wait_for

TOKENS = {role: secrets.token_urlsafe(24) for role in ("ops", "cad", "metrics", "psap-north", "psap-south")}
TOKEN_TEXT = ",".join(f"{role}:{token}" for role, token in TOKENS.items())


def http_get(url: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``url`` with ``token``: the status and body, whatever the status."""
    request = urllib.request.Request(url, headers=web_access.auth_headers(token))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def web_settings(settings: Settings, **worker: object) -> Settings:
    return settings.model_copy(update={"worker": settings.worker.model_copy(update=worker)})


def serving(base: str) -> bool:
    try:
        http_get(f"{base}/metrics", timeout=1)
        return True
    except OSError:
        return False


def listening_addresses(port: int) -> set[str]:
    """The addresses this machine listens on at TCP ``port`` (IPv4 and IPv6), from /proc/net."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, _, hex_port = local.partition(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    raw = bytes.fromhex(address)
                    if width == 8:
                        found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                    else:  # four host-order 32-bit words
                        words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                        found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def local_non_loopback_ipv4() -> str | None:
    """An IPv4 address of one of this machine's own interfaces that is not loopback, if it has one."""
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        address = line.split()[3].split("/")[0]
        if not address.startswith("127."):
            return address
    return None


# ---- tokens and rules ----


def test_tokens_are_role_token_pairs_and_errors_never_quote_a_token():
    book = web_access.TokenBook.from_text(TOKEN_TEXT)
    assert book.role_of(TOKENS["psap-north"]) == "psap-north"
    assert book.role_of("x" * 24) is None and book.role_of(None) is None and book.role_of("") is None
    secret = "s3cr3t-" + secrets.token_hex(8)
    for bad in (f"admin:{secret}", f"ops{secret}", f"ops:{secret[:8]}", f"ops:{secret},cad:{secret}"):
        with pytest.raises(ValidationError) as raised:
            WorkerSettings(web_tokens=bad)
        assert secret not in str(raised.value) and secret[:8] not in str(raised.value)
    assert secret not in repr(WorkerSettings(web_tokens=f"ops:{secret}"))


def test_each_role_reads_only_its_views_and_unnamed_views_are_for_ops():
    may = web_access.may_read
    assert may("cad", "/calls", {}) and may("cad", "/calls/{call_id}", {"call_id": "C1"})
    assert not may("cad", "/feedback", {}) and not may("cad", "/metrics", {})
    assert may("psap-north", "/feedback/{psap_id}", {"psap_id": "north"})
    assert not may("psap-north", "/feedback/{psap_id}", {"psap_id": "south"})
    assert not may("psap-north", "/feedback", {}) and not may("psap-north", "/calls", {})
    assert may("metrics", "/metrics", {}) and not may("metrics", "/calls", {})
    assert may("ops", "/", {}) and not may("cad", "/", {}) and not may("cad", "/anything/new", {})


def test_a_web_server_off_loopback_needs_tokens():
    with pytest.raises(ValidationError, match="web_tokens"):
        WorkerSettings(web_host="0.0.0.0")
    assert WorkerSettings(web_host="0.0.0.0", web_tokens=SecretStr(TOKEN_TEXT)).web_host == "0.0.0.0"
    conf = Settings(worker=WorkerSettings(web_host="127.0.0.1")).faust_config()
    assert conf["web_bind"] == "127.0.0.1"
    assert not conf["web_tables_enabled"] and not conf["web_router_enabled"] and not conf["web_stats_enabled"]


# ---- paging ----


def test_a_page_of_20000_calls_is_picked_in_one_pass_and_the_cursors_visit_each_once():
    items = [SimpleNamespace(call_id=f"C{n:05d}", at=float((n * 7919) % 20_000)) for n in range(20_000)]

    def key(item):
        return (0, item.at, item.call_id)

    started = time.perf_counter()
    page, cursor = web_access.one_page(items, key, web_access.MAX_PAGE, None)
    elapsed = time.perf_counter() - started
    assert len(page) == web_access.MAX_PAGE and cursor
    assert elapsed < 0.25, f"one page of 20,000 took {elapsed:.3f} s"
    seen = [p.call_id for p in page]
    while cursor:
        _, after = web_access.page_request({"limit": str(web_access.MAX_PAGE), "cursor": cursor})
        page, cursor = web_access.one_page(items, key, web_access.MAX_PAGE, after)
        seen.extend(p.call_id for p in page)
    assert seen == [i.call_id for i in sorted(items, key=key)]


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "501"}, {"limit": "many"}, {"cursor": "%%%"}])
def test_unreadable_paging_is_refused(query):
    with pytest.raises(web_access.PageError):
        web_access.page_request(query)


# ---- live, from a real HTTP client against a running worker ----


def test_every_view_needs_a_token_and_each_role_sees_only_its_own(bus_settings, start_worker):
    settings = web_settings(bus_settings, web_tokens=SecretStr(TOKEN_TEXT))
    worker = start_worker(settings=settings)
    base = f"http://127.0.0.1:{settings.worker.web_port}"
    wait_for(lambda: serving(base), what="the worker's web server")
    producer = EventProducer(settings)
    producer.send(catalogue.CAD_CALLS, call(1))
    producer.flush()
    wait_for(lambda: http_get(f"{base}/calls/C1", TOKENS["cad"])[0] == 200, what="C1 in the calls table")

    def status(path, role=None, token=None):
        return http_get(base + path, token or (TOKENS[role] if role else None))[0]

    for path in ("/calls", "/calls/C1", "/feedback", "/feedback/north", "/metrics", "/", "/nowhere"):
        assert status(path) == 401, path
        assert status(path, token=secrets.token_urlsafe(24)) == 401, path
    assert status("/calls", "cad") == status("/calls", "ops") == 200
    assert status("/calls/C1", "psap-north") == status("/calls", "metrics") == 403
    assert status("/feedback", "cad") == status("/feedback", "psap-north") == status("/metrics", "cad") == 403
    assert status("/feedback/south", "psap-north") == status("/feedback/north", "psap-south") == 403
    assert status("/feedback/north", "psap-north") in (200, 404)  # allowed: 404 until its first outcome
    assert status("/metrics", "metrics") == status("/metrics", "ops") == 200
    # Faust's own views are gone, whoever asks.
    for path in ("/table/calls/C1/", "/table/", "/router/", "/router/calls/C1/", "/stats/", "/graph/"):
        assert status(path, "ops") == 404, path
    body = http_get(f"{base}/calls", TOKENS["psap-north"])[1]
    assert b"C1" not in body and b"Z1" not in body
    log = worker.log()
    assert not any(token in log for token in TOKENS.values())


def test_metrics_may_be_open_while_every_other_view_stays_closed(bus_settings, start_worker):
    settings = web_settings(bus_settings, web_tokens=SecretStr(TOKEN_TEXT), web_metrics_open=True)
    start_worker(settings=settings)
    base = f"http://127.0.0.1:{settings.worker.web_port}"
    wait_for(lambda: serving(base), what="the worker's web server")
    assert http_get(f"{base}/metrics")[0] == 200
    assert http_get(f"{base}/calls")[0] == http_get(f"{base}/feedback")[0] == 401


def test_the_web_server_binds_only_the_configured_address(bus_settings, start_worker):
    worker = start_worker()  # web_host 127.0.0.1, no tokens
    port = worker.settings.worker.web_port
    wait_for(lambda: serving(f"http://127.0.0.1:{port}"), what="the worker's web server")
    assert listening_addresses(port) == {"127.0.0.1"}
    other = local_non_loopback_ipv4()
    if other is not None:  # this machine's own address: the connection never leaves it
        with pytest.raises(OSError):
            http_get(f"http://{other}:{port}/calls", timeout=2)


def test_a_non_loopback_address_is_served_with_tokens_only(bus_settings, start_worker):
    other = local_non_loopback_ipv4()
    host = other or "::1"
    port = free_port(other) if other else free_port()
    settings = web_settings(bus_settings, web_host=host, web_port=port, web_tokens=SecretStr(TOKEN_TEXT))
    start_worker(settings=settings)
    base = f"http://{host}:{port}" if other else f"http://[::1]:{port}"
    wait_for(lambda: serving(base), what="the worker's web server")
    assert listening_addresses(port) == {host}
    assert http_get(f"{base}/calls")[0] == 401
    assert http_get(f"{base}/calls", TOKENS["cad"])[0] == 200
    if other:
        with pytest.raises(OSError):
            http_get(f"http://127.0.0.1:{port}/calls", TOKENS["cad"], timeout=2)


def test_calls_come_in_pages_whose_cursors_visit_every_call_once(bus_settings, start_worker):
    worker = start_worker()
    base = f"http://127.0.0.1:{worker.settings.worker.web_port}"
    producer = EventProducer(bus_settings)
    ids = [f"PG{n}" for n in range(7)]
    for n, call_id in enumerate(ids):
        received = call(100 + n, received_at=T0 + timedelta(minutes=n)).model_copy(
            update={"call_id": call_id, "event_id": uuid.uuid4()})
        producer.send(catalogue.CAD_CALLS, received)
    producer.flush()
    wait_for(lambda: serving(base) and len(json.loads(http_get(f"{base}/calls?limit=500")[1])["calls"]) == 7,
             what="seven calls in the table")
    seen, cursor, pages = [], None, 0
    while True:
        status, body = http_get(f"{base}/calls?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200
        page = json.loads(body)
        assert len(page["calls"]) <= 3
        seen.extend(c["call_id"] for c in page["calls"])
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ids and pages == 3
    for query in ("limit=0", "limit=100000", "cursor=bm90LWEtY3Vyc29y", "cursor=WyJhIl0"):
        status, body = http_get(f"{base}/calls?{query}")
        assert status == 400 and b"PG" not in body, query
