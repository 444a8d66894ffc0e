"""The jobs the CLI and the daemon run, built from a validated Config."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from feeds import pipeline
from feeds.registry import Registry, load_registry
from feeds.store import Store
from feeds.tag import Tagger
from scheduler.config import Config

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Context:
    """What a run needs, opened once: the registry, its tagger and the store."""

    config: Config
    registry: Registry
    tagger: Tagger
    store: Store

    @classmethod
    def open(cls, config: Config) -> Context:
        registry = load_registry(config.parties_path, config.topics_path, config.registry_overrides)
        return cls(config, registry, Tagger(registry), Store(config.database))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ingest(context: Context, now: datetime) -> pipeline.IngestReport:
    """Ingest every seed document (and, later, every due source)."""
    return pipeline.ingest_seeds(context.store, context.tagger, context.config.seed_paths, now)


def publish(context: Context) -> pipeline.PublishReport:
    config = context.config
    return pipeline.publish(context.store, context.registry, config.site, config.output_dir)


def run_once(context: Context, now: datetime) -> tuple[pipeline.IngestReport, pipeline.PublishReport]:
    """Ingest everything once, then publish."""
    ingested = ingest(context, now)
    published = publish(context)
    log.info("run status=ok new=%d merged=%d revised=%d unchanged=%d errors=%d written=%d unchanged_files=%d",
             ingested.new, ingested.merged, ingested.revised, ingested.unchanged, len(ingested.errors),
             len(published.written), published.unchanged)
    return ingested, published
