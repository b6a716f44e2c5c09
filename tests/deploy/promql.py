"""A small static checker of the PromQL in deploy/: metric and label names against dispatchbus.metrics.

Not a PromQL parser: it finds series names (``dispatchbus_*``, recording rules with
``:``, ``up``), the label names of their selectors and of ``by``/``without``
clauses, and the function each counter is passed to. The expressions in deploy/
keep to the forms it understands (aggregations written ``sum by (...) (...)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from dispatchbus.metrics import REGISTRY

TARGET_LABELS = frozenset({"job", "instance"})
"""Labels Prometheus adds to every scraped series."""

COUNTER_FUNCTIONS = frozenset({"rate", "increase", "irate", "present_over_time"})
"""What a counter may be passed to: per-second or windowed increase, or a presence test."""

SYNTHETIC = {"up": frozenset()}
"""Series Prometheus makes itself, with their labels beyond the target labels."""

_NAME = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_AGGREGATION = re.compile(
    r"\b(sum|min|max|avg|count|group|stddev|stdvar|topk|bottomk|quantile|count_values)\s+(by|without)\s*\(([^)]*)\)\s*\("
)
_MATCHING = re.compile(r"\b(on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)")


@dataclass(frozen=True)
class Series:
    """A series name the checker knows, with its labels; ``counter`` for _total, _bucket, _sum, _count."""

    name: str
    labels: frozenset[str]
    counter: bool = False


def registry_series() -> dict[str, Series]:
    """Every series name dispatchbus.metrics.REGISTRY exposes, with its label names."""
    out: dict[str, Series] = {}
    collectors = list(getattr(REGISTRY, "_collector_to_names", {}))
    assert collectors, "cannot list the collectors of dispatchbus.metrics.REGISTRY"
    for collector in collectors:
        if not isinstance(collector, MetricWrapperBase):
            continue
        name, labels, kind = collector._name, frozenset(collector._labelnames), collector._type
        if kind == "counter":
            out[f"{name}_total"] = Series(f"{name}_total", labels, counter=True)
        elif kind == "histogram":
            out[f"{name}_bucket"] = Series(f"{name}_bucket", labels | {"le"}, counter=True)
            out[f"{name}_sum"] = Series(f"{name}_sum", labels, counter=True)
            out[f"{name}_count"] = Series(f"{name}_count", labels, counter=True)
        elif kind == "gauge":
            out[name] = Series(name, labels)
        else:
            raise AssertionError(f"the checker does not know metric type {kind} ({name})")
    return out


def _blank_strings(expr: str) -> str:
    """The expression with string literals emptied (label values may hold anything)."""
    return _STRING.sub('""', expr)


def _balanced(text: str, open_at: int) -> str:
    """The text inside the parenthesis opening at ``open_at``."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i]
    raise ValueError(f"unbalanced parentheses in {text!r}")


def _labels(listing: str) -> list[str]:
    return [part.strip() for part in listing.split(",") if part.strip()]


def series_names(expr: str) -> list[str]:
    """Series names used in ``expr`` (dispatchbus metrics, recording rules, ``up``)."""
    text = _blank_strings(expr)
    names = []
    for match in _NAME.finditer(text):
        token = match.group(1)
        if token.startswith("dispatchbus_") or ":" in token or token in SYNTHETIC:
            names.append(token)
    return names


def output_labels(expr: str, known: dict[str, Series]) -> frozenset[str]:
    """Labels of a recording rule's result: its first ``by`` clause (``le`` is consumed by quantiles)."""
    text = _blank_strings(expr)
    match = _AGGREGATION.search(text)
    if match is None or match.group(2) != "by":
        return frozenset()
    labels = frozenset(_labels(match.group(3)))
    return labels - {"le"} if "histogram_quantile" in text else labels


@dataclass
class Checker:
    """Checks expressions against known series; ``problems`` collects what is wrong."""

    known: dict[str, Series]
    extra_target_labels: frozenset[str] = frozenset()
    problems: list[str] = field(default_factory=list)

    def labels_of(self, name: str) -> frozenset[str] | None:
        if name in SYNTHETIC:
            return SYNTHETIC[name] | TARGET_LABELS | self.extra_target_labels
        series = self.known.get(name)
        if series is None:
            return None
        return series.labels | TARGET_LABELS | self.extra_target_labels

    def check(self, where: str, expr: str) -> None:
        text = _blank_strings(expr)
        used = series_names(expr)
        if not used:
            self.problems.append(f"{where}: no dispatchbus series in {expr!r}")
        for name in used:
            if self.labels_of(name) is None:
                self.problems.append(f"{where}: unknown series {name}")
        # Selectors: name{label="...", ...}
        for match in _NAME.finditer(text):
            name = match.group(1)
            labels = self.labels_of(name)
            rest = text[match.end() :].lstrip()
            if labels is None or not rest.startswith("{"):
                continue
            inside = rest[1 : rest.index("}")]
            for label, _op in _MATCHER.findall(inside):
                if label not in labels:
                    self.problems.append(f"{where}: {name} has no label {label!r}")
        # Counters only through rate() and friends.
        for match in _NAME.finditer(text):
            series = self.known.get(match.group(1))
            if series and series.counter:
                self._check_counter_use(where, text, match.start(), series.name)
        # Aggregations: every grouping label must exist on every series aggregated.
        for match in _AGGREGATION.finditer(text):
            inner = _balanced(text, match.end() - 1)
            for name in series_names(inner):
                labels = self.labels_of(name)
                if labels is None:
                    continue
                for label in _labels(match.group(3)):
                    if label not in labels:
                        self.problems.append(f"{where}: {match.group(1)} {match.group(2)} ({label}) but {name} has no {label!r}")
        # Vector matching: labels must exist on some series of the expression.
        union = frozenset().union(*(self.labels_of(n) or frozenset() for n in used)) if used else frozenset()
        for match in _MATCHING.finditer(text):
            for label in _labels(match.group(2)):
                if label not in union:
                    self.problems.append(f"{where}: {match.group(1)} ({label}) matches no label of {used}")

    def _check_counter_use(self, where: str, text: str, start: int, name: str) -> None:
        before = text[:start].rstrip()
        function = re.search(r"([a-zA-Z_]\w*)\s*\($", before)
        if function is None or function.group(1) not in COUNTER_FUNCTIONS:
            self.problems.append(
                f"{where}: counter {name} must be passed to one of {sorted(COUNTER_FUNCTIONS)}"
            )


def all_rules(rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in rules["groups"] for rule in group["rules"]]


def known_series(rules: dict[str, Any]) -> dict[str, Series]:
    """Registry series plus the recording rules' outputs, with their labels."""
    known = registry_series()
    for rule in all_rules(rules):
        if "record" in rule:
            known[rule["record"]] = Series(rule["record"], output_labels(rule["expr"], known))
    return known


def static_target_labels(prometheus_config: dict[str, Any]) -> frozenset[str]:
    labels: set[str] = set()
    for job in prometheus_config["scrape_configs"]:
        for static in job.get("static_configs", []):
            labels |= set(static.get("labels", {}))
    return frozenset(labels)
