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

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import chain, islice
from pathlib import Path

from feeds import polling
from feeds.dedupe import upgrade
from feeds.dedupe.accept import accept_batch
from feeds.dedupe.explain import explain
from feeds.dedupe.split import Split, split_item
from feeds.errors import DedupeError, SeedError
from feeds.fetch import FetchResult, FetchSettings, HttpClient, fetch_each
from feeds.model import Item, SourceEvent, SourceRef, SourceSpec, SourceState, item_id
from feeds.prepare import Job, Prepared, Preparer, prepare

# The publish chain's entry points, re-exported: the daemon and the CLI call one module.
from feeds.publish import PublishReport as PublishReport
from feeds.publish import plan_feeds as plan_feeds
from feeds.publish import publish as publish
from feeds.publish import publish_health as publish_health
from feeds.seeds import SeedItem, check_tags, read_seed_file, seed_files
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


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did, per outcome."""

    new: int = 0
    merged: int = 0
    revised: int = 0
    unchanged: int = 0
    empty: int = 0  # entries with nothing usable in them, skipped
    errors: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


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
                 language: str | None = None) -> IngestReport:
    """Ingest every seed document; a malformed one is reported and skipped.

    `language`: the language of seed items that do not name one.
    """
    report = IngestReport()
    for path in seed_files(paths):
        try:
            seeds = read_seed_file(path, now)
            check_tags(seeds, tagger.registry.parties, tagger.registry.topics)
        except SeedError as exc:
            log.error("seed=%s status=error error=%r", path, str(exc))
            report.errors.append(str(exc))
            continue
        before = (report.new, report.merged, report.revised)
        tagged = [(_with_explicit_tags(seed, tag_item(tagger, _with_language(seed.item, language))),
                   seed.revision) for seed in seeds]
        with store.transaction():
            _accept_all(store, tagged, now, report)
        log.info("seed=%s status=ok items=%d new=%d merged=%d revised=%d", path.name, len(seeds),
                 report.new - before[0], report.merged - before[1], report.revised - before[2])
    return report


@dataclass(slots=True)
class SourceReport:
    """What one poll of one source did."""

    source_id: str
    status: str  # ok | not_modified | unchanged | gone | error
    error: str | None = None
    ingest: IngestReport = field(default_factory=IngestReport)
    encoding_note: str | None = None  # how the body was decoded, when not as the feed declared


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
                reports.update(_store_batch(store, by_id, prepared, now))
                prepared = []
        reports.update((report.source_id, report) for report in record_quiet(store, quiet, now))
        rest = chain(prepared, preparer.rest())
        while batch := list(islice(rest, SOURCES_PER_COMMIT)):
            reports.update(_store_batch(store, by_id, batch, now))
    return [reports[state.source_id] for state in states]


def _store_batch(store: Store, by_id: Mapping[str, SourceSpec],
                 batch: Sequence[tuple[tuple[SourceState, FetchResult], Prepared]],
                 now: datetime) -> dict[str, SourceReport]:
    with store.transaction():
        done = [_store_prepared(store, by_id[result.source_id], state, result, ready, now)
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
        event = health_event(state, new_state, now)
        if event is not None:
            events.append(event)
        reports.append(SourceReport(spec.id, result.status, result.error))
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
        report, new_state = _store_prepared(store, spec, state, result, prepared, now)
    _log_source(report, new_state)
    return report


def _store_prepared(store: Store, spec: SourceSpec, state: SourceState,
                    result: FetchResult, prepared: Prepared | None,
                    now: datetime) -> tuple[SourceReport, SourceState]:
    """`store_prepared` inside the caller's transaction; the report and the new state."""
    report = SourceReport(spec.id, result.status, result.error)
    parse_error = prepared.parse_error if prepared is not None else None
    if parse_error is not None:
        report.status, report.error = "error", parse_error
    if prepared is not None and prepared.guid_links is not None:
        _accept_all(store, [(item, "") for item in prepared.items], now, report.ingest, prepared.bands,
                    prepared.keys)
        store.save_guid_links(spec.id, prepared.guid_links)
        report.ingest.empty = prepared.empty_entries
        report.encoding_note = prepared.encoding_note
    new_state = polling.next_state(state, result, spec, now, new_items=report.ingest.new,
                                   parse_error=parse_error)
    store.save_source_state(replace(new_state, item_count=store.source_item_count(spec.id)))
    event = health_event(state, new_state, now)
    if event is not None:
        store.add_source_event(event)
    return report, new_state


def health_event(before: SourceState, after: SourceState, now: datetime) -> SourceEvent | None:
    """The change in health between two states of a source, if any."""
    if after.retired and not before.retired:
        return SourceEvent(after.source_id, now, "retired", after.last_error or "retired")
    if after.error_count and not before.error_count:
        return SourceEvent(after.source_id, now, "failure", after.last_error or "failed")
    if before.error_count and not after.error_count:
        return SourceEvent(after.source_id, now, "recovery",
                           f"fetched successfully after {before.error_count} failed attempts")
    return None


def _log_source(report: SourceReport, state: SourceState) -> None:
    ingest = report.ingest
    if report.status == "ok":
        # The encoding note (`encoding=… declared=… how=…`): the declaration was not followed,
        # or nothing was declared and the encoding was detected.
        log.info("source=%s status=ok new=%d merged=%d revised=%d unchanged=%d%s%s", report.source_id,
                 ingest.new, ingest.merged, ingest.revised, ingest.unchanged,
                 f" empty={ingest.empty}" if ingest.empty else "",
                 f" {report.encoding_note}" if report.encoding_note else "")
    elif report.status in ("not_modified", "unchanged"):
        log.info("source=%s status=%s", report.source_id, report.status)
    else:
        log.warning("source=%s status=%s error=%s next_fetch=%s", report.source_id, report.status,
                    json.dumps(report.error or "", ensure_ascii=False),
                    state.next_fetch.isoformat() if state.next_fetch else "never")


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
