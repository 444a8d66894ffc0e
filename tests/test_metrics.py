"""The Prometheus registry: exposition format parsed back, escaping, label checks, thread safety."""

from __future__ import annotations

import math
import re
import threading

import pytest

from scheduler.metrics import DaemonMetrics, Registry, format_value

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)\Z")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(?:,|\Z)')
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}

Sample = tuple[str, dict[str, str], float]


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES[m.group(1)], text)


def _labels(text: str | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    position = 0
    while text and position < len(text):
        match = _PAIR.match(text, position)
        assert match, f"bad label set {text!r} at {position}"
        labels[match.group(1)] = _unescape(match.group(2))
        position = match.end()
    return labels


def parse_exposition(text: str) -> tuple[dict[str, str], dict[str, str], list[Sample]]:
    """(HELP by name, TYPE by name, samples) of a text exposition; fails on any malformed line."""
    assert text.endswith("\n")
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    samples: list[Sample] = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            helps[name] = re.sub(r"\\(.)", lambda m: {"\\": "\\", "n": "\n"}[m.group(1)], help_text)
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in ("counter", "gauge", "summary", "histogram", "untyped")
            types[name] = kind
        else:
            match = _SAMPLE.match(line)
            assert match, f"bad sample line {line!r}"
            samples.append((match.group(1), _labels(match.group(2)), float(match.group(3))))
    for name, _, _ in samples:
        family = re.sub(r"_(sum|count)\Z", "", name) if name not in types else name
        assert family in types and family in helps, f"{name} has no TYPE/HELP"
    return helps, types, samples


def test_counter_with_labels_renders_help_type_and_samples() -> None:
    registry = Registry()
    fetches = registry.counter("partyfeeds_fetches_total", "Feed fetches.", ("source", "status"))
    fetches.inc(source="kke-902", status="ok")
    fetches.inc(2, source="kke-902", status="ok")
    fetches.inc(source="pcf", status="error")
    helps, types, samples = parse_exposition(registry.render())
    assert helps == {"partyfeeds_fetches_total": "Feed fetches."}
    assert types == {"partyfeeds_fetches_total": "counter"}
    assert ("partyfeeds_fetches_total", {"source": "kke-902", "status": "ok"}, 3.0) in samples
    assert ("partyfeeds_fetches_total", {"source": "pcf", "status": "error"}, 1.0) in samples
    assert fetches.value(source="kke-902", status="ok") == 3


def test_exact_text_of_a_small_registry() -> None:
    registry = Registry()
    registry.counter("a_total", "A.", ("code",)).inc(code="200")
    registry.gauge("b", "B.").set(1.5)
    assert registry.render() == (
        "# HELP a_total A.\n# TYPE a_total counter\na_total{code=\"200\"} 1\n"
        "# HELP b B.\n# TYPE b gauge\nb 1.5\n"
    )


def test_label_values_and_help_are_escaped() -> None:
    registry = Registry()
    hostile = 'back\\slash "quoted"\nnext line }{,='
    registry.gauge("g", 'Help with \\ and\nnewline and "quotes".', ("source",)).set(7, source=hostile)
    text = registry.render()
    assert 'g{source="back\\\\slash \\"quoted\\"\\nnext line }{,="} 7\n' in text
    assert text.count("\n") == 3  # the raw newlines did not leak into the output
    helps, _, samples = parse_exposition(text)
    assert samples == [("g", {"source": hostile}, 7.0)]
    assert helps["g"] == 'Help with \\ and\nnewline and "quotes".'


def test_unlabelled_families_start_at_zero_labelled_ones_empty() -> None:
    registry = Registry()
    registry.counter("plain_total", "Plain.")
    registry.counter("labelled_total", "Labelled.", ("x",))
    _, types, samples = parse_exposition(registry.render())
    assert samples == [("plain_total", {}, 0.0)]
    assert set(types) == {"plain_total", "labelled_total"}


def test_gauge_set_inc_dec() -> None:
    gauge = Registry().gauge("g", "G.", ("source",))
    gauge.set(1764331200.25, source="a")
    gauge.inc(source="b")
    gauge.inc(2, source="b")
    gauge.dec(0.5, source="b")
    assert gauge.value(source="a") == 1764331200.25
    assert gauge.value(source="b") == 2.5


def test_summary_renders_sum_and_count() -> None:
    registry = Registry()
    duration = registry.summary("partyfeeds_publish_duration_seconds", "Publish time.")
    duration.observe(0.25)
    duration.observe(1.0)
    _, types, samples = parse_exposition(registry.render())
    assert types["partyfeeds_publish_duration_seconds"] == "summary"
    assert ("partyfeeds_publish_duration_seconds_sum", {}, 1.25) in samples
    assert ("partyfeeds_publish_duration_seconds_count", {}, 2.0) in samples


def test_label_names_that_shadow_parameters_are_fine() -> None:
    counter = Registry().counter("c_total", "C.", ("amount", "value"))
    counter.inc(3, amount="x", value="y")
    assert counter.value(amount="x", value="y") == 3


@pytest.mark.parametrize("labels", [{}, {"source": "a", "extra": "b"}, {"sorce": "a"}])
def test_wrong_labels_are_refused(labels: dict[str, str]) -> None:
    counter = Registry().counter("c_total", "C.", ("source",))
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc(**labels)


def test_invalid_registrations_are_refused() -> None:
    registry = Registry()
    registry.counter("c_total", "C.")
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("c_total", "Again.")
    with pytest.raises(ValueError, match="invalid metric name"):
        registry.counter("2bad", "Bad.")
    with pytest.raises(ValueError, match="invalid label name"):
        registry.counter("d_total", "D.", ("__reserved",))
    with pytest.raises(ValueError, match="duplicate label"):
        registry.counter("e_total", "E.", ("a", "a"))


def test_counters_cannot_go_down() -> None:
    with pytest.raises(ValueError, match="cannot go down"):
        Registry().counter("c_total", "C.").inc(-1)


@pytest.mark.parametrize(("value", "text"), [
    (3.0, "3"), (0.0, "0"), (-2.0, "-2"), (0.25, "0.25"), (1e20, "1e+20"),
    (math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN"),
])
def test_values_use_prometheus_float_syntax(value: float, text: str) -> None:
    assert format_value(value) == text


def test_concurrent_increments_are_not_lost() -> None:
    registry = Registry()
    counter = registry.counter("c_total", "C.", ("source",))

    def work() -> None:
        for _ in range(1000):
            counter.inc(source="a")
            registry.render()  # rendering while others write must not break either

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.value(source="a") == 8000


def test_daemon_metrics_register_the_documented_families() -> None:
    metrics = DaemonMetrics.create()
    metrics.fetches.inc(source="kke-902", status="ok")
    metrics.fetch_errors.inc(source="pcf")
    metrics.items_new.inc(3, source="kke-902")
    metrics.items_merged.inc(source="kke-902")
    metrics.last_success.set(1764331200, source="kke-902")
    metrics.publish_duration.observe(0.5)
    metrics.count_response(200)
    metrics.count_response(304)
    _, types, samples = parse_exposition(metrics.render())
    assert types == {
        "partyfeeds_fetches_total": "counter",
        "partyfeeds_fetch_errors_total": "counter",
        "partyfeeds_items_new_total": "counter",
        "partyfeeds_items_merged_total": "counter",
        "partyfeeds_source_last_success_timestamp_seconds": "gauge",
        "partyfeeds_publish_duration_seconds": "summary",
        "partyfeeds_http_requests_total": "counter",
        "partyfeeds_polls_waiting_total": "counter",
    }
    assert ("partyfeeds_http_requests_total", {"code": "304"}, 1.0) in samples
    last = ("partyfeeds_source_last_success_timestamp_seconds", {"source": "kke-902"}, 1764331200.0)
    assert last in samples
