"""Offline routing of JSON lines: every call gets one decision, in input order.

Unit statuses are applied in event-time order wherever they appear in the
input (first pass), then calls are decided (second pass), so a status listed
after a call but timed before it still counts. The second pass is the hot
loop: it validates each call with the contract model, evaluates the compiled
policy and formats the decision line directly (byte-identical to
``to_json_line(decide(...))``) instead of building a ``RoutingDecision``. Both
passes work on byte ranges of the input, so they can run in forked worker
processes without shipping the input to them; the first pass only searches
and counts bytes, and decodes just the lines that may be unit statuses.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import stat
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import from_json

from dispatchbus.contract.events import CallReceived, CallUpdated, RoutingDecision, UnitStatus
from dispatchbus.contract.jsonlines import LineError, describe_validation_error, parse_event, parse_line, to_json_line

from .availability import AvailabilityBook
from .compiled import CompiledPolicy
from .engine import Verdict, decision_id_str, evaluate

_dumps = json.JSONEncoder(separators=(",", ":")).encode

CHUNK_BYTES = 1 << 22
"""Bytes (whole lines) per unit of work in either pass: about 9 000 calls."""

PARALLEL_MIN_BYTES = 1 << 24
"""Below this much input (about 35 000 calls), worker processes cost more than they save."""


Follow = Callable[[CallReceived, list[CallUpdated], AvailabilityBook], list[RoutingDecision]]
"""Every decision a call gets from its own event and the updates after it, given the unit statuses
(the lifecycle's pure transitions: :func:`dispatchbus.lifecycle.transitions.decision_chain`)."""


@dataclass
class RouteStats:
    """What an offline run saw."""

    lines: int = 0
    calls: int = 0
    statuses: int = 0
    updates: int = 0
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
            f'"eligible":{"true" if verdict.eligible else "false"},"sequence":0,"supersedes":null,'
            f'"co_responders":{_dumps(list(verdict.also)) if verdict.also else "[]"}}}'
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


@dataclass
class _Scan:
    """What the first pass found in one span of the input."""

    lines: int
    statuses: list[tuple[int, bytes]]  # (line within the span, from 1; the line) of every possible status or update


_STATUS_MARKS = (b"UnitStatus", b"CallUpdated", b"\\u")
"""Bytes found in every unit status or call update line: its type, or an escape that may spell it."""


def scan_span(data: bytes) -> _Scan:
    """Count the lines of ``data`` and pick out those that may be unit statuses or call updates.

    Only those lines are decoded later; the rest is searched and counted at C
    speed, not walked line by line.
    """
    spans: set[tuple[int, int]] = set()
    end = len(data)
    for mark in _STATUS_MARKS:
        found = data.find(mark)
        while found != -1:
            start = data.rfind(b"\n", 0, found) + 1
            stop = data.find(b"\n", found)
            if stop == -1:
                stop = end
            spans.add((start, stop))
            found = data.find(mark, stop)
    statuses: list[tuple[int, bytes]] = []
    number, counted = 1, 0
    for start, stop in sorted(spans):
        number += data.count(b"\n", counted, start)
        counted = start
        statuses.append((number, data[start:stop]))
    lines = data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
    return _Scan(lines, statuses)


def _spans(size: int, read_range: Callable[[int, int], bytes], chunk_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges of about ``chunk_bytes`` that cover ``size`` bytes of input and end at line ends."""
    spans: list[tuple[int, int]] = []
    start = 0
    while start < size:
        end = start + chunk_bytes - 1  # a newline here ends a span of exactly chunk_bytes
        while end < size:
            piece = read_range(end, min(end + (1 << 16), size))
            newline = piece.find(b"\n")
            if newline != -1:
                end += newline + 1
                break
            end += len(piece)
        end = min(end, size)
        spans.append((start, end))
        start = end
    return spans


class _Router:
    """Second-pass state: decides the calls of one chunk of input lines."""

    def __init__(
        self,
        policy: CompiledPolicy,
        book: AvailabilityBook,
        source: str,
        read_range: Callable[[int, int], bytes],
        done: dict[int, LineError | None],
        updates: dict[str, list[tuple[int, CallUpdated]]] | None = None,
        follow: Follow | None = None,
    ) -> None:
        self.policy = policy
        self.book = book
        self.source = source
        self.read_range = read_range
        self.done = done  # line → None (a status or update already taken) or its error
        self.updates = updates or {}  # call_id → (line, update) in input order
        self.follow = follow
        self.formatter = DecisionFormatter(policy)

    def _chain(self, call: CallReceived, number: int) -> list[str] | None:
        """The decision lines of a call with updates after it in the input; None: it has none."""
        later = [update for line, update in self.updates.get(call.call_id, ()) if line > number]
        if not later or self.follow is None:
            return None
        return [to_json_line(decision) for decision in self.follow(call, later, self.book)]

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
        policy, book, source, done, updates = self.policy, self.book, self.source, self.done, self.updates
        line_of = self.formatter.line
        loads = from_json
        validate = CallReceived.__pydantic_validator__.validate_python
        out: list[str] = []
        errors: list[LineError] = []
        ignored: Counter[str] = Counter()
        chained = 0  # calls with more than their first decision line
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
                if not text.strip():
                    continue
                try:  # the contract's own reader gives the error, in its words
                    event = parse_line(text, source=source, line=number)
                except LineError as err:
                    errors.append(err)
                    continue
                if isinstance(event, CallReceived):  # not expected: parse_line validates through the fast parser
                    chain = self._chain(event, number) if updates else None
                    if chain is not None:
                        out.extend(chain)
                        chained += len(chain) - 1
                        continue
                    verdict = evaluate(policy, event.call_type, event.screening, event.received_at, book)
                    out.append(line_of(event, verdict))
                else:
                    ignored[type(event).__name__] += 1
                continue
            if type(obj) is dict and obj.get("type") == "CallReceived":
                del obj["type"]
                try:
                    call = validate(obj)
                except ValidationError as exc:
                    name, message = describe_validation_error(exc)[0]
                    errors.append(LineError(source, number, name, message))
                    continue
                chain = self._chain(call, number) if updates else None
                if chain is not None:  # new facts after the call: every decision of its chain
                    out.extend(chain)
                    chained += len(chain) - 1
                    continue
                out.append(line_of(call, evaluate(policy, call.call_type, call.screening, call.received_at, book), obj))
                continue
            try:
                event = parse_event(obj, source=source, line=number)
            except LineError as err:
                errors.append(err)
                continue
            ignored[type(event).__name__] += 1
        calls = len(out) - chained
        if out:
            out.append("")
        errors.sort(key=lambda e: e.line)
        return _ChunkResult("\n".join(out), [(e.source, e.line, e.field, e.message) for e in errors], ignored, calls)


_worker_read: Callable[[int, int], bytes] | None = None
_worker_router: _Router | None = None


def _scan_in_worker(span: tuple[int, int]) -> _Scan:
    assert _worker_read is not None
    return scan_span(_worker_read(*span))


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
    """A pool of ``jobs`` forked workers that inherit this module's ``_worker_*`` state as it is now."""
    return multiprocessing.get_context("fork").Pool(jobs, initializer=_start_worker)


def _apply_statuses(
    scans: Iterable[_Scan],
    spans: list[tuple[int, int]],
    source: str,
    book: AvailabilityBook,
    updates: dict[str, list[tuple[int, CallUpdated]]] | None = None,
) -> tuple[dict[int, LineError | None], list[_Chunk], int]:
    """Record the scanned unit statuses (and, given ``updates``, collect the call updates by call).

    Returns the lines handled, the chunks of the input and its line count.
    """
    done: dict[int, LineError | None] = {}
    chunks: list[_Chunk] = []
    validate = UnitStatus.model_validate
    lines = 0
    for (start, end), scan in zip(spans, scans):
        for offset, raw in scan.statuses:
            number = lines + offset
            try:
                obj = from_json(raw)
            except ValueError:
                continue  # reported by the second pass
            if type(obj) is dict and obj.get("type") == "UnitStatus":
                del obj["type"]
                try:
                    book.record(validate(obj))
                    done[number] = None
                except ValidationError as exc:
                    name, message = describe_validation_error(exc)[0]
                    done[number] = LineError(source, number, name, message)
            elif updates is not None and type(obj) is dict and obj.get("type") == "CallUpdated":
                del obj["type"]
                try:
                    update = CallUpdated.model_validate(obj)
                except ValidationError as exc:
                    name, message = describe_validation_error(exc)[0]
                    done[number] = LineError(source, number, name, message)
                    continue
                updates.setdefault(update.call_id, []).append((number, update))
                done[number] = None
        chunks.append(_Chunk(lines + 1, start, end))
        lines += scan.lines
    return done, chunks, lines


def _route(
    policy: CompiledPolicy,
    size: int,
    read_range: Callable[[int, int], bytes],
    *,
    source: str,
    write: Callable[[str], object],
    report: Callable[[LineError], object],
    jobs: int,
    chunk_bytes: int,
    follow: Follow | None = None,
) -> RouteStats:
    global _worker_read, _worker_router
    stats = RouteStats()
    book = AvailabilityBook()
    updates: dict[str, list[tuple[int, CallUpdated]]] | None = {} if follow is not None else None
    spans = _spans(size, read_range, chunk_bytes)

    def emit(result: _ChunkResult) -> None:
        if result.text:
            write(result.text)
        for error in result.errors:
            report(LineError(*error))
        stats.bad_lines += len(result.errors)
        stats.ignored.update(result.ignored)
        stats.calls += result.calls

    parallel = jobs > 1 and size >= PARALLEL_MIN_BYTES and "fork" in multiprocessing.get_all_start_methods()
    if not parallel:
        scans = (scan_span(read_range(*span)) for span in spans)
        done, chunks, stats.lines = _apply_statuses(scans, spans, source, book, updates)
        router = _Router(policy, book, source, read_range, done, updates, follow)
        for chunk in chunks:
            emit(router.route_chunk(chunk))
    else:
        # Two pools: the routing workers must be forked once every status is in the book.
        _worker_read = read_range
        try:
            with worker_pool(jobs) as pool:
                done, chunks, stats.lines = _apply_statuses(
                    pool.imap(_scan_in_worker, spans), spans, source, book, updates
                )
            _worker_router = _Router(policy, book, source, read_range, done, updates, follow)
            with worker_pool(jobs) as pool:
                for result in pool.imap(_route_in_worker, chunks):
                    emit(result)
        finally:
            _worker_read = _worker_router = None
    stats.updates = sum(len(found) for found in (updates or {}).values())
    stats.statuses = sum(1 for error in done.values() if error is None) - stats.updates
    return stats


def route_bytes(
    policy: CompiledPolicy,
    data: bytes,
    *,
    source: str = "<input>",
    write: Callable[[str], object],
    report: Callable[[LineError], object],
    jobs: int = 1,
    chunk_bytes: int = CHUNK_BYTES,
    follow: Follow | None = None,
) -> RouteStats:
    """Route the calls of JSON-lines ``data`` (e.g. all of stdin).

    ``write`` gets chunks of decision lines (each newline-terminated), in
    input order; ``report`` gets each bad line's :class:`LineError`, in line
    order. Other event types are counted in ``RouteStats.ignored``. With
    ``follow``, a call with ``CallUpdated`` events after it in the input gets
    every decision ``follow`` makes of them (its decision chain, at the call's
    place); without, updates are ignored and each call gets its first
    decision. With ``jobs`` > 1 and a large input, both passes run in forked
    worker processes; the output is the same.
    """
    return _route(
        policy,
        len(data),
        lambda start, end: data[start:end],
        source=source,
        write=write,
        report=report,
        jobs=jobs,
        chunk_bytes=chunk_bytes,
        follow=follow,
    )


def route_file(
    policy: CompiledPolicy,
    path: str | Path,
    *,
    source: str | None = None,
    write: Callable[[str], object],
    report: Callable[[LineError], object],
    jobs: int = 1,
    chunk_bytes: int = CHUNK_BYTES,
    follow: Follow | None = None,
) -> RouteStats:
    """Route the calls of a JSON-lines file, like :func:`route_bytes`; raises ``OSError`` if unreadable.

    A regular file is read by ranges, never whole; anything else (a pipe, a
    device) is read into memory first, as it cannot be read at offsets.
    """
    options = {"source": str(path) if source is None else source, "write": write, "report": report,
               "jobs": jobs, "chunk_bytes": chunk_bytes, "follow": follow}
    fd = os.open(path, os.O_RDONLY)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            with open(fd, "rb", closefd=False) as stream:
                return route_bytes(policy, stream.read(), **options)
        return _route(policy, info.st_size, lambda start, end: os.pread(fd, end - start, start), **options)
    finally:
        os.close(fd)
