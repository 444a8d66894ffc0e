"""The jobs the CLI and the daemon run, built from a validated Config."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from feeds import pipeline
from feeds.errors import ConfigError
from feeds.fetch import HttpClient, make_client
from feeds.publish import hooks
from feeds.reports import Progress
from feeds.store.interface import Storage
from feeds.tag import Tagger
from feeds.tag.registry import Registry, load_registry
from scheduler.config import Config
from scheduler.feedconfig import check_feeds

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Context:
    """What a run needs, opened once: the registry, its tagger, the store, an HTTP client."""

    config: Config
    registry: Registry
    tagger: Tagger
    store: Storage
    client: HttpClient = field(init=False)

    def __post_init__(self) -> None:
        # One client for every fetch: connections are reused across sources and runs.
        self.client = make_client(self.config.fetch)

    @classmethod
    def open(cls, config: Config) -> Context:
        registry = load_registry(config.parties_path, config.topics_path, config.registry_overrides)
        check_source_parties(config, registry)
        return cls(config, registry, Tagger(registry), pipeline.open_store(config.database))

    def close(self) -> None:
        self.client.close()
        self.store.close()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_source_parties(config: Config, registry: Registry) -> None:
    """A source's party must be a registry code: a typo would mis-tag every item. So must
    the parties, topics and places composed feeds and icons name (scheduler/feedconfig.py)."""
    for spec in config.sources:
        if spec.party is not None and spec.party not in registry.parties:
            file, line = config.source_origins.get(spec.id, (str(config.path), None))
            raise ConfigError(f"unknown party code {spec.party!r} (see {config.parties_path})",
                              path=file, line=line, key=f"source {spec.id}: party")
    check_feeds(config.feeds, registry)


def ingest(context: Context, now: datetime, *, force: bool = False,
           progress: Progress | None = None) -> pipeline.IngestReport:
    """Ingest every seed document, then every due source (`force`: see pipeline.due_sources),
    through one ingest engine, storing in config order."""
    config = context.config
    polls = pipeline.due_polls(context.store, config.sources, now, force=force)
    setup = pipeline.Setup(context.client, config.fetch, context.tagger)
    with pipeline.Ingest(context.store, setup, fetch_workers=config.fetch_workers,
                         parse_workers=config.processes, ordered=True,
                         expected=pipeline.expected_bodies(polls)) as engine:
        report = engine.ingest_seeds(config.seed_paths, now, config.seed_language, config.seed_publisher,
                                     progress)
        for source in engine.run(polls, now, progress):
            for outcome in ("new", "merged", "revised", "unchanged"):
                setattr(report, outcome, getattr(report, outcome) + getattr(source.ingest, outcome))
            if source.failed:
                report.sources_failed.append(source.source_id)
    return report


def publish(store: Storage, config: Config, registry: Registry, now: datetime,
            after: Sequence[hooks.PostPublish] = (hooks.health_feed(),),
            progress: Progress | None = None) -> pipeline.PublishReport:
    """Every feed, the OPML list and the index, then the hooks `after` (by default the operator's
    health feed; the daemon adds its metrics and WebSub pings)."""
    started = time.monotonic()
    with store.errors():
        report = pipeline.publish(store, registry, config.site, config.output_dir, config.feeds.options,
                                  now=now, workers=config.processes, progress=progress)
        published = hooks.Published(store, config.site, config.output_dir, report, now,
                                    time.monotonic() - started)
        hooks.run_hooks(after, published)
    return report


def run_once(context: Context, now: datetime,
             progress: Progress | None = None) -> tuple[pipeline.IngestReport, pipeline.PublishReport]:
    """Ingest everything once, then publish. A malformed seed document makes the run's status
    "error"; a failed source does not (it is recorded, logged, and retried with backoff)."""
    ingested = ingest(context, now, force=True, progress=progress)
    published = publish(context.store, context.config, context.registry, now, progress=progress)
    log.info("run status=%s new=%d merged=%d revised=%d unchanged=%d seed_errors=%d sources_failed=%d "
             "written=%d unchanged_files=%d", "error" if ingested.errors else "ok", ingested.new,
             ingested.merged, ingested.revised, ingested.unchanged, len(ingested.errors),
             len(ingested.sources_failed), len(published.written), published.unchanged)
    return ingested, published
