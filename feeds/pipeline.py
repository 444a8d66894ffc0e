"""The pipeline: the one place that runs the stages in order.

Ingest (per item source)::

    seeds:  read seed documents ─┐
    feeds:  fetch → parse → normalise ─┴→ tag → deduplicate → store

Publish::

    select (newest items per feed, from the store) → render (Atom, OPML, HTML) → write (atomic)

The daemon and the CLI call these functions, never the stages themselves.
Every function takes `now`; none reads the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from feeds import dedupe
from feeds.errors import SeedError
from feeds.merge import merge
from feeds.model import Item
from feeds.seeds import SeedItem, read_seed_file, seed_files
from feeds.store import Store
from feeds.tag import Tagger

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did, per outcome."""

    new: int = 0
    merged: int = 0
    revised: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


def tag_item(tagger: Tagger, item: Item) -> Item:
    """`item` with the parties and topics its text, categories and source give."""
    source_party = next((s.party for s in item.sources if s.party), None)
    tags = tagger.tag(f"{item.title}\n{item.summary}", language=item.language,
                      categories=item.categories, source_party=source_party)
    return replace(item, parties=tags.parties, topics=tags.topics)


def accept(store: Store, item: Item, now: datetime, revision: str = "") -> str:
    """Deduplicate `item` against the store and store it.

    Returns the outcome: "new", "merged" (another source's copy of a stored
    story), "revised" (a stored item changed) or "unchanged".
    """
    keys = dedupe.identity_keys(item)
    existing_id = store.find_by_keys(keys)
    if existing_id is None:
        existing_id = _near_duplicate(store, item)
    if existing_id is None:
        store.save(item, keys=keys, bands=_bands(item), revision=revision, first_seen=now)
        return "new"
    stored = store.get(existing_id)
    assert stored is not None, f"item_keys points at missing item {existing_id}"
    revised = revision != stored.revision and bool(revision)
    merged = merge(stored.item, item, revised=revised)
    if merged == stored.item and not revised:
        store.add_keys(keys, existing_id)  # a new guid or link for the same item
        return "unchanged"
    store.save(merged, keys=(*keys, *dedupe.identity_keys(merged)), bands=_bands(item),
               revision=revision or stored.revision, first_seen=stored.first_seen)
    new_source = {s.source_id for s in merged.sources} != {s.source_id for s in stored.item.sources}
    return "merged" if new_source else "revised"


def _bands(item: Item) -> tuple[int, ...]:
    return dedupe.band_keys(dedupe.minhash(dedupe.title_tokens(item.title)))


def _near_duplicate(store: Store, item: Item) -> str | None:
    for candidate in store.candidates(_bands(item)):
        verdict = dedupe.same_story(candidate, item)
        log.debug("dedupe item=%s candidate=%s same=%s reason=%r", item.id, candidate.id,
                  verdict.same, verdict.reason)
        if verdict.same:
            return candidate.id
    return None


def ingest_items(store: Store, tagger: Tagger, items: Iterable[tuple[Item, str]], now: datetime,
                 report: IngestReport | None = None) -> IngestReport:
    """Tag, deduplicate and store (item, revision marker) pairs in one transaction."""
    report = report or IngestReport()
    with store.transaction():
        for item, revision in items:
            report.count(accept(store, tag_item(tagger, item), now, revision))
    return report


def _with_explicit_tags(seed: SeedItem, tagged: Item) -> Item:
    """A seed document's own parties/topics are the operator's word: they win."""
    return replace(
        tagged,
        parties=tuple(sorted(seed.explicit_parties)) if seed.explicit_parties is not None else tagged.parties,
        topics=tuple(sorted(seed.explicit_topics)) if seed.explicit_topics is not None else tagged.topics,
    )


def ingest_seeds(store: Store, tagger: Tagger, paths: Sequence[Path], now: datetime) -> IngestReport:
    """Ingest every seed document; a malformed one is reported and skipped."""
    report = IngestReport()
    for path in seed_files(paths):
        try:
            seeds = read_seed_file(path, now)
        except SeedError as exc:
            log.error("seed=%s status=error error=%r", path, str(exc))
            report.errors.append(str(exc))
            continue
        before = (report.new, report.merged, report.revised)
        with store.transaction():
            for seed in seeds:
                item = _with_explicit_tags(seed, tag_item(tagger, seed.item))
                report.count(accept(store, item, now, seed.revision))
        log.info("seed=%s status=ok items=%d new=%d merged=%d revised=%d", path.name, len(seeds),
                 report.new - before[0], report.merged - before[1], report.revised - before[2])
    return report
