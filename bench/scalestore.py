"""The scale suite's stores: a million generated items, written straight through the store's API.

Ingesting a million headlines through the feeds would take the better part of an hour; the
scale suite needs a store that looks like one after years of polling, not the polling. So the
corpus' headlines (bench/corpus.py: eight languages, the registry's parties and topics, copies
and rivals) become items as ingest would store them — real identity keys, title bands and tags,
each credited to one of the suite's sources of its party — and go in through `Store.save_new`,
a batch per transaction. Nothing is deduplicated: each headline is an item.

A store is built once per size and kept in the suite's --workdir (`scale-<items>.sqlite`); a
file there with another recipe (the `bench_recipe` meta key) is built again.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.corpus import T0, Generator, Story
from feeds.dedupe.keys import identity_keys
from feeds.dedupe.titles import title_bands
from feeds.model import Item, SourceRef, item_id
from feeds.store import NewItem, Store
from feeds.tag.registry import Registry

RECIPE = "1"  # bump when what `build` writes changes: cached stores are built again
BATCH = 50_000  # items per transaction
BUILD_CACHE_KIB = 1024 * 1024  # SQLite's page cache while building: band and key inserts land all over


def path_for(workdir: Path, items: int) -> Path:
    return workdir / f"scale-{items}.sqlite"


def ensure(workdir: Path, registry: Registry, items: int, sources: int) -> Path:
    """The cached store of `items` items, built if it is missing or from another recipe."""
    path = path_for(workdir, items)
    recipe = f"{RECIPE}:{items}:{sources}"
    if path.exists():
        with Store(path) as store:
            if store.meta("bench_recipe") == recipe:
                return path
        path.unlink()
    partial = path.with_suffix(".building")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    build(partial, registry, items, sources)
    with Store(partial) as store, store.transaction():
        store.set_meta("bench_recipe", recipe)
    with Store(partial) as store:
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # one file to copy
    partial.rename(path)
    return path


def build(path: Path, registry: Registry, items: int, sources: int, seed: int = 11) -> None:
    """Write `items` generated items into the store at `path`, BATCH per transaction."""
    gen = Generator(registry, seed=seed)
    by_party = party_sources(gen.parties, sources)
    with Store(path, cache_bands=False) as store:
        # A file being built has no readers and is thrown away if the build fails: no journal,
        # no syncs (a WAL rewrote the band index's pages dozens of times over).
        store._db.execute("PRAGMA journal_mode = OFF")
        store._db.execute("PRAGMA synchronous = OFF")
        store._db.execute(f"PRAGMA cache_size = -{BUILD_CACHE_KIB}")
        for batch in _batches(gen.stream(items), BATCH):
            new = new_items([to_item(story, by_party) for story in batch])
            with store.transaction():
                store.save_new(new, T0)


def new_items(items: Sequence[Item]) -> list[NewItem]:
    """Items with their identity keys and title bands, as ingest stores new items."""
    bands = title_bands([item.title for item in items])
    return [NewItem(item, identity_keys(item), item_bands, "")
            for item, item_bands in zip(items, bands, strict=True)]


def party_sources(parties: Sequence[str], sources: int) -> dict[str, list[str]]:
    """The suite's source ids of each party, as bench.corpus.sources numbers them (every
    seventh source is an aggregator: its party's stories are credited to the first source)."""
    found: dict[str, list[str]] = {}
    for index in range(sources):
        if index % 7:
            found.setdefault(parties[index % len(parties)], []).append(f"bench-{index:05d}")
    return found


def to_item(story: Story, by_party: dict[str, list[str]], prefix: str = "") -> Item:
    """The stored item of a generated headline, credited to a source of its party; `prefix`
    makes its id and link new (the suite's incoming items), and credits each copy of a story
    to a source of its own (by its link), as aggregators carry them: copies merge."""
    link = story.link.replace("://", f"://{prefix}", 1) if prefix else story.link
    owners = by_party.get(story.party) or ["bench-00000"]
    source = owners[(zlib.crc32(link.encode()) if prefix else story.key) % len(owners)]
    return Item(id=item_id(f"{source}\x1f{link}"), title=story.title, link=link, summary=story.summary,
                content="", published=story.published, updated=story.published, language=story.language,
                sources=(SourceRef(source, f"{story.party} news ({story.language})", link, story.party),),
                parties=(story.party,), topics=(story.topic,))


def _batches(stories: Iterator[Story], size: int) -> Iterator[list[Story]]:
    while batch := list(itertools.islice(stories, size)):
        yield batch
