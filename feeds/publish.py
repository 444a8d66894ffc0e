"""The publish chain: plan → select → render → write.

plan feeds (feeds/compose.py) → select (each feed's history in the store; its head and
archive pages, feeds/archive.py; heads whose inputs did not change are skipped,
feeds/freshness.py) → render (Atom, JSON Feed, OPML, HTML) → write (atomic; archive pages
once). Also the operator's health feed. `feeds.pipeline` re-exports the entry points, so
callers know one module.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from feeds import archive, compose, freshness
from feeds.compose import PublishOptions
from feeds.jsonfeed import render_json
from feeds.model import FeedSpec, Item, SiteInfo, SourceEvent, item_id
from feeds.pages import INDEX_PATH, OPML_PATH, FeedSummary, render_index, render_opml
from feeds.registry import Registry
from feeds.render import Labels, render_atom
from feeds.store import FeedMark, Store
from feeds.write import PUBLISHED_DIRS, is_published, published_feeds, remove_stale, write_if_changed

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PublishReport:
    """Which files a publish run wrote, left alone and removed."""

    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)


def plan_feeds(registry: Registry, site: SiteInfo, counts: Mapping[tuple[str, str], int],
               options: PublishOptions | None = None, languages: Sequence[str] = ()) -> list[FeedSpec]:
    """`all.atom`, a feed per party and per topic that has items, and those `options` add."""
    planned = compose.plan(registry, site, counts, languages, options or PublishOptions())
    return [feed.spec for feed in planned]


def publish(store: Store, registry: Registry, site: SiteInfo, output_dir: Path,
            options: PublishOptions | None = None) -> PublishReport:
    """Render every feed whose inputs changed (head, archive pages, JSON Feed twins), the OPML
    list and the index; write only what changed, and never rewrite an archive page in place."""
    options = options or PublishOptions()
    report = PublishReport()
    labels = Labels(parties={code: registry.party_label(code) for code in registry.parties},
                    topics={tid: topic.label for tid, topic in registry.topics.items()})
    feeds = compose.plan(registry, site, store.tag_counts(), list(store.language_counts()), options)
    folders = sorted({str(PurePosixPath(f.spec.path).parent) for f in feeds} - {"."} | set(PUBLISHED_DIRS))
    target = _Target(site, labels, options, output_dir, report, set(),
                     published_feeds(output_dir, folders), freshness.context(site, labels, options))
    summaries = [_publish_feed(store, feed, target) for feed in feeds]
    specs = [feed.spec for feed in feeds]
    _write(output_dir, OPML_PATH, render_opml(specs, site), report)
    _write(output_dir, INDEX_PATH, render_index(summaries, site), report)
    report.removed = remove_stale(output_dir, target.published, dirs=folders)
    log.info("publish status=ok feeds=%d written=%d unchanged=%d removed=%d", len(specs),
             len(report.written), report.unchanged, len(report.removed))
    return report


@dataclass(frozen=True, slots=True)
class _Target:
    """Where and how one publish run writes."""

    site: SiteInfo
    labels: Labels
    options: PublishOptions
    output_dir: Path
    report: PublishReport
    published: set[str]
    found: set[str]  # feed files in place when the run started (one walk, not a stat per page)
    shared: str  # freshness.context of this run


def _publish_feed(store: Store, feed: compose.PlannedFeed, target: _Target) -> FeedSummary:
    """Bring the feed's history up to date, then write its head (if its inputs changed) and
    any missing archive page."""
    restarted, mark = _extend_history(store, feed)
    total = store.feed_log_size(feed.log_key)
    documents = archive.chain(feed.spec.path, total, target.options.archive_page_size,
                              target.site.entries_per_feed)
    summary = _publish_head(store, feed, documents[0], mark, target, total)
    for doc in documents[1:]:
        target.published.update((doc.path, doc.json_path))
        # A page in place never changes; a restarted history may have left another one there.
        if not restarted and _in_place(target, doc):
            target.report.unchanged += 2
            continue
        _write_document(feed, doc, store.feed_log_items(feed.log_key, doc.first, doc.last), target)
    return summary


def _extend_history(store: Store, feed: compose.PlannedFeed) -> tuple[bool, FeedMark]:
    """Append the items saved since the last publish that joined the feed; the new watermark
    commits with them, so a crash in between only makes the next run look again."""
    with store.transaction():
        restarted = store.sync_feed_log(feed.log_key, compose.definition(feed.query))
        mark = FeedMark() if restarted else store.feed_mark(feed.log_key)
        seen = store.change_mark()
        store.extend_feed_log(feed.log_key, *compose.where_sql(feed.query), since=mark.seen)
        store.save_feed_mark(feed.log_key, replace(mark, seen=seen))
    return restarted, mark


def _publish_head(store: Store, feed: compose.PlannedFeed, head: archive.Document, mark: FeedMark,
                  target: _Target, total: int) -> FeedSummary:
    """Render the head unless its fingerprint and files are as the last publish left them."""
    target.published.update((head.path, head.json_path))
    stamps = store.feed_log_stamps(feed.log_key, head.first, head.last)
    fingerprint = freshness.fingerprint(target.shared, feed, head, stamps)
    files = freshness.files_stamp(target.output_dir, head)
    if mark.fingerprint == fingerprint and files and mark.files == files:
        target.report.unchanged += 2
        return freshness.summary_from_text(feed.spec, mark.summary)
    items = store.feed_log_items(feed.log_key, head.first, head.last)
    _write_document(feed, head, items, target)
    summary = FeedSummary.from_items(feed.spec, items, total)
    with store.transaction():
        store.save_feed_mark(feed.log_key, replace(
            store.feed_mark(feed.log_key), fingerprint=fingerprint,
            files=freshness.files_stamp(target.output_dir, head), summary=freshness.summary_text(summary)))
    return summary


def _in_place(target: _Target, doc: archive.Document) -> bool:
    if doc.path in target.found and doc.json_path in target.found:
        return True
    return is_published(target.output_dir, doc.path) and is_published(target.output_dir, doc.json_path)


def _write_document(feed: compose.PlannedFeed, doc: archive.Document, items: Sequence[Item],
                    target: _Target) -> None:
    atom = render_atom(feed.spec, items, target.site, target.labels, doc=doc, icon=feed.icon)
    _write(target.output_dir, doc.path, atom, target.report)
    json_feed = render_json(feed.spec, items, target.site, doc, icon=feed.icon)
    _write(target.output_dir, doc.json_path, json_feed, target.report)


def _write(output_dir: Path, relpath: str, data: bytes, report: PublishReport) -> None:
    if write_if_changed(output_dir, relpath, data):
        report.written.append(relpath)
    else:
        report.unchanged += 1


HEALTH_PATH = "health.atom"
HEALTH_ENTRIES = 100


def publish_health(store: Store, site: SiteInfo, output_dir: Path, report: PublishReport) -> None:
    """Write the operator's feed of source failures and recoveries, Atom and JSON Feed.

    The newest HEALTH_ENTRIES events only: an operator's alert feed needs no archive.
    """
    spec = FeedSpec(HEALTH_PATH, "health", None, f"Source health — {site.title}",
                    "Sources that started failing, recovered or were retired")
    items = [_event_item(event) for event in store.source_events(HEALTH_ENTRIES)]
    doc = archive.Document(HEALTH_PATH, first=1, last=len(items), current=HEALTH_PATH)
    _write(output_dir, HEALTH_PATH, render_atom(spec, items, site, Labels(), doc=doc), report)
    _write(output_dir, doc.json_path, render_json(spec, items, site, doc), report)


def _event_item(event: SourceEvent) -> Item:
    verb = {"failure": "is failing", "recovery": "recovered", "retired": "was retired"}[event.kind]
    return Item(
        id=item_id(f"health\x1f{event.source_id}\x1f{event.kind}\x1f{event.at.isoformat()}"),
        title=f"{event.source_id} {verb}", link=None, summary=event.message, content="",
        published=event.at, updated=event.at, authors=("partyfeeds",),
    )
