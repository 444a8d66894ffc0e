"""The pipeline: the one place that runs the stages in order.

Ingest (the engine `once` and `serve` share: feeds/ingest.py)::

    seeds:  read seed documents → tag ────────────────────────┐
    feeds:  fetch (per-host queues) → prepare: parse →          ├→ accept: deduplicate → store
            normalise → tag (a thread, or worker processes) ───┘     (one writer thread)

Publish (feeds/publish/__init__.py, re-exported here)::

    plan feeds (feeds/publish/compose.py) → select (each feed's history in the store; its head and
    archive pages, feeds/publish/archive.py) → render (Atom, JSON Feed, OPML, HTML) → write (atomic;
    archive pages once)

Trying a source and finding a site's feeds (feeds/probe.py, re-exported here)::

    try_source: fetch → parse (the source's kind) → normalise → tag; nothing stored
    discover:   fetch a page → its feed links, else common paths → each fetched and parsed

The daemon and the CLI call these functions, never the stages themselves.
Every function takes `now`; none reads the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from feeds.dedupe import upgrade
from feeds.dedupe.accept import accept_batch
from feeds.dedupe.explain import explain
from feeds.dedupe.split import Split, split_item
from feeds.errors import DedupeError
from feeds.fetch import FetchResult, FetchSettings, HttpClient, polling
from feeds.ingest import Ingest as Ingest
from feeds.ingest import Setup as Setup
from feeds.ingest import Undated, job_for, log_source
from feeds.ingest import store_prepared as store_prepared
from feeds.model import Item, SourceRef, SourceSpec, SourceState, item_id
from feeds.parse.seeds import DEFAULT_PUBLISHER
from feeds.prepare import prepare

# Helping the operator write a source (partyfeeds try-source, partyfeeds discover), re-exported.
from feeds.probe import Discovery as Discovery
from feeds.probe import Tried as Tried
from feeds.probe import discover as discover
from feeds.probe import try_source as try_source

# The publish chain's entry points, re-exported: the daemon and the CLI call one module.
from feeds.publish import PublishReport as PublishReport
from feeds.publish import plan_feeds as plan_feeds
from feeds.publish import publish as publish
from feeds.publish import publish_health as publish_health

# What runs report, re-exported likewise.
from feeds.reports import IngestReport as IngestReport
from feeds.reports import Progress as Progress
from feeds.reports import SourceReport as SourceReport
from feeds.reports import Step as Step
from feeds.reports import health_events as health_events
from feeds.seedingest import accept_seed_document, read_seeds
from feeds.store import connect
from feeds.store.interface import Storage
from feeds.tag import Tagger, tag_item

log = logging.getLogger(__name__)


def open_store(path: str | Path) -> Storage:
    """The store at `path`, its deduplication brought up to today's rules (feeds.dedupe.upgrade)."""
    store = connect(path)
    try:
        upgrade.upgrade(store)
    except BaseException:
        store.close()
        raise
    return store


def ingest_items(store: Storage, tagger: Tagger, items: Iterable[tuple[Item, str]], now: datetime,
                 report: IngestReport | None = None) -> IngestReport:
    """Tag, deduplicate and store (item, revision marker) pairs in one transaction."""
    report = report or IngestReport()
    tagged = [(tag_item(tagger, item), revision) for item, revision in items]
    with store.transaction():
        for outcome in accept_batch(store, tagged, now):
            report.count(outcome)
    return report


def ingest_seeds(store: Storage, tagger: Tagger, paths: Sequence[Path], now: datetime,
                 language: str | None = None, publisher: str = DEFAULT_PUBLISHER,
                 progress: Progress | None = None) -> IngestReport:
    """Ingest every seed document on this thread; a malformed one is reported and skipped
    (see feeds.seedingest). The daemon and `once` go through `Ingest.ingest_seeds`."""
    report = IngestReport()
    for document in read_seeds(tagger, paths, now, language, publisher, report, store.seed_marks(),
                               progress):
        accept_seed_document(store, document=document, now=now, report=report)
    return report


def initial_state(spec: SourceSpec, stored: SourceState | None) -> SourceState:
    """The stored state, or a fresh one if the source is new or its configured URL changed."""
    if stored is not None and stored.configured_url == spec.url:
        return stored  # the usual case: no copy (a replace costs ~20 µs, per source per cycle)
    if stored is not None and stored.configured_url is None:
        return replace(stored, configured_url=spec.url)
    return SourceState(source_id=spec.id, url=spec.url, configured_url=spec.url)


def due_sources(store: Storage, specs: Sequence[SourceSpec], now: datetime, *,
                force: bool = False) -> list[SourceState]:
    """States of the enabled sources due at `now`.

    `force` (a one-off run) skips the polling interval of healthy sources, but
    a failing source's backoff and a server's Retry-After are still honoured.
    """
    stored = store.source_states()
    states = [initial_state(spec, stored.get(spec.id)) for spec in specs if spec.enabled]
    return [s for s in states
            if polling.is_due(s, now) or (force and not s.retired and s.error_count == 0)]


def due_polls(store: Storage, specs: Sequence[SourceSpec], now: datetime, *,
              force: bool = False) -> list[tuple[SourceSpec, SourceState]]:
    """(source, state) of the enabled sources due at `now` (see `due_sources`), in config order."""
    by_id = {spec.id: spec for spec in specs}
    return [(by_id[state.source_id], state) for state in due_sources(store, specs, now, force=force)]


def expected_bodies(polls: Sequence[tuple[SourceSpec, SourceState]]) -> int:
    """How many of `polls` will surely bring a body to prepare: the sources never fetched
    successfully (a first start). The others most likely answer 304 or with an unchanged body:
    an engine told to expect them all would start its worker processes (~0.5 s of a core) for
    a cycle of 5,000 unchanged sources that prepares nothing."""
    return sum(1 for _, state in polls if state.last_success is None)


def ingest_sources(store: Storage, tagger: Tagger, client: HttpClient, specs: Sequence[SourceSpec],
                   settings: FetchSettings, now: datetime, *, max_workers: int = 8,
                   force: bool = False, parse_workers: int = 1,
                   progress: Progress | None = None) -> list[SourceReport]:
    """Fetch, prepare and store every due source through the ingest engine (feeds/ingest.py),
    in source order; the reports in that order."""
    polls = due_polls(store, specs, now, force=force)
    with Ingest(store, Setup(client, settings, tagger), fetch_workers=max_workers,
                parse_workers=parse_workers, ordered=True, expected=expected_bodies(polls)) as engine:
        return engine.run(polls, now, progress)


def ingest_result(store: Storage, tagger: Tagger, spec: SourceSpec, state: SourceState, result: FetchResult,
                  now: datetime) -> SourceReport:
    """One fetched source, prepared and stored on this thread: its items, guid map and state
    commit together, or not at all (the engine's steps, one at a time, for tests and tools)."""
    prepared = None
    if result.status == "ok" and result.body is not None:
        prepared = prepare(job_for(store, spec, result, now), tagger)
    with store.transaction():
        report, new_state = store_prepared(store, spec, state, result, prepared, Undated(now))
    log_source(report, new_state)
    return report


# -- explaining and undoing merges (partyfeeds dedupe-why, partyfeeds split) -----------------------


def why_same(store: Storage, tagger: Tagger, a: str, b: str, *, parties: Sequence[str] = (),
             language: str | None = None, published: datetime) -> str:
    """Why `a` and `b` (two stored item ids, or two titles) are, or are not, one story.

    Titles are tagged as ingest would tag them, unless `parties` is given; they count as two
    sources' items published at `published` in `language`.
    """
    stored = store.get_many([_bare_id(a), _bare_id(b)])
    if len(stored) == 2:
        _verdict, text = explain(stored[0].item, stored[1].item, store.splits())
        return text
    if stored or _looks_like_id(a) or _looks_like_id(b):
        raise DedupeError(f"not stored: {', '.join(x for x in (a, b) if store.get(_bare_id(x)) is None)}")
    items = [_titled(tagger, title, name, parties, language, published)
             for title, name in ((a, "A"), (b, "B"))]
    return explain(items[0], items[1])[1]


def split(store: Storage, story_id: str, source_id: str, now: datetime) -> Split:
    """Split `source_id`'s own entry off the stored item `story_id` (see feeds.dedupe.split)."""
    with store.transaction():
        done = split_item(store, _bare_id(story_id), source_id, now)
    log.info("dedupe split item=%s source=%s split_off=%s kept=%s reread=%s", story_id, source_id,
             done.split_off.id, done.kept.id, ",".join(done.reread) or "-")
    return done


def _titled(tagger: Tagger, title: str, name: str, parties: Sequence[str], language: str | None,
            published: datetime) -> Item:
    item = Item(id=item_id(f"dedupe-why\x1f{name}\x1f{title}"), title=title, link=None, summary="",
                content="", published=published, updated=published, language=language,
                sources=(SourceRef(f"source-{name.lower()}", name),))
    return replace(item, parties=tuple(sorted(parties))) if parties else tag_item(tagger, item)


def _bare_id(value: str) -> str:
    return value.strip().removeprefix("urn:uuid:")


def _looks_like_id(value: str) -> bool:
    bare = _bare_id(value)
    return len(bare) == 36 and bare.count("-") == 4 and " " not in bare
