"""The publish chain: plan → select → render → write.

plan feeds (feeds/publish/compose.py) → select (each feed's history in the store; its head and
archive pages, feeds/publish/archive.py; heads whose inputs did not change are skipped,
feeds/publish/freshness.py) → render (Atom, JSON Feed, OPML, HTML) → write (atomic; archive pages
once). Also the operator's health feed. `feeds.pipeline` re-exports the entry points, so
callers know one module.

Enters: the store (read; each feed's history and marks are written back), the registry's
labels, the site and feed options, `now`. Leaves: files in the output folder. Imports the
model, errors, store and registry (and `sanitize` for link relations, `fetch` for WebSub pings);
never parse, tag, dedupe, ingest or the scheduler.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

from feeds import forkserver
from feeds.errors import StoreError
from feeds.model import FeedSpec, Item, SiteInfo, SourceEvent, item_id
from feeds.publish import archive, compose, documents, formats, freshness, inplace
from feeds.publish.compose import PublishOptions
from feeds.publish.entryparts import Labels
from feeds.publish.jsonfeed import render_json
from feeds.publish.pages import INDEX_PATH, OPML_PATH, FeedSummary, render_index, render_opml
from feeds.publish.render import render_atom
from feeds.publish.write import PUBLISHED_DIRS, remove_leftovers, remove_stale, write_if_changed
from feeds.reports import Progress
from feeds.store import FeedMark, from_text, to_text
from feeds.store.interface import FeedStorage, Storage
from feeds.tag.registry import Registry

log = logging.getLogger(__name__)

PARALLEL_JOBS = 400  # documents to render before a run is split over the caller's worker processes
HEADS_FIRST_PAGES = 100  # archive pages to write from which a run makes its heads live first
# Item changes since a feed was last published from which a run will likely render PARALLEL_JOBS
# documents (an item sits in ~4 feeds, 50 to an archive page): the render workers' forkserver is
# started while the histories are built (see _start_workers_early).
EARLY_START_CHANGES = 5_000


@dataclass(slots=True)
class PublishReport:
    """Which files a publish run wrote, left alone and removed."""

    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    heads_live: float = 0.0  # seconds from the start of the run until every head was in place


def plan_feeds(registry: Registry, site: SiteInfo, counts: Mapping[tuple[str, str], int],
               options: PublishOptions | None = None, languages: Sequence[str] = ()) -> list[FeedSpec]:
    """`all.atom`, a feed per party and per topic that has items, and those `options` add."""
    planned = compose.plan(registry, site, counts, languages, options or PublishOptions())
    return [feed.spec for feed in planned]


def publish(store: FeedStorage, registry: Registry, site: SiteInfo, output_dir: Path,
            options: PublishOptions | None = None, *, now: datetime, workers: int = 1,
            progress: Progress | None = None) -> PublishReport:
    """Render every feed whose inputs changed (head, archive pages, JSON Feed twins), the OPML
    list and the index; write only what changed, and never rewrite an archive page in place.

    `now` is remembered as the time a feed was first published: an empty feed's `updated`.
    `workers`: processes a large run (a first publish, a big backlog) may render on; 1: none.
    `progress` hears of the feed files rendered (written or found unchanged).
    """
    started = time.monotonic()
    options = options or PublishOptions()
    report = PublishReport()
    labels = Labels(parties={code: registry.party_label(code) for code in registry.parties},
                    topics={tid: topic.label for tid, topic in registry.topics.items()})
    languages = list(store.language_counts()) if options.by_language else []
    feeds = compose.plan(registry, site, store.present_tags(), languages, options)
    opener = store.opener() if workers >= 2 else None
    if opener is not None:
        _start_workers_early(store, feeds)
    folders = sorted({str(PurePosixPath(f.spec.path).parent) for f in feeds} - {"."} | set(PUBLISHED_DIRS))
    with store.transaction():  # every history grows, or none: one commit, not one per feed
        histories = [_extend_history(store, feed, now) for feed in feeds]
    totals = [store.feed_log_size(feed.log_key) for feed in feeds]
    known = inplace.known_folders(output_dir, feeds, histories, totals, options.archive_page_size,
                                  site.entries_per_feed)
    target = _Target(site, labels, options, output_dir, report, inplace.Kept(),
                     inplace.Folders(output_dir, folders, known), freshness.context(site, labels, options),
                     opener, workers, started)
    plans = [_plan_feed(store, feed, *done, total, target)
             for feed, done, total in zip(feeds, histories, totals, strict=True)]
    if target.moved:
        log.info("publish site_moved base_url=%s feeds=%d: their archive pages are rewritten",
                 site.base_url, len(target.moved))
    heads = _render(store, [job for plan in plans for job in plan.jobs], target, progress)
    summaries = [plan.summary or heads[plan.feed.log_key] for plan in plans]
    specs = [feed.spec for feed in feeds]
    _write(output_dir, OPML_PATH, render_opml(specs, site), report)
    _write(output_dir, INDEX_PATH, render_index(summaries, site), report)
    report.removed = remove_stale(output_dir, target.kept, dirs=folders, found=target.folders.found)
    remove_leftovers(output_dir, target.folders.leftovers)
    _save_marks(store, plans, heads, target)  # after the last file added or removed: the folders' stamps
    log.info("publish status=ok feeds=%d written=%d unchanged=%d removed=%d", len(specs),
             len(report.written), report.unchanged, len(report.removed))
    return report


@dataclass(slots=True)
class _Target:
    """Where and how one publish run writes."""

    site: SiteInfo
    labels: Labels
    options: PublishOptions
    output_dir: Path
    report: PublishReport
    kept: inplace.Kept  # the feed files this run publishes (the others are removed)
    folders: inplace.Folders  # what was in place when the run started
    shared: str  # freshness.context of this run
    opener: Callable[[], Storage] | None  # for render workers; None: render in this process
    workers: int
    started: float  # time.monotonic() at the start of the run
    moved: list[str] = field(default_factory=list)  # feeds whose archive pages name another base URL


@dataclass(slots=True)
class _FeedPlan:
    """What a run does for one feed: the documents to render, and the head's summary if its
    inputs did not change (else the rendered head's)."""

    feed: compose.PlannedFeed
    head: archive.Document
    jobs: list[documents.Job]
    summary: FeedSummary | None = None
    fingerprint: str = ""
    pages_base: str = ""  # the base URL its archive pages held before this run (FeedMark)
    pages: int = 0  # archive pages of its chain


def _plan_feed(store: FeedStorage, feed: compose.PlannedFeed, restarted: bool, mark: FeedMark, total: int,
               target: _Target) -> _FeedPlan:
    """List the feed's head (if its inputs changed) and every archive page not in place."""
    size, head_min = target.options.archive_page_size, target.site.entries_per_feed
    head = archive.head(feed.spec.path, total, size, head_min)
    pages = archive.full_pages(total, size, head_min)
    target.kept.add(feed.spec.path, pages)
    stamps = store.feed_log_stamps(feed.log_key, head.first, head.last)
    fingerprint = freshness.fingerprint(target.shared, feed, head, stamps, mark.first_published)
    plan = _FeedPlan(feed, head, [], fingerprint=fingerprint, pages_base=mark.pages_base, pages=pages)
    files = freshness.files_stamp(target.output_dir, head)
    todo = []
    if mark.fingerprint == plan.fingerprint and files and mark.files == files:
        target.report.unchanged += 2
        plan.summary = freshness.summary_from_text(feed.spec, mark.summary)
    else:
        todo.append(head)
    moved = mark.pages_base not in ("", target.site.base_url)
    if moved and pages:
        target.moved.append(feed.log_key)
    # A page in place never changes, unless the site moved: its links name the old URLs.
    # A restarted history may have left another page there.
    rewrite = restarted or moved
    known = 0 if rewrite else target.folders.known_pages(feed.spec.path)
    target.report.unchanged += 2 * known
    for number in range(pages, known, -1):  # newest first, as a client walks them
        doc = archive.page(feed.spec.path, number, size)
        if not rewrite and target.folders.in_place(doc.path):
            target.report.unchanged += 2
        else:
            todo.append(doc)
    plan.jobs = documents.jobs(store, feed, total, todo, from_text(mark.first_published))
    return plan


def _extend_history(store: FeedStorage, feed: compose.PlannedFeed, now: datetime) -> tuple[bool, FeedMark]:
    """Append the items saved since the last publish that joined the feed (inside the caller's
    transaction); the new watermark commits with them, so a crash in between only makes the
    next run look again. A feed published for the first time is stamped with `now`."""
    restarted = store.sync_feed_log(feed.log_key, feed.query)
    mark = _first_published(FeedMark() if restarted else store.feed_mark(feed.log_key), now)
    seen = store.change_mark()
    store.extend_feed_log(feed.log_key, feed.query, since=mark.seen)
    store.save_feed_mark(feed.log_key, replace(mark, seen=seen))
    return restarted, mark


def _first_published(mark: FeedMark, now: datetime) -> FeedMark:
    """`mark`, stamped with `now` if it has no first-publish time yet (a new feed, or one
    published before migration 11)."""
    if mark.first_published:
        return mark
    return replace(mark, first_published=to_text(now.replace(microsecond=0)) or "")  # whole seconds


def _start_workers_early(store: FeedStorage, feeds: Sequence[compose.PlannedFeed]) -> None:
    """A run that will render on worker processes (a first publish, a big backlog)
    starts their forkserver now, so its ~0.5 s of imports overlap the histories and the plan
    instead of delaying the rendering. A wrong guess leaves an idle server process."""
    if not feeds:
        return
    behind = min(store.feed_mark(feed.log_key).seen for feed in feeds)
    if store.change_mark() - behind >= EARLY_START_CHANGES:
        forkserver.start_in_background()


def _render(store: FeedStorage, jobs: list[documents.Job], target: _Target,
            progress: Progress | None) -> dict[str, FeedSummary]:
    """Write every job's two files so that every link resolves at every moment: archive pages
    before the heads that link to them. A run with HEADS_FIRST_PAGES pages or more (a first
    publish, a site move) first makes every head live without its link to a page not yet in
    place, then writes the pages, then the heads again with the link. Returns the summaries of
    the heads rendered."""
    heads = [job for job in jobs if not job.doc.is_archive]
    pages = [job for job in jobs if job.doc.is_archive]
    if len(pages) >= HEADS_FIRST_PAGES:
        early = [_unlinked(job, target) for job in heads]
        again = [job for job, first in zip(heads, early, strict=True) if first is not job]
        progress = _of_total(progress, len(formats.FORMATS) * (len(jobs) + len(again)))
        summaries = _write_jobs(store, early, target, progress)
        target.report.heads_live = time.monotonic() - target.started
        _write_jobs(store, pages, target, progress)
        summaries.update(_write_jobs(store, again, target, progress))
    else:
        progress = _of_total(progress, len(formats.FORMATS) * len(jobs))
        _write_jobs(store, pages, target, progress)
        summaries = _write_jobs(store, heads, target, progress)
        target.report.heads_live = time.monotonic() - target.started
    target.report.written = list(dict.fromkeys(target.report.written))  # a head written twice, once
    return summaries


def _of_total(progress: Progress | None, total: int) -> Progress | None:
    """`progress`, told the run's total of files rather than each call's."""
    if progress is None:
        return None
    return lambda step: progress(replace(step, total=total))


def _unlinked(head: documents.Job, target: _Target) -> documents.Job:
    """`head` without its link to the newest archive page while that page is not in place."""
    newest = head.doc.prev_archive
    if newest is None or target.folders.in_place(newest):
        return head
    return replace(head, doc=replace(head.doc, prev_archive=None))


def _write_jobs(store: FeedStorage, jobs: list[documents.Job], target: _Target,
                progress: Progress | None) -> dict[str, FeedSummary]:
    """Render and write `jobs`, all of them in place when it returns; the heads' summaries.
    A big run uses the worker processes; a few heads are not worth starting them."""
    if not jobs:
        return {}
    site, labels, output_dir = target.site, target.labels, target.output_dir
    done = None
    if len(jobs) >= PARALLEL_JOBS and target.opener is not None:
        try:
            done = documents.write_jobs_in_parallel(target.opener, jobs, site, labels, output_dir,
                                                    target.workers, progress)
        except (BrokenProcessPool, OSError) as exc:  # no semaphores here, or a worker was killed
            log.warning("render workers failed, rendering in this process instead: %s: %s",
                        type(exc).__name__, exc)
            target.opener = None  # and the rest of the run
    if done is None:  # a file a dead worker already wrote holds the same bytes: "unchanged"
        done = documents.write_jobs(store, jobs, site, labels, output_dir, progress)
    target.report.written += done.written
    target.report.unchanged += done.unchanged
    return done.heads


def _save_marks(store: FeedStorage, plans: Sequence[_FeedPlan], heads: Mapping[str, FeedSummary],
                target: _Target) -> None:
    """Remember what each rendered head was rendered from, its files as written, the base URL
    the feed's archive pages now hold, and how many pages its folder holds with the folder's
    stamp (every page of the chain is in place now)."""
    marks = {}
    base = target.site.base_url
    for plan in plans:
        summary = heads.get(plan.feed.log_key)
        mark = store.feed_mark(plan.feed.log_key)
        folder = freshness.folder_stamp(target.output_dir, archive.folder(plan.feed.spec.path)) \
            if plan.pages else ""
        pages = replace(mark, pages_base=base, pages=plan.pages, pages_stamp=folder)
        if summary is None and pages == mark:
            continue
        if summary is not None:
            files = freshness.files_stamp(target.output_dir, plan.head)
            text = freshness.summary_text(summary)
            pages = replace(pages, fingerprint=plan.fingerprint, files=files, summary=text)
        marks[plan.feed.log_key] = pages
    with store.transaction():
        store.save_feed_marks(marks)


def _write(output_dir: Path, relpath: str, data: bytes, report: PublishReport) -> None:
    if write_if_changed(output_dir, relpath, data):
        report.written.append(relpath)
    else:
        report.unchanged += 1


HEALTH_PATH = "health.atom"
HEALTH_MARK = "health"  # its feed mark (only its first-publish time is used)
HEALTH_ENTRIES = 100


def publish_health(store: FeedStorage, site: SiteInfo, output_dir: Path, report: PublishReport, *,
                   now: datetime, extra: Sequence[SourceEvent] = ()) -> None:
    """Write the operator's feed of source failures, recoveries, retirements, moves and malformed
    feeds (feeds.reports.health_events), Atom and JSON Feed.

    The newest HEALTH_ENTRIES events only: an operator's alert feed needs no archive.
    While there are none, its `updated` is the time it was first published (`now`, then).
    `extra`: events that cannot be stored (the store failing); if the store cannot even be read,
    the feed holds those alone.
    """
    spec = FeedSpec(HEALTH_PATH, "health", None, f"Source health — {site.title}",
                    "Sources that started failing, recovered, moved, serve malformed XML or were retired")
    try:
        with store.errors():
            stored = store.source_events(HEALTH_ENTRIES)
        first = _health_first_published(store, now)
    except StoreError:
        if not extra:
            raise
        stored, first = [], now
    events = sorted([*extra, *stored], key=lambda event: event.at, reverse=True)[:HEALTH_ENTRIES]
    items = _distinct_instants([_event_item(event) for event in events])
    doc = archive.Document(HEALTH_PATH, first=1, last=len(items), current=HEALTH_PATH)
    _write(output_dir, HEALTH_PATH, render_atom(spec, items, site, Labels(), doc=doc, updated_if_empty=first),
           report)
    _write(output_dir, doc.json_path, render_json(spec, items, site, doc), report)


def _health_first_published(store: FeedStorage, now: datetime) -> datetime:
    with store.errors():
        mark = store.feed_mark(HEALTH_MARK)
    if not mark.first_published:
        mark = _first_published(mark, now)
        with store.transaction():
            store.save_feed_mark(HEALTH_MARK, mark)
    return from_text(mark.first_published) or now


def _distinct_instants(items: list[Item]) -> list[Item]:
    """The events of one run share an instant (sixteen sources failing at once); feed readers and
    the W3C validator tell entries apart by `updated`, so each entry after the first of an
    instant is dated a microsecond before the one above it (newest first). The same events give
    the same dates on every publish."""
    distinct: list[Item] = []
    for item in items:
        if distinct and item.updated >= distinct[-1].updated:
            item = replace(item, updated=distinct[-1].updated - timedelta(microseconds=1))
        distinct.append(item)
    return distinct


_EVENT_VERBS = {"failure": "is failing", "recovery": "recovered", "retired": "was retired",
                "moved": "moved", "malformed": "serves malformed XML"}


def _event_item(event: SourceEvent) -> Item:
    verb = _EVENT_VERBS.get(event.kind, event.kind)
    return Item(
        id=item_id(f"health\x1f{event.source_id}\x1f{event.kind}\x1f{event.at.isoformat()}"),
        # The message is plain text (an error's words, say "<unknown>:1:2"); summaries are HTML.
        title=f"{event.source_id} {verb}", link=None, summary=html.escape(event.message, quote=False),
        content="", published=event.at, updated=event.at, authors=("partyfeeds",),
    )
