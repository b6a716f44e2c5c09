"""Offline routing of JSON lines: every call gets one decision, in input order.

Unit statuses are applied in event-time order wherever they appear in the
input (first pass), then calls are decided (second pass), so a status listed
after a call but timed before it still counts. The second pass is the hot
loop: it validates each call with the contract model, evaluates the compiled
policy and formats the decision line directly (byte-identical to
``to_json_line(decide(...))``) instead of building a ``RoutingDecision``. It
works on byte ranges of the input, so it can run in forked worker processes
without shipping the input to them.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from dispatchbus.contract.events import CallReceived, UnitStatus
from dispatchbus.contract.jsonlines import LineError, describe_validation_error, parse_event, parse_line

from .availability import AvailabilityBook
from .compiled import CompiledPolicy
from .engine import Verdict, decision_id_str, evaluate

_dumps = json.JSONEncoder(separators=(",", ":")).encode
_scan = json.JSONDecoder().scan_once


def _loads(text: str) -> object:
    """``json.loads`` for one line, minus its whitespace regexes; raises ValueError on anything odd."""
    try:
        obj, end = _scan(text, 0)
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(text) and not text[end:].isspace():
        raise ValueError("extra data")
    return obj

CHUNK_LINES = 8192
"""Lines per unit of second-pass work."""

PARALLEL_MIN_LINES = 50_000
"""Below this many input lines, worker processes cost more than they save."""


@dataclass
class RouteStats:
    """What an offline run saw."""

    lines: int = 0
    calls: int = 0
    statuses: int = 0
    bad_lines: int = 0
    ignored: Counter[str] = field(default_factory=Counter)


def iso_utc(moment: datetime) -> str:
    """The contract's JSON form of a UTC millisecond timestamp (``2026-05-04T18:00:00.250Z``)."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def _canonical_time(raw: object, moment: datetime) -> str:
    # A validated input already in the canonical form is reused as is.
    if type(raw) is str and raw[-1:] == "Z" and raw[10:11] == "T":
        if len(raw) == 20 or (len(raw) == 24 and raw[19] == "." and raw[20:23] != "000"):
            return raw
    return iso_utc(moment)


def _canonical_uuid(raw: object) -> bool:
    # A validated UUID given as 36 lower-case characters prints the same as str(UUID(...)).
    return type(raw) is str and len(raw) == 36 and raw[8] == "-" and raw.islower()


class DecisionFormatter:
    """Formats first decisions (sequence 0) of calls as contract JSON lines, caching the verdict part."""

    def __init__(self, policy: CompiledPolicy) -> None:
        self._head = '{"type":"RoutingDecision","event_id":"'
        self._policy_part = (
            f',"model":{_quote(policy.model)},"policy_id":{_quote(policy.id)},'
            f'"policy_version":{_quote(policy.version)}'
        )
        self._cache: dict[Verdict, str] = {}

    def _verdict_part(self, verdict: Verdict) -> str:
        part = self._cache.get(verdict)
        if part is None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            team = _quote(verdict.team) if verdict.team is not None else "null"
            part = (
                f',"target":{_quote(verdict.target)},"team":{team}{self._policy_part}'
                f',"reasons":{_dumps(list(verdict.reasons))},"fallback":{"true" if verdict.fallback else "false"}'
            )
            self._cache[verdict] = part
        return part

    def line(self, call: CallReceived, verdict: Verdict, raw: dict | None = None) -> str:
        """The decision line (no newline) for ``call``; ``raw`` is the input object it was validated from."""
        raw_id = raw.get("event_id") if raw is not None else None
        trigger = raw_id if _canonical_uuid(raw_id) else str(call.event_id)
        raw_time = raw.get("received_at") if raw is not None else None
        call_id = _quote(call.call_id)
        return (
            f'{self._head}{decision_id_str(trigger, 0)}","correlation_id":{call_id},'
            f'"causation_id":"{trigger}","call_id":{call_id}{self._verdict_part(verdict)}'
            f',"decided_at":"{_canonical_time(raw_time, call.received_at)}",'
            f'"eligible":{"true" if verdict.eligible else "false"},"sequence":0,"supersedes":null}}'
        )


@dataclass
class _ChunkResult:
    text: str
    errors: list[tuple[str, int, str, str]]
    ignored: Counter[str]
    calls: int


@dataclass(frozen=True)
class _Chunk:
    first_line: int
    start: int
    end: int


class _Router:
    """Second-pass state: decides the calls of one chunk of input lines."""

    def __init__(
        self,
        policy: CompiledPolicy,
        book: AvailabilityBook,
        source: str,
        read_range: Callable[[int, int], bytes],
        done: dict[int, LineError | None],
    ) -> None:
        self.policy = policy
        self.book = book
        self.source = source
        self.read_range = read_range
        self.done = done  # line → None (a status already applied) or its error
        self.formatter = DecisionFormatter(policy)

    def _lines(self, chunk: _Chunk, errors: list[LineError]) -> list[str | None]:
        data = self.read_range(chunk.start, chunk.end)
        try:
            lines: list[str | None] = data.decode("utf-8").split("\n")  # type: ignore[assignment]
        except UnicodeDecodeError:
            lines = []
            for number, raw in enumerate(data.split(b"\n"), start=chunk.first_line):
                try:
                    lines.append(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    errors.append(LineError(self.source, number, "", f"not valid UTF-8 text ({exc.reason})"))
                    lines.append(None)
        if data.endswith(b"\n"):
            lines.pop()
        return lines

    def route_chunk(self, chunk: _Chunk) -> _ChunkResult:
        policy, book, source, done = self.policy, self.book, self.source, self.done
        line_of = self.formatter.line
        loads = _loads
        validate = CallReceived.model_validate
        out: list[str] = []
        errors: list[LineError] = []
        ignored: Counter[str] = Counter()
        for number, text in enumerate(self._lines(chunk, errors), start=chunk.first_line):
            if number in done:
                if done[number] is not None:
                    errors.append(done[number])  # type: ignore[arg-type]
                continue
            if text is None:
                continue
            try:
                obj = loads(text)
            except ValueError:
                if text.strip():
                    try:
                        parse_line(text, source=source, line=number)
                    except LineError as err:
                        errors.append(err)
                continue
            if type(obj) is dict and obj.get("type") == "CallReceived":
                del obj["type"]
                try:
                    call = validate(obj)
                except ValidationError as exc:
                    name, message = describe_validation_error(exc)[0]
                    errors.append(LineError(source, number, name, message))
                    continue
                out.append(line_of(call, evaluate(policy, call.call_type, call.screening, call.received_at, book), obj))
                continue
            try:
                event = parse_event(obj, source=source, line=number)
            except LineError as err:
                errors.append(err)
                continue
            ignored[type(event).__name__] += 1
        calls = len(out)
        if out:
            out.append("")
        errors.sort(key=lambda e: e.line)
        return _ChunkResult("\n".join(out), [(e.source, e.line, e.field, e.message) for e in errors], ignored, calls)


_worker_router: _Router | None = None


def _route_in_worker(chunk: _Chunk) -> _ChunkResult:
    assert _worker_router is not None
    return _worker_router.route_chunk(chunk)


def _start_worker() -> None:
    """Pool workers die on TERM and leave Ctrl-C to the parent, whatever handlers the fork copied.

    The pool ends its workers with TERM. A handler inherited from the parent
    (one that raises KeyboardInterrupt, as the test runner's does) can leave a
    worker waiting forever on the task queue's lock, and the parent waiting
    for that worker.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_pool(jobs: int) -> multiprocessing.pool.Pool:
    """A pool of ``jobs`` forked workers that inherit the router set in ``_worker_router``."""
    return multiprocessing.get_context("fork").Pool(jobs, initializer=_start_worker)


def _first_pass(
    stream: BinaryIO, source: str, book: AvailabilityBook, chunk_lines: int
) -> tuple[dict[int, LineError | None], list[_Chunk], int]:
    """Apply every unit status; return handled lines, the chunks of the input and its line count."""
    done: dict[int, LineError | None] = {}
    chunks: list[_Chunk] = []
    loads = json.loads
    validate = UnitStatus.model_validate
    offset = chunk_start = 0
    chunk_first = 1
    number = 0
    for number, raw in enumerate(stream, start=1):
        if b"UnitStatus" in raw or b"\\u" in raw:
            try:
                obj = loads(raw)
            except ValueError:
                obj = None  # reported by the second pass
            if type(obj) is dict and obj.get("type") == "UnitStatus":
                del obj["type"]
                try:
                    book.record(validate(obj))
                    done[number] = None
                except ValidationError as exc:
                    name, message = describe_validation_error(exc)[0]
                    done[number] = LineError(source, number, name, message)
        offset += len(raw)
        if number - chunk_first + 1 == chunk_lines:
            chunks.append(_Chunk(chunk_first, chunk_start, offset))
            chunk_first, chunk_start = number + 1, offset
    if offset > chunk_start:
        chunks.append(_Chunk(chunk_first, chunk_start, offset))
    return done, chunks, number


def _route(
    policy: CompiledPolicy,
    open_stream: Callable[[], BinaryIO],
    read_range: Callable[[int, int], bytes],
    *,
    source: str,
    write: Callable[[str], object],
    report: Callable[[LineError], object],
    jobs: int,
    chunk_lines: int,
) -> RouteStats:
    global _worker_router
    stats = RouteStats()
    book = AvailabilityBook()
    with open_stream() as stream:
        done, chunks, stats.lines = _first_pass(stream, source, book, chunk_lines)
    stats.statuses = sum(1 for error in done.values() if error is None)
    router = _Router(policy, book, source, read_range, done)

    def emit(result: _ChunkResult) -> None:
        if result.text:
            write(result.text)
        for error in result.errors:
            report(LineError(*error))
        stats.bad_lines += len(result.errors)
        stats.ignored.update(result.ignored)
        stats.calls += result.calls

    parallel = jobs > 1 and stats.lines >= PARALLEL_MIN_LINES and "fork" in multiprocessing.get_all_start_methods()
    if parallel:
        _worker_router = router
        try:
            with worker_pool(jobs) as pool:
                for result in pool.imap(_route_in_worker, chunks):
                    emit(result)
        finally:
            _worker_router = None
    else:
        for chunk in chunks:
            emit(router.route_chunk(chunk))
    return stats


def route_bytes(
    policy: CompiledPolicy,
    data: bytes,
    *,
    source: str = "<input>",
    write: Callable[[str], object],
    report: Callable[[LineError], object],
    jobs: int = 1,
    chunk_lines: int = CHUNK_LINES,
) -> RouteStats:
    """Route the calls of JSON-lines ``data`` (e.g. all of stdin).

    ``write`` gets chunks of decision lines (each newline-terminated), in
    input order; ``report`` gets each bad line's :class:`LineError`, in line
    order. Other event types are counted in ``RouteStats.ignored``. With
    ``jobs`` > 1 and a large input, the second pass runs in forked worker
    processes; the output is the same.
    """
    return _route(
        policy,
        lambda: io.BytesIO(data),
        lambda start, end: data[start:end],
        source=source,
        write=write,
        report=report,
        jobs=jobs,
        chunk_lines=chunk_lines,
    )


def route_file(
    policy: CompiledPolicy,
    path: str | Path,
    *,
    source: str | None = None,
    write: Callable[[str], object],
    report: Callable[[LineError], object],
    jobs: int = 1,
    chunk_lines: int = CHUNK_LINES,
) -> RouteStats:
    """Route the calls of a JSON-lines file, like :func:`route_bytes`; raises ``OSError`` if unreadable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return _route(
            policy,
            lambda: open(path, "rb", buffering=1 << 20),
            lambda start, end: os.pread(fd, end - start, start),
            source=source if source is not None else str(path),
            write=write,
            report=report,
            jobs=jobs,
            chunk_lines=chunk_lines,
        )
    finally:
        os.close(fd)

