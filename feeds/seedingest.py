"""Seed documents into the store: skip what did not change, tag and accept what did.

A seed document unchanged since it was last ingested costs a `stat`: its size, mtime and the
context of reading it (the registry, the seed language and publisher, this version) match its
mark in the store. One whose bytes did not change costs a hash. A changed one is read twice
over its text: once to check every item (a malformed document is refused whole, before
anything of it is stored) and note their digests, then again to tag, deduplicate and store
its items that were not there last time (by digest: what the document says of them),
SEED_ITEMS_PER_COMMIT at a time, so memory holds a chunk of items, not the document's tens of
thousands. The mark is saved with the last chunk, so a run cut short reads the document again
(seed ids are stable: nothing is stored twice).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import islice
from pathlib import Path

from feeds.dedupe.accept import accept_batch
from feeds.errors import SeedError
from feeds.model import Item, SeedMark
from feeds.parse.seeds import SeedFile, SeedItem, check_tags, first_seen, open_seed_file, seed_files
from feeds.reports import IngestReport, Progress, Step
from feeds.store.interface import IngestStorage
from feeds.tag import Tagger, tag_item

log = logging.getLogger(__name__)

SEED_ITEMS_PER_COMMIT = 1000


@dataclass(frozen=True, slots=True)
class SeedDocument:
    """A seed document to accept: its new items, tagged a chunk at a time as `chunks` is walked
    (on the walker's thread), and the mark to save with the last chunk."""

    path: Path
    chunks: Iterable[list[tuple[Item, str]]]  # (item, revision marker)s; one chunk at least
    mark: SeedMark
    items: int  # in the document, new or not
    read: int  # items read from the file this time (0: its bytes had not changed)


def read_seeds(tagger: Tagger, paths: Sequence[Path], now: datetime, language: str | None,
               publisher: str, report: IngestReport,
               marks: Mapping[str, SeedMark] | None = None,
               progress: Progress | None = None) -> Iterator[SeedDocument]:
    """Each seed document that changed since its mark, with its new items tagged; a malformed
    document is logged, added to `report.errors` and skipped (and read again next time).

    `language`: the language of seed items that do not name one; `publisher`: who is credited
    for the documents that do not name their own. Undated items are first seen at `now`, then
    a second earlier each, across the documents read in order: no two share an instant.
    """
    context = reading_context(tagger, language, publisher)
    start = now
    files = seed_files(paths)
    for path in files:
        document = _read_logged(tagger, path, (marks or {}).get(mark_key(path)), context, start, language,
                                publisher, report)
        if document is not None:
            start = first_seen(start, document.read)
            yield document  # accepted by the caller before this generator goes on
        if progress is not None:
            progress(Step("seed documents", len(files), 1, {"new": report.new, "merged": report.merged}))


def _read_logged(tagger: Tagger, path: Path, mark: SeedMark | None, context: str, start: datetime,
                 language: str | None, publisher: str, report: IngestReport) -> SeedDocument | None:
    """`_changed`, its outcome logged: None if the document did not change or is malformed."""
    try:
        document = _changed(tagger, path, mark, context, start, language, publisher)
    except SeedError as exc:
        log.error("seed=%s status=error error=%r", path, str(exc))
        report.errors.append(str(exc))
        return None
    if document is None:
        log.info("seed=%s status=not_modified", path.name)
    return document


def _changed(tagger: Tagger, path: Path, mark: SeedMark | None, context: str, start: datetime,
             language: str | None, publisher: str) -> SeedDocument | None:
    """The document at `path` with its items not in `mark`, tagged; None if it did not change."""
    try:
        stat = path.stat()
        if mark is not None and (mark.size, mark.mtime_ns, mark.context) == (stat.st_size, stat.st_mtime_ns,
                                                                             context):
            return None
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise SeedError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
    if mark is not None and (mark.sha256, mark.context) == (digest, context):  # touched, not changed
        return SeedDocument(path, [[]], replace(mark, size=stat.st_size, mtime_ns=stat.st_mtime_ns),
                            len(mark.items), read=0)
    seeds = open_seed_file(path, start, publisher)
    digests, count = set(), 0
    for seed in seeds.items():  # every item checked before any is stored
        check_tags([seed], tagger.registry.parties, tagger.registry.topics)
        digests.add(seed.digest)
        count += 1
    known = mark.items if mark is not None and mark.context == context else frozenset()
    new_mark = SeedMark(stat.st_size, stat.st_mtime_ns, digest, context, frozenset(digests))
    return SeedDocument(path, _tagged_chunks(tagger, seeds, known, language), new_mark, count, read=count)


def _tagged_chunks(tagger: Tagger, seeds: SeedFile, known: Collection[str], language: str | None
                   ) -> Iterator[list[tuple[Item, str]]]:
    """The document's items not in `known`, tagged, SEED_ITEMS_PER_COMMIT at a time; one chunk
    at least (maybe empty: the mark is saved with it)."""
    new = (seed for seed in seeds.items() if seed.digest not in known)
    chunk = [(_tagged(tagger, seed, language), seed.revision) for seed in islice(new, SEED_ITEMS_PER_COMMIT)]
    yield chunk
    while chunk := [(_tagged(tagger, seed, language), seed.revision)
                    for seed in islice(new, SEED_ITEMS_PER_COMMIT)]:
        yield chunk


def with_last(chunks: Iterable[list[tuple[Item, str]]]) -> Iterator[tuple[list[tuple[Item, str]], bool]]:
    """Each chunk, and whether it is the last (read one ahead)."""
    ahead = iter(chunks)
    current = next(ahead, None)
    while current is not None:
        following = next(ahead, None)
        yield current, following is None
        current = following


def accept_seed_chunk(store: IngestStorage, *, document: SeedDocument, chunk: list[tuple[Item, str]],
                      last: bool, now: datetime, report: IngestReport) -> None:
    """Deduplicate and store one chunk of a document's new items in one transaction; the
    document's mark commits with the last chunk."""
    with store.transaction():
        for outcome in accept_batch(store, chunk, now):
            report.count(outcome)
        if last:
            store.save_seed_mark(mark_key(document.path), document.mark)


def accept_seed_document(store: IngestStorage, *, document: SeedDocument, now: datetime,
                         report: IngestReport) -> None:
    """Tag, deduplicate and store a document's new items on this thread, a chunk per
    transaction, and log it (`Ingest.ingest_seeds` tags here and stores on its writer)."""
    before, changed = report.counts(), 0
    for chunk, last in with_last(document.chunks):
        accept_seed_chunk(store, document=document, chunk=chunk, last=last, now=now, report=report)
        changed += len(chunk)
    log_seed_document(document, report, before, changed)


def log_seed_document(document: SeedDocument, report: IngestReport, before: tuple[int, int, int],
                      changed: int) -> None:
    """The document's one INFO line: `before` is `report.counts()` before it was accepted."""
    new, merged, revised = (now - then for now, then in zip(report.counts(), before, strict=True))
    log.info("seed=%s status=ok items=%d new=%d merged=%d revised=%d changed=%d", document.path.name,
             document.items, new, merged, revised, changed)


def mark_key(path: Path) -> str:
    return str(path.resolve())


def reading_context(tagger: Tagger, language: str | None, publisher: str) -> str:
    """What tagging a seed document depends on besides its bytes: a change re-reads every one."""
    try:
        version = importlib.metadata.version("partyfeeds")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    text = repr((version, language, publisher, tagger.registry))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _tagged(tagger: Tagger, seed: SeedItem, language: str | None) -> Item:
    return _with_explicit_tags(seed, tag_item(tagger, _with_language(seed.item, language)))


def _with_explicit_tags(seed: SeedItem, tagged: Item) -> Item:
    """A seed document's own parties/topics are the operator's word: they win."""
    return replace(
        tagged,
        parties=tuple(sorted(seed.explicit_parties)) if seed.explicit_parties is not None else tagged.parties,
        topics=tuple(sorted(seed.explicit_topics)) if seed.explicit_topics is not None else tagged.topics,
    )


def _with_language(item: Item, language: str | None) -> Item:
    return replace(item, language=language) if language and not item.language else item
