"""A small, thread-safe Prometheus registry: counters, gauges and summaries with labels.

prometheus_client would be a dependency for a dozen numbers; the text exposition
format (version 0.0.4) takes a page to write:

    # HELP partyfeeds_fetches_total Feed fetches by source and outcome.
    # TYPE partyfeeds_fetches_total counter
    partyfeeds_fetches_total{source="kke-902",status="ok"} 3

A family holds one value per combination of label values; a family without
labels starts at 0 so it shows up before its first event. One lock per registry
guards every update, so a render is a consistent snapshot. Label values are
passed as keywords (`fetches.inc(source="kke-902", status="ok")`) and must name
exactly the family's labels.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

Key = tuple[str, ...]


class _Family:
    kind: ClassVar[str]

    def __init__(self, lock: threading.Lock, name: str, help: str, labelnames: Sequence[str]) -> None:
        if not _METRIC_NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labelnames:
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r} for {name}")
        if len(set(labelnames)) != len(labelnames):
            raise ValueError(f"duplicate label names for {name}: {labelnames!r}")
        self.name, self.help, self.labelnames = name, help, tuple(labelnames)
        self._lock = lock

    def _key(self, labels: dict[str, str]) -> Key:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames!r}, got {tuple(sorted(labels))!r}")
        return tuple(str(labels[name]) for name in self.labelnames)

    def samples(self) -> list[tuple[str, Key, float]]:
        """(name suffix, label values, value) for every series; call with the registry lock held."""
        raise NotImplementedError


class _Scalar(_Family):
    """One number per label combination: the storage behind counters and gauges."""

    def __init__(self, lock: threading.Lock, name: str, help: str, labelnames: Sequence[str]) -> None:
        super().__init__(lock, name, help, labelnames)
        self._values: dict[Key, float] = {} if self.labelnames else {(): 0.0}

    def _add(self, amount: float, labels: dict[str, str]) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        key = self._key(labels)
        with self._lock:
            return self._values.get(key, 0.0)

    def samples(self) -> list[tuple[str, Key, float]]:
        return [("", key, value) for key, value in sorted(self._values.items())]


class Counter(_Scalar):
    """A number that only goes up (events, totals)."""

    kind = "counter"

    def inc(self, amount: float = 1.0, /, **labels: str) -> None:
        if amount < 0:
            raise ValueError(f"{self.name}: a counter cannot go down ({amount})")
        self._add(amount, labels)


class Gauge(_Scalar):
    """A number that is set (timestamps, sizes, durations of the last run)."""

    kind = "gauge"

    def set(self, value: float, /, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, /, **labels: str) -> None:
        self._add(amount, labels)

    def dec(self, amount: float = 1.0, /, **labels: str) -> None:
        self._add(-amount, labels)


class Summary(_Family):
    """A count and a sum of observations (no quantiles): enough for rates and averages."""

    kind = "summary"

    def __init__(self, lock: threading.Lock, name: str, help: str, labelnames: Sequence[str]) -> None:
        super().__init__(lock, name, help, labelnames)
        self._values: dict[Key, tuple[int, float]] = {} if self.labelnames else {(): (0, 0.0)}

    def observe(self, value: float, /, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            count, total = self._values.get(key, (0, 0.0))
            self._values[key] = (count + 1, total + value)

    def samples(self) -> list[tuple[str, Key, float]]:
        result: list[tuple[str, Key, float]] = []
        for key, (count, total) in sorted(self._values.items()):
            result += [("_sum", key, total), ("_count", key, float(count))]
        return result


F = TypeVar("F", bound=_Family)


class Registry:
    """The metric families of one process, rendered in registration order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: dict[str, _Family] = {}

    def counter(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Counter:
        return self._register(Counter(self._lock, name, help, labelnames))

    def gauge(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Gauge:
        return self._register(Gauge(self._lock, name, help, labelnames))

    def summary(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Summary:
        return self._register(Summary(self._lock, name, help, labelnames))

    def _register(self, family: F) -> F:
        with self._lock:
            if family.name in self._families:
                raise ValueError(f"metric {family.name} is already registered")
            self._families[family.name] = family
        return family

    def render(self) -> str:
        """The text exposition format, version 0.0.4."""
        lines = []
        with self._lock:
            for family in self._families.values():
                lines.append(f"# HELP {family.name} {escape_help(family.help)}")
                lines.append(f"# TYPE {family.name} {family.kind}")
                for suffix, key, value in family.samples():
                    labels = _labels(family.labelnames, key)
                    lines.append(f"{family.name}{suffix}{labels} {format_value(value)}")
        return "\n".join(lines) + "\n"


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Sequence[str], values: Key) -> str:
    if not names:
        return ""
    pairs = (f'{name}="{escape_label_value(value)}"' for name, value in zip(names, values, strict=True))
    return "{" + ",".join(pairs) + "}"


def format_value(value: float) -> str:
    """Go's float syntax, which Prometheus parses: integers without a point, +Inf, -Inf, NaN."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


@dataclass(frozen=True, slots=True)
class DaemonMetrics:
    """The daemon's metric families, registered once; `render` feeds the server's /metrics."""

    registry: Registry
    fetches: Counter
    fetch_errors: Counter
    items_new: Counter
    items_merged: Counter
    last_success: Gauge
    publish_duration: Summary
    http_requests: Counter
    polls_waiting: Counter

    @classmethod
    def create(cls, registry: Registry | None = None) -> DaemonMetrics:
        reg = registry if registry is not None else Registry()
        return cls(
            registry=reg,
            fetches=reg.counter("partyfeeds_fetches_total", "Feed fetches by source and outcome.",
                                ("source", "status")),
            fetch_errors=reg.counter("partyfeeds_fetch_errors_total", "Failed feed fetches.", ("source",)),
            items_new=reg.counter("partyfeeds_items_new_total", "Items stored for the first time.",
                                  ("source",)),
            items_merged=reg.counter("partyfeeds_items_merged_total",
                                     "Items merged into an existing item.", ("source",)),
            last_success=reg.gauge("partyfeeds_source_last_success_timestamp_seconds",
                                   "Unix time of the last successful fetch.", ("source",)),
            publish_duration=reg.summary("partyfeeds_publish_duration_seconds",
                                         "Time spent publishing the feeds."),
            http_requests=reg.counter("partyfeeds_http_requests_total", "HTTP responses by status code.",
                                      ("code",)),
            polls_waiting=reg.counter("partyfeeds_polls_waiting_total",
                                      "Polls not started because the source's last poll was still queued "
                                      "behind its host or in flight.", ("source",)),
        )

    def count_response(self, code: int) -> None:
        """The server's `on_response` hook."""
        self.http_requests.inc(code=str(code))

    def render(self) -> str:
        return self.registry.render()
