"""The daemon's Prometheus metrics, declared with prometheus_client on a registry of its own.

Each `DaemonMetrics` holds a fresh `CollectorRegistry`: nothing is registered on the library's
global registry, at import time or later, so two daemons in one process (the tests start
several) keep separate numbers. `/metrics` renders that registry with `generate_latest`, from
memory, in the Prometheus text format:

    # HELP partyfeeds_fetches_total Feed fetches by source and outcome.
    # TYPE partyfeeds_fetches_total counter
    partyfeeds_fetches_total{source="kke-902",status="ok"} 3.0

The exposed names are a contract with operators' dashboards. Counters are declared without
`_total` because the library appends it. The library also gives every counter and summary a
`<name>_created` series (when it started); this registry leaves those out (`_Registry.collect`),
so the exposition holds the names it always has. `prometheus_client.disable_created_metrics()`
would do the same for the whole process, other libraries' registries included, so it is not used.

A family without labels shows from the start (at 0); a labelled family shows its HELP and TYPE
lines and a series per label combination once that combination has been counted. Every series
is updated under its own lock; a render reads them one after another.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Summary, generate_latest
from prometheus_client.core import Metric

CONTENT_TYPE = CONTENT_TYPE_LATEST


class _Registry(CollectorRegistry):
    """A CollectorRegistry whose families leave out their `_created` samples."""

    def collect(self) -> Iterator[Metric]:
        for family in super().collect():
            # Each collect builds its families anew, so trimming them here changes nothing stored.
            created = family.name + "_created"
            family.samples = [sample for sample in family.samples if sample.name != created]
            yield family


@dataclass(frozen=True, slots=True)
class DaemonMetrics:
    """The daemon's metric families on their own registry; `render` feeds the server's /metrics."""

    registry: CollectorRegistry
    fetches: Counter
    fetch_errors: Counter
    items_new: Counter
    items_merged: Counter
    last_success: Gauge
    publish_duration: Summary
    http_requests: Counter
    polls_waiting: Counter

    @classmethod
    def create(cls) -> DaemonMetrics:
        reg = _Registry()
        return cls(
            registry=reg,
            fetches=Counter("partyfeeds_fetches", "Feed fetches by source and outcome.",
                            ("source", "status"), registry=reg),
            fetch_errors=Counter("partyfeeds_fetch_errors", "Failed feed fetches.", ("source",),
                                 registry=reg),
            items_new=Counter("partyfeeds_items_new", "Items stored for the first time.", ("source",),
                              registry=reg),
            items_merged=Counter("partyfeeds_items_merged", "Items merged into an existing item.",
                                 ("source",), registry=reg),
            last_success=Gauge("partyfeeds_source_last_success_timestamp_seconds",
                               "Unix time of the last successful fetch.", ("source",), registry=reg),
            publish_duration=Summary("partyfeeds_publish_duration_seconds",
                                     "Time spent publishing the feeds.", registry=reg),
            http_requests=Counter("partyfeeds_http_requests", "HTTP responses by status code.", ("code",),
                                  registry=reg),
            polls_waiting=Counter("partyfeeds_polls_waiting",
                                  "Polls not started because the source's last poll was still queued "
                                  "behind its host or in flight.", ("source",), registry=reg),
        )

    def count_response(self, code: int) -> None:
        """The server's `on_response` hook."""
        self.http_requests.labels(code=str(code)).inc()

    def render(self) -> bytes:
        """The exposition the server sends with `CONTENT_TYPE`."""
        return generate_latest(self.registry)
