"""The daemon's metrics: the exposition parsed back with prometheus_client's own parser, the
exposed names pinned (dashboards depend on them), one registry per daemon, thread safety."""

from __future__ import annotations

import threading

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scheduler.metrics import CONTENT_TYPE, DaemonMetrics

Sample = tuple[str, dict[str, str], float]

# The HELP and TYPE lines of the exposition, in order: the names and meanings operators rely on.
FAMILY_LINES = """\
# HELP partyfeeds_fetches_total Feed fetches by source and outcome.
# TYPE partyfeeds_fetches_total counter
# HELP partyfeeds_fetch_errors_total Failed feed fetches.
# TYPE partyfeeds_fetch_errors_total counter
# HELP partyfeeds_items_new_total Items stored for the first time.
# TYPE partyfeeds_items_new_total counter
# HELP partyfeeds_items_merged_total Items merged into an existing item.
# TYPE partyfeeds_items_merged_total counter
# HELP partyfeeds_source_last_success_timestamp_seconds Unix time of the last successful fetch.
# TYPE partyfeeds_source_last_success_timestamp_seconds gauge
# HELP partyfeeds_publish_duration_seconds Time spent publishing the feeds.
# TYPE partyfeeds_publish_duration_seconds summary
# HELP partyfeeds_http_requests_total HTTP responses by status code.
# TYPE partyfeeds_http_requests_total counter
# HELP partyfeeds_polls_waiting_total Polls not started because the source's last poll was still queued \
behind its host or in flight.
# TYPE partyfeeds_polls_waiting_total counter
"""


def parse_exposition(text: str) -> tuple[dict[str, str], list[Sample]]:
    """(type by family name, samples) of a text exposition, read by prometheus_client's parser.
    The parser names a counter family without `_total`; its samples keep the full name."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    samples: list[Sample] = []
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        samples += [(sample.name, sample.labels, sample.value) for sample in family.samples]
    return types, samples


def _busy() -> DaemonMetrics:
    metrics = DaemonMetrics.create()
    metrics.fetches.labels(source="kke-902", status="ok").inc()
    metrics.fetches.labels(source="kke-902", status="ok").inc(2)
    metrics.fetches.labels(source="pcf", status="error").inc()
    metrics.fetch_errors.labels(source="pcf").inc()
    metrics.items_new.labels(source="kke-902").inc(3)
    metrics.items_merged.labels(source="kke-902").inc()
    metrics.last_success.labels(source="kke-902").set(1764331200.25)
    metrics.publish_duration.observe(0.25)
    metrics.publish_duration.observe(1.0)
    metrics.polls_waiting.labels(source="pcf").inc()
    metrics.count_response(200)
    metrics.count_response(304)
    metrics.count_response(304)
    return metrics


def test_family_names_help_and_types_are_the_documented_ones() -> None:
    text = _busy().render().decode()
    assert "".join(line + "\n" for line in text.splitlines() if line.startswith("#")) == FAMILY_LINES


def test_sample_names_carry_no_created_series() -> None:
    text = _busy().render().decode()
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    assert names == {
        "partyfeeds_fetches_total", "partyfeeds_fetch_errors_total", "partyfeeds_items_new_total",
        "partyfeeds_items_merged_total", "partyfeeds_source_last_success_timestamp_seconds",
        "partyfeeds_publish_duration_seconds_sum", "partyfeeds_publish_duration_seconds_count",
        "partyfeeds_http_requests_total", "partyfeeds_polls_waiting_total",
    }


def test_values_and_labels_parse_back() -> None:
    types, samples = parse_exposition(_busy().render().decode())
    assert types == {
        "partyfeeds_fetches": "counter", "partyfeeds_fetch_errors": "counter",
        "partyfeeds_items_new": "counter", "partyfeeds_items_merged": "counter",
        "partyfeeds_source_last_success_timestamp_seconds": "gauge",
        "partyfeeds_publish_duration_seconds": "summary",
        "partyfeeds_http_requests": "counter", "partyfeeds_polls_waiting": "counter",
    }
    expected = [
        ("partyfeeds_fetches_total", {"source": "kke-902", "status": "ok"}, 3.0),
        ("partyfeeds_fetches_total", {"source": "pcf", "status": "error"}, 1.0),
        ("partyfeeds_fetch_errors_total", {"source": "pcf"}, 1.0),
        ("partyfeeds_items_new_total", {"source": "kke-902"}, 3.0),
        ("partyfeeds_items_merged_total", {"source": "kke-902"}, 1.0),
        ("partyfeeds_source_last_success_timestamp_seconds", {"source": "kke-902"}, 1764331200.25),
        ("partyfeeds_publish_duration_seconds_sum", {}, 1.25),
        ("partyfeeds_publish_duration_seconds_count", {}, 2.0),
        ("partyfeeds_http_requests_total", {"code": "200"}, 1.0),
        ("partyfeeds_http_requests_total", {"code": "304"}, 2.0),
        ("partyfeeds_polls_waiting_total", {"source": "pcf"}, 1.0),
    ]
    assert sorted(samples, key=repr) == sorted(expected, key=repr)


def test_a_fresh_daemon_shows_every_family_and_the_summary_at_zero() -> None:
    types, samples = parse_exposition(DaemonMetrics.create().render().decode())
    assert len(types) == 8
    assert sorted(samples, key=repr) == [
        ("partyfeeds_publish_duration_seconds_count", {}, 0.0),
        ("partyfeeds_publish_duration_seconds_sum", {}, 0.0),
    ]


def test_hostile_label_values_are_escaped_and_parse_back() -> None:
    metrics = DaemonMetrics.create()
    hostile = 'back\\slash "quoted"\nnext line }{,='
    metrics.fetches.labels(source=hostile, status="ok").inc()
    text = metrics.render().decode()
    assert 'source="back\\\\slash \\"quoted\\"\\nnext line }{,="' in text
    assert "\nnext line" not in text  # the raw newline did not leak into the output
    _, samples = parse_exposition(text)
    assert ("partyfeeds_fetches_total", {"source": hostile, "status": "ok"}, 1.0) in samples


def test_two_daemons_in_one_process_keep_separate_numbers() -> None:
    first, second = DaemonMetrics.create(), DaemonMetrics.create()
    first.count_response(200)
    assert first.registry.get_sample_value("partyfeeds_http_requests_total", {"code": "200"}) == 1
    assert second.registry.get_sample_value("partyfeeds_http_requests_total", {"code": "200"}) is None
    # Nothing of ours lands on the library's global registry.
    assert "partyfeeds_" not in prometheus_client.generate_latest().decode()


def test_wrong_labels_and_falling_counters_are_refused() -> None:
    metrics = DaemonMetrics.create()
    with pytest.raises(ValueError, match="label"):
        metrics.fetches.labels(source="a")
    with pytest.raises(ValueError):
        metrics.fetch_errors.labels(source="a").inc(-1)


def test_concurrent_increments_are_not_lost() -> None:
    metrics = DaemonMetrics.create()

    def work() -> None:
        for _ in range(1000):
            metrics.count_response(200)
            metrics.render()  # rendering while others write must not break either

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert metrics.registry.get_sample_value("partyfeeds_http_requests_total", {"code": "200"}) == 8000


def test_content_type_is_the_library_text_format() -> None:
    assert CONTENT_TYPE == prometheus_client.CONTENT_TYPE_LATEST
    assert CONTENT_TYPE.startswith("text/plain; version=")
