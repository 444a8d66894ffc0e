"""What follows a publish: hooks that each get the run's outcome (`Published`).

The operator's health feed, the WebSub pings and the daemon's metrics are hooks; so is anything
else that should react to new files (a cache purge, a mirror), added to the caller's list
without touching the publish chain. Hooks run in order, after the feeds are written; an
exception stops the ones after it, as it would a publish.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from feeds.fetch import HttpClient
from feeds.model import SiteInfo, SourceEvent
from feeds.publish import PublishReport, formats, publish_health
from feeds.publish.websub import notify_hub
from feeds.store.interface import FeedStorage


@dataclass(frozen=True, slots=True)
class Published:
    """One publish run as its hooks see it."""

    store: FeedStorage
    site: SiteInfo
    output_dir: Path
    report: PublishReport
    now: datetime
    seconds: float  # how long the feeds took to render and write


PostPublish = Callable[[Published], None]


def run_hooks(hooks: Sequence[PostPublish], published: Published) -> None:
    for hook in hooks:
        hook(published)


def health_feed(extra: Callable[[], Sequence[SourceEvent]] = tuple) -> PostPublish:
    """Write health.atom (feeds.publish.publish_health); `extra` gives events the store cannot
    hold yet (its own failures)."""
    def write(published: Published) -> None:
        publish_health(published.store, published.site, published.output_dir, published.report,
                       now=published.now, extra=extra())
    return write


def websub_pings(client: Callable[[], HttpClient]) -> PostPublish:
    """Tell the site's WebSub hub (`site.hub_url`) which feeds changed; `client` gives the HTTP
    client current at the time (the daemon swaps it on reload)."""
    def ping(published: Published) -> None:
        hub, base = published.site.hub_url, published.site.base_url
        changed = [base + path for path in published.report.written if path.endswith(formats.suffixes())]
        if hub and changed:
            notify_hub(client(), hub, changed)
    return ping
