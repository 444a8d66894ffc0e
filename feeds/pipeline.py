"""The pipeline: the one place that runs the stages in order.

Ingest (per item source)::

    seeds:  read seed documents ─┐
    feeds:  fetch → parse → normalise ─┴→ tag → deduplicate → store

Publish (feeds/publish.py, re-exported here)::

    plan feeds (feeds/compose.py) → select (each feed's history in the store; its head and
    archive pages, feeds/archive.py) → render (Atom, JSON Feed, OPML, HTML) → write (atomic;
    archive pages once)

The daemon and the CLI call these functions, never the stages themselves.
Every function takes `now`; none reads the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import chain, islice
from pathlib import Path

from feeds import polling
from feeds.dedupe import upgrade
from feeds.dedupe.accept import accept_batch
from feeds.dedupe.explain import explain
from feeds.dedupe.split import Split, split_item
from feeds.errors import DedupeError, SeedError
from feeds.fetch import FetchResult, FetchSettings, HttpClient, fetch_each
from feeds.model import Item, SourceRef, SourceSpec, SourceState, item_id
from feeds.prepare import Job, Prepared, Preparer, prepare

# The publish chain's entry points, re-exported: the daemon and the CLI call one module.
from feeds.publish import PublishReport as PublishReport
from feeds.publish import plan_feeds as plan_feeds
from feeds.publish import publish as publish
from feeds.publish import publish_health as publish_health

# What runs report, re-exported likewise.
from feeds.reports import IngestReport as IngestReport
from feeds.reports import SourceReport as SourceReport
from feeds.reports import health_events as health_events
from feeds.reports import source_line
from feeds.seeds import DEFAULT_PUBLISHER, SeedItem, check_tags, first_seen, read_seed_file, seed_files
from feeds.store import Store
from feeds.tag import Tagger, tag_item

log = logging.getLogger(__name__)


def open_store(path: str | Path) -> Store:
    """The store at `path`, its deduplication brought up to today's rules (feeds.dedupe.upgrade)."""
    store = Store(path)
    try:
        upgrade.upgrade(store)
    except BaseException:
        store.close()
        raise
    return store


def ingest_items(store: Store, tagger: Tagger, items: Iterable[tuple[Item, str]], now: datetime,
                 report: IngestReport | None = None) -> IngestReport:
    """Tag, deduplicate and store (item, revision marker) pairs in one transaction."""
    report = report or IngestReport()
    with store.transaction():
        _accept_all(store, [(tag_item(tagger, item), revision) for item, revision in items], now, report)
    return report


def _accept_all(store: Store, tagged: Sequence[tuple[Item, str]], now: datetime, report: IngestReport,
                bands: Sequence[tuple[int, ...]] | None = None,
                keys: Sequence[tuple[str, ...]] | None = None) -> None:
    for outcome in accept_batch(store, tagged, now, bands, keys):
        report.count(outcome)


def _with_explicit_tags(seed: SeedItem, tagged: Item) -> Item:
    """A seed document's own parties/topics are the operator's word: they win."""
    return replace(
        tagged,
        parties=tuple(sorted(seed.explicit_parties)) if seed.explicit_parties is not None else tagged.parties,
        topics=tuple(sorted(seed.explicit_topics)) if seed.explicit_topics is not None else tagged.topics,
    )


def _with_language(item: Item, language: str | None) -> Item:
    return replace(item, language=language) if language and not item.language else item


def ingest_seeds(store: Store, tagger: Tagger, paths: Sequence[Path], now: datetime,
                 language: str | None = None, publisher: str = DEFAULT_PUBLISHER) -> IngestReport:
    """Ingest every seed document; a malformed one is reported and skipped.

    `language`: the language of seed items that do not name one; `publisher`: who is credited
    for the documents that do not name their own. Undated items are first seen at `now`, then
    a second earlier each, across the documents in order: no two share an instant.
    """
    report = IngestReport()
    start = now
    for path in seed_files(paths):
        try:
            seeds = read_seed_file(path, start, publisher)
            check_tags(seeds, tagger.registry.parties, tagger.registry.topics)
        except SeedError as exc:
            log.error("seed=%s status=error error=%r", path, str(exc))
            report.errors.append(str(exc))
            continue
        start = first_seen(start, len(seeds))
        before = (report.new, report.merged, report.revised)
        tagged = [(_with_explicit_tags(seed, tag_item(tagger, _with_language(seed.item, language))),
                   seed.revision) for seed in seeds]
        with store.transaction():
            _accept_all(store, tagged, now, report)
        log.info("seed=%s status=ok items=%d new=%d merged=%d revised=%d", path.name, len(seeds),
                 report.new - before[0], report.merged - before[1], report.revised - before[2])
    return report


def initial_state(spec: SourceSpec, stored: SourceState | None) -> SourceState:
    """The stored state, or a fresh one if the source is new or its configured URL changed."""
    if stored is not None and stored.configured_url == spec.url:
        return stored  # the usual case: no copy (a replace costs ~20 µs, per source per cycle)
    if stored is not None and stored.configured_url is None:
        return replace(stored, configured_url=spec.url)
    return SourceState(source_id=spec.id, url=spec.url, configured_url=spec.url)


def due_sources(store: Store, specs: Sequence[SourceSpec], now: datetime, *,
                force: bool = False) -> list[SourceState]:
    """States of the enabled sources due at `now`.

    `force` (a one-off run) skips the polling interval of healthy sources, but
    a failing source's backoff and a server's Retry-After are still honoured.
    """
    stored = store.source_states()
    states = [initial_state(spec, stored.get(spec.id)) for spec in specs if spec.enabled]
    return [s for s in states
            if polling.is_due(s, now) or (force and not s.retired and s.error_count == 0)]


def ingest_sources(store: Store, tagger: Tagger, client: HttpClient, specs: Sequence[SourceSpec],
                   settings: FetchSettings, now: datetime, *, max_workers: int = 8,
                   force: bool = False, parse_workers: int = 2) -> list[SourceReport]:
    """Fetch every due source (hosts in parallel); parse, normalise, tag, dedupe and store the
    new bodies while the others are still being fetched.

    A new body is prepared (feeds.prepare: parse → normalise → tag) in one of `parse_workers`
    processes as soon as its fetch ends, while this process deduplicates and stores the feeds
    already prepared, in source order, SOURCES_PER_COMMIT per transaction. The state changes of
    all the other sources (not modified, unchanged, failed) are recorded in one transaction.
    """
    by_id = {spec.id: spec for spec in specs}
    states = due_sources(store, specs, now, force=force)
    reports: dict[str, SourceReport] = {}
    quiet: list[tuple[SourceSpec, SourceState, FetchResult]] = []
    prepared: list[tuple[tuple[SourceState, FetchResult], Prepared]] = []
    undated = Undated(now)
    with Preparer[tuple[SourceState, FetchResult]](tagger, parse_workers, len(states)) as preparer:
        for index, result in fetch_each(client, states, settings, now, max_workers=max_workers):
            spec = by_id[result.source_id]
            if _has_body(result):
                preparer.add(index, _job(store, spec, result, now), (states[index], result))
            else:
                preparer.skip(index)
                quiet.append((spec, states[index], result))
            prepared += preparer.ready()
            if len(prepared) >= SOURCES_PER_COMMIT:
                reports.update(_store_batch(store, by_id, prepared, undated))
                prepared = []
        reports.update((report.source_id, report) for report in record_quiet(store, quiet, now))
        rest = chain(prepared, preparer.rest())
        while batch := list(islice(rest, SOURCES_PER_COMMIT)):
            reports.update(_store_batch(store, by_id, batch, undated))
    return [reports[state.source_id] for state in states]


def _store_batch(store: Store, by_id: Mapping[str, SourceSpec],
                 batch: Sequence[tuple[tuple[SourceState, FetchResult], Prepared]],
                 undated: Undated) -> dict[str, SourceReport]:
    with store.transaction():
        done = [_store_prepared(store, by_id[result.source_id], state, result, ready, undated)
                for (state, result), ready in batch]
    for report, new_state in done:
        _log_source(report, new_state)
    return {report.source_id: report for report, _ in done}


# Sources with a new body stored per transaction by `ingest_sources`: a commit per source
# cost as much as storing its items. Each source still commits whole or not at all. A commit
# writes every page its saves dirtied, and band and key inserts land all over their indexes:
# 100 sources (~1,000 items) write those pages a third as often as 25 did.
SOURCES_PER_COMMIT = 100


def _has_body(result: FetchResult) -> bool:
    return result.status == "ok" and result.body is not None


def _job(store: Store, spec: SourceSpec, result: FetchResult, now: datetime) -> Job:
    assert result.body is not None
    return Job(result.body, result.headers, result.final_url, spec, now, store.guid_links(spec.id))


def record_quiet(store: Store, batch: Sequence[tuple[SourceSpec, SourceState, FetchResult]],
                 now: datetime) -> list[SourceReport]:
    """Record fetches that brought no new body (the steady state) in one transaction.

    The same states and health events as `ingest_result` gives each of them.
    """
    if not batch:
        return []
    counts = store.source_item_counts([spec.id for spec, _, _ in batch])
    reports, states, events = [], [], []
    for spec, state, result in batch:
        new_state = polling.next_state(state, result, spec, now)
        count = counts.get(spec.id, 0)
        states.append(new_state if new_state.item_count == count else replace(new_state, item_count=count))
        events += health_events(state, new_state, now)
        reports.append(SourceReport(spec.id, result.status, result.error, moved_to=result.permanent_redirect))
    with store.transaction():
        store.save_source_states(states)
        for event in events:
            store.add_source_event(event)
    for report, new_state in zip(reports, states, strict=True):
        _log_source(report, new_state)
    return reports


def ingest_result(store: Store, tagger: Tagger, spec: SourceSpec, state: SourceState, result: FetchResult,
                  now: datetime) -> SourceReport:
    """One source's items, guid map and state commit together, or not at all."""
    prepared = prepare(_job(store, spec, result, now), tagger) if _has_body(result) else None
    return store_prepared(store, spec, state, result, prepared, now)


def store_prepared(store: Store, spec: SourceSpec, state: SourceState,
                   result: FetchResult, prepared: Prepared | None, now: datetime) -> SourceReport:
    """Deduplicate and store a prepared feed; its items, guid map and state commit together."""
    with store.transaction():
        report, new_state = _store_prepared(store, spec, state, result, prepared, Undated(now))
    _log_source(report, new_state)
    return report


def _store_prepared(store: Store, spec: SourceSpec, state: SourceState,
                    result: FetchResult, prepared: Prepared | None,
                    undated: Undated) -> tuple[SourceReport, SourceState]:
    """`store_prepared` inside the caller's transaction; the report and the new state."""
    now = undated.now
    report = SourceReport(spec.id, result.status, result.error, moved_to=result.permanent_redirect)
    parse_error = prepared.parse_error if prepared is not None else None
    if parse_error is not None:
        report.status, report.error = "error", parse_error
    if prepared is not None and prepared.guid_links is not None:
        _accept_all(store, [(item, "") for item in undated.apart(prepared.items)], now, report.ingest,
                    prepared.bands, prepared.keys)
        store.save_guid_links(spec.id, prepared.guid_links)
        report.ingest.empty, report.ingest.recovered = prepared.empty_entries, prepared.recovered
        report.malformed = prepared.malformed
        report.encoding_note = prepared.encoding_note
    new_state = polling.next_state(state, result, spec, now, new_items=report.ingest.new,
                                   parse_error=parse_error, malformed=report.malformed)
    store.save_source_state(replace(new_state, item_count=store.source_item_count(spec.id)))
    for event in health_events(state, new_state, now):
        store.add_source_event(event)
    return report, new_state


class Undated:
    """First-seen times for the entries of one run that give no date (normalise dates them `now`,
    the fetch time): each a microsecond before the one before it, in the order they are stored,
    so they keep their feed's order and no two entries share an `updated` (readers and the W3C
    validator tell entries apart by it). Seed items count down from `now` in whole seconds, so
    the two never meet. A stored item keeps the first of its first-seen times (merge)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._taken = 0

    def apart(self, items: Sequence[Item]) -> list[Item]:
        return [self._apart(item) if item.updated == self.now else item for item in items]

    def _apart(self, item: Item) -> Item:
        self._taken += 1
        at = self.now - timedelta(microseconds=self._taken)
        return replace(item, published=min(item.published, at), updated=at)


def _log_source(report: SourceReport, state: SourceState) -> None:
    level, line = source_line(report, state)
    log.log(level, "%s", line)


# -- explaining and undoing merges (partyfeeds dedupe-why, partyfeeds split) -----------------------


def why_same(store: Store, tagger: Tagger, a: str, b: str, *, parties: Sequence[str] = (),
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


def split(store: Store, story_id: str, source_id: str, now: datetime) -> Split:
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
