"""Render a publish run's documents, each item once (the publish chain's select → render).

A first publish of 100,000 items writes ~12,000 files holding ~300,000 entries: every item
sits in all.atom and in its party and topic feeds (and country, language, composed ones).
Each item is read from the store and rendered (Atom entry, JSON Feed item) once where it can
be, and spliced as text into every document that holds it (feeds/publish/atomtext.py,
feeds/publish/jsonfeed.py).

Memory is bounded by CHUNK_ENTRIES, not by the size of the store. A job names its document
(a feed's head or archive page: a range of the feed's history), not its items. Documents are
rendered in the order their newest item joined the "all" history, so the documents that
share an item come close together, in chunks of about CHUNK_ENTRIES entries: a chunk's item
ids are read, each item's uses in the chunk counted, and its rendering dropped as soon as the
chunk's last document needing it is done. An item whose documents fall in two chunks (or two
worker processes' runs) is rendered in each.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from feeds import forkserver
from feeds.errors import PublishError
from feeds.model import Item, SiteInfo
from feeds.publish import formats
from feeds.publish.archive import Document
from feeds.publish.compose import PlannedFeed
from feeds.publish.entryparts import Labels, newest_first
from feeds.publish.pages import LATEST_PER_FEED, FeedSummary
from feeds.publish.write import Writer
from feeds.reports import Progress, Step
from feeds.store.interface import FeedStorage, Storage

STREAM_MIN = 1_000  # "all" entries a run renders before its items are read off one cursor (_stream)
CHUNK_ENTRIES = 20_000  # entries of the documents rendered together (their item ids and renderings held)
ALL = "all"  # the history of every item: places are its sequence numbers
PARTS_PER_WORKER = 4  # runs of jobs per worker process: progress is heard as each ends


@dataclass(frozen=True, slots=True)
class Job:
    """One document to render: its feed, its place in the chain, where its items lie in "all"."""

    feed: PlannedFeed
    doc: Document
    total: int  # entries in the feed's whole history (the index shows it)
    place: int  # the newest place of its items in the "all" history: the rendering order
    start: int = 0  # the oldest place of its items there (0: none is in it)
    updated_if_empty: datetime | None = None  # when the feed was first published: an empty head's `updated`

    @property
    def entries(self) -> int:
        """How many entries it holds at most (an item deleted since it joined leaves a gap)."""
        return max(0, self.doc.last - self.doc.first + 1)


@dataclass(frozen=True, slots=True)
class Entry:
    """One item, rendered: what every document holding it needs."""

    id: str
    updated: datetime
    parts: tuple[str, ...]  # its rendering in each format of FORMATS
    title: str
    link: str | None


def jobs(store: FeedStorage, feed: PlannedFeed, total: int, docs: Sequence[Document],
         first_published: datetime | None = None) -> list[Job]:
    """The jobs for `docs` of `feed`: where each one's items lie in the "all" history, read off
    one cursor over the feed's history (no item id is kept). `first_published`: when the feed
    was first published, the `updated` of its head while it is empty."""
    if not docs:
        return []
    ordered = sorted(docs, key=lambda doc: doc.first)
    firsts = [doc.first for doc in ordered]
    newest, oldest = [0] * len(ordered), [0] * len(ordered)
    for seq, place in store.feed_log_places(feed.log_key, firsts[0], max(doc.last for doc in ordered)):
        index = bisect_right(firsts, seq) - 1
        if not place or seq > ordered[index].last:  # not in "all", or between two documents
            continue
        newest[index] = max(newest[index], place)
        oldest[index] = min(oldest[index], place) if oldest[index] else place
    return [Job(feed, doc, total, newest[n], oldest[n], first_published) for n, doc in enumerate(ordered)]


@dataclass(slots=True)
class Written:
    """What rendering and writing a list of jobs did: files written, files left as they were,
    and the index summary of every head rendered (by feed log key)."""

    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    heads: dict[str, FeedSummary] = field(default_factory=dict)


def write_jobs(store: FeedStorage, todo: Sequence[Job], site: SiteInfo, labels: Labels,
               output_dir: Path, progress: Progress | None = None) -> Written:
    """Render every job's Atom document and JSON Feed twin and write those that changed;
    `progress` hears of each job's two files."""
    result = Written()
    with Writer(output_dir) as writer:
        for job, entries in render(store, todo, site, labels):
            rendered = files(job, entries, site, labels)
            for path, data in zip(formats.paths(job.doc.path), rendered, strict=True):
                writer.write(path, data)
            if progress is not None:
                progress(Step("files", len(formats.FORMATS) * len(todo), len(formats.FORMATS)))
            if not job.doc.is_archive:
                result.heads[job.feed.log_key] = summary(job, entries)
        for relpath, written in writer.close():
            if written:
                result.written.append(relpath)
            else:
                result.unchanged += 1
    return result


def write_jobs_in_parallel(opener: Callable[[], Storage], todo: Sequence[Job], site: SiteInfo, labels: Labels,
                           output_dir: Path, workers: int, progress: Progress | None = None) -> Written:
    """`write_jobs` on `workers` processes, each given runs of jobs in rendering order (so only
    the documents at a boundary render an item twice) and its own store connection; PARTS_PER_WORKER
    runs each, so `progress` hears of a run's files as it ends."""
    ordered = sorted(todo, key=lambda job: job.place)
    share = -(-len(ordered) // (workers * PARTS_PER_WORKER))
    parts = [ordered[start:start + share] for start in range(0, len(ordered), share)]
    result = Written()
    with ProcessPoolExecutor(min(workers, len(parts)), mp_context=forkserver.context(),
                             initializer=forkserver.lower_priority) as pool:
        for part, done in zip(parts, pool.map(_write_part, [(opener, part, site, labels, output_dir)
                                                            for part in parts]), strict=True):
            _add(result, done)
            if progress is not None:
                progress(Step("files", len(formats.FORMATS) * len(todo), len(formats.FORMATS) * len(part)))
    return result


def _add(result: Written, part: Written) -> None:
    result.written += part.written
    result.unchanged += part.unchanged
    result.heads.update(part.heads)


def _write_part(args: tuple[Callable[[], Storage], Sequence[Job], SiteInfo, Labels, Path]) -> Written:
    opener, todo, site, labels, output_dir = args
    with opener() as store:
        return write_jobs(store, todo, site, labels, output_dir)


def render(store: FeedStorage, todo: Sequence[Job], site: SiteInfo, labels: Labels
           ) -> Iterator[tuple[Job, list[Entry]]]:
    """Each job with its entries, newest first, in place order, a chunk at a time (see the
    module doc); an item is read and rendered once per chunk."""
    ordered = sorted(todo, key=lambda job: job.place)
    stream = _stream(store, ordered)
    for chunk in _chunks(ordered):
        ids = [store.feed_log_ids(job.feed.log_key, job.doc.first, job.doc.last) for job in chunk]
        uses = Counter(item_id for item_ids in ids for item_id in item_ids)
        rendered: dict[str, Entry] = {}
        for job, item_ids in zip(chunk, ids, strict=True):
            if stream is not None:  # up to the job's place: every item of it that "all" holds
                for item in stream.until(job.place):
                    if uses[item.id] and item.id not in rendered:
                        rendered[item.id] = entry(item, site, labels)
            missing = [item_id for item_id in item_ids if item_id not in rendered]
            for stored in store.get_many(missing) if missing else ():
                rendered[stored.item.id] = entry(stored.item, site, labels)
            yield job, newest_first([rendered[item_id] for item_id in item_ids if item_id in rendered])
            for item_id in item_ids:
                uses[item_id] -= 1
                if not uses[item_id]:
                    rendered.pop(item_id, None)


def _chunks(ordered: Sequence[Job]) -> Iterator[Sequence[Job]]:
    """Runs of consecutive jobs of about CHUNK_ENTRIES entries (one job at least)."""
    start, held = 0, 0
    for end, job in enumerate(ordered):
        if held and held + job.entries > CHUNK_ENTRIES:
            yield ordered[start:end]
            start, held = end, 0
        held += job.entries
    if start < len(ordered):
        yield ordered[start:]


class _Stream:
    """The "all" history's items in order, off one cursor, handed out up to a place."""

    def __init__(self, rows: Iterator[tuple[int, Item]]) -> None:
        self._rows = rows
        self._next = next(rows, None)

    def until(self, place: int) -> Iterator[Item]:
        while self._next is not None and self._next[0] <= place:
            yield self._next[1]
            self._next = next(self._rows, None)


def _stream(store: FeedStorage, ordered: Sequence[Job]) -> _Stream | None:
    """One cursor over the stretch of the "all" history that the run's "all" documents cover,
    up to the newest place of any job, when they are most of it (a first publish, a backlog, a
    worker's run of one: ~10× cheaper than reading the items by id); None when a run renders a
    few "all" entries (the heads a change touched), whose items `get_many` reads."""
    in_all = [job for job in ordered if job.feed.log_key == ALL and job.start]
    held = sum(job.entries for job in in_all)
    if held < STREAM_MIN:
        return None
    first, last = min(job.start for job in in_all), max(job.place for job in ordered)
    if 2 * held < last - first + 1:
        return None
    return _Stream(store.feed_log_stream(ALL, first, last))


def entry(item: Item, site: SiteInfo, labels: Labels) -> Entry:
    parts = tuple(fmt.entry(item, site, labels) for fmt in formats.FORMATS)
    return Entry(item.id, item.updated, parts, item.title, item.link)


def files(job: Job, entries: Sequence[Entry], site: SiteInfo, labels: Labels) -> list[bytes]:
    """The job's document in each format of FORMATS."""
    updated = entries[0].updated if entries else job.updated_if_empty
    if updated is None:
        raise PublishError(f"{job.doc.path}: an empty feed needs the time it was first published")
    return [fmt.document(formats.Page(job.feed.spec, site, labels, job.doc, [e.parts[n] for e in entries],
                                      updated.isoformat(), job.feed.icon))
            for n, fmt in enumerate(formats.FORMATS)]


def summary(job: Job, entries: Sequence[Entry]) -> FeedSummary:
    """The index page's summary of a head: FeedSummary.from_items of the same items."""
    latest = tuple((e.title, e.link) for e in entries[:LATEST_PER_FEED])
    return FeedSummary(job.feed.spec, job.total, entries[0].updated if entries else None, latest)
