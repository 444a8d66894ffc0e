"""A batch's Lookup answers exactly as the store's own queries would, before and after saves."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.dedupe import accept, bandcache
from feeds.dedupe.accept import accept_batch, neighbours_since
from feeds.dedupe.keys import identity_keys
from feeds.dedupe.lookup import Lookup
from feeds.dedupe.titles import title_bands
from feeds.model import Item
from feeds.store import Store
from tests.factories import T0, make_item

WORDS = ["KKE", "TKP", "strike", "Athens", "Ankara", "workers", "condemns", "war", "NATO", "rally"]
PARTIES = [(), ("kke",), ("tkp",), ("kke", "tkp")]


def _titles(draw: st.DrawFn, count: int) -> list[str]:
    word_lists = st.lists(st.sampled_from(WORDS), min_size=2, max_size=6)
    return [" ".join(draw(word_lists)) for _ in range(count)]


@st.composite
def batches(draw: st.DrawFn) -> tuple[list, list]:
    """Stored items, then an incoming batch that repeats some of them and rewords others."""
    def link() -> str | None:
        return f"https://example.org/{draw(st.integers(0, 8))}" if draw(st.booleans()) else None

    def items(count: int, source: str) -> list:
        found = []
        for title in _titles(draw, count):  # days apart: some neighbours too old to be the same story
            published = T0 + timedelta(days=draw(st.integers(0, 20)))
            found.append(make_item(title, source=draw(st.sampled_from([source, "shared"])), link=link(),
                                   parties=draw(st.sampled_from(PARTIES)),
                                   language=draw(st.sampled_from(["en", "el"])), published=published,
                                   updated=published + timedelta(hours=draw(st.integers(0, 5)))))
        return found
    return items(draw(st.integers(0, 12)), "stored"), items(draw(st.integers(1, 12)), "incoming")


@settings(max_examples=60, deadline=None)
@given(batches(), st.sampled_from([1, 2, 3, 50]), st.booleans())
def test_lookup_matches_the_store_queries_while_a_batch_is_saved(data: tuple[list, list], newest: int,
                                                                  cache_bands: bool) -> None:
    """`newest` small: crowded bands are read only in part, and the answers must not change.
    `cache_bands`: the store, empty when opened, knows every band (the lookup reads none)."""
    stored, incoming = data
    with Store(":memory:", cache_bands=cache_bands) as store, store.transaction():
        accept_batch(store, [(item, "") for item in stored], T0)
        assert (store.band_cache() is not None) == cache_bands
        keys = [identity_keys(item) for item in incoming]
        bands = title_bands([item.title for item in incoming])
        since = [neighbours_since(item) for item in incoming]
        lookup = Lookup.read(store, keys, bands, newest, since)
        for item, item_keys, item_bands, item_since in zip(incoming, keys, bands, since, strict=True):
            assert lookup.find(item_keys) == store.find_by_keys(item_keys)
            expected = store.candidate_facts(item_bands, newest, item_since)
            assert lookup.candidates(item_bands, item_since) == expected
            # What accept does next: store the item (or its merge) and tell the lookup.
            saved = item if lookup.find(item_keys) is None else store.get(lookup.find(item_keys)).item
            all_keys = (*item_keys, *identity_keys(saved))
            store.save(saved, keys=all_keys, bands=item_bands, revision="", first_seen=T0)
            titles = [e.title for e in store.entries_of(saved.id).values() if not e.title_derived]
            lookup.saved(saved, all_keys, item_bands, titles=titles)


def test_a_batch_sees_its_own_earlier_items() -> None:
    title = "KKE condemns NATO war drills in the Aegean"
    first = make_item(title, source="a", parties=("kke",), language="en")
    copy = make_item(f"{title} sea", source="b", parties=("kke",), language="en")
    with Store(":memory:") as store, store.transaction():
        assert accept_batch(store, [(first, ""), (copy, "")], T0) == ["new", "merged"]
        assert store.count_items() == 1


ITEM_TABLES = ("items", "item_sources", "item_keys", "item_bands", "item_band_lists", "item_tags",
               "item_changes")


def _later(tagged: list[tuple[Item, str]], days: int) -> list[tuple[Item, str]]:
    """The same items revised `days` later: merged into themselves, redated."""
    return [(replace(item, updated=item.updated + timedelta(days=days), summary=f"again {days}"), f"r{days}")
            for item, _ in tagged]


@settings(max_examples=40, deadline=None)
@given(st.lists(batches(), min_size=1, max_size=3))
def test_a_store_that_knows_every_band_makes_the_same_decisions(tmp_path_factory: pytest.TempPathFactory,
                                                                 feeds: list[tuple[list, list]]) -> None:
    """Batches (feeds) of new, repeated and reworded items, then the same revised a day later
    (merges that redate items), accepted by a store that keeps every band in memory, by one
    that drops it part way, by one that reads each batch's band neighbours, and by one that
    reads them however old (no window: the window leaves out only neighbours the date rule
    refuses); then revised again in the store reopened (no longer empty: all read). The same
    outcomes and rows."""
    first = [[(item, "") for item in stored + incoming] for stored, incoming in feeds]
    folder = tmp_path_factory.mktemp("bands")
    results = []
    # Every band in memory throughout; dropped mid-batch (past 5 items); never (reads); no window.
    for cache_bands, limit, window in ((True, 10_000, 8), (True, 5, 8), (False, 0, 8), (False, 0, 100_000)):
        path = folder / f"{cache_bands}-{limit}-{window}.sqlite"
        outcomes = []
        with Store(path, cache_bands=cache_bands) as store, pytest.MonkeyPatch.context() as patch:
            patch.setattr(bandcache, "ITEMS_CACHED", limit)  # read by the store at each batch
            patch.setattr(accept, "NEIGHBOUR_WINDOW", timedelta(days=window))
            for tagged in [*first, *(_later(tagged, 1) for tagged in first)]:
                with store.transaction():
                    outcomes.append(accept_batch(store, tagged, T0))
            if not cache_bands or store.count_items() > limit:
                assert store.band_cache() is None
            elif limit == 10_000:
                assert store.band_cache() is not None
        with Store(path) as store, pytest.MonkeyPatch.context() as patch:
            patch.setattr(accept, "NEIGHBOUR_WINDOW", timedelta(days=window))
            assert store.band_cache() is None
            for tagged in first:
                with store.transaction():
                    outcomes.append(accept_batch(store, _later(tagged, 2), T0))
        with sqlite3.connect(path) as db:
            results.append((outcomes, {table: sorted(db.execute(f"SELECT * FROM {table}"))
                                       for table in ITEM_TABLES}))
    assert results[0] == results[1] == results[2] == results[3]


def test_a_store_forgets_its_bands_when_it_cannot_be_sure(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Another connection's commit, a rollback, or too many items: every band is read again."""
    first, second = make_item("KKE condemns NATO war"), make_item("KKE condemns NATO war drills", source="b")
    bands = title_bands([first.title])[0]
    with Store(tmp_path / "a.sqlite") as store, Store(tmp_path / "a.sqlite") as other:
        assert store.band_cache() is not None and other.band_cache() is not None
        with other.transaction():
            other.save(first, keys=[], bands=bands, revision="", first_seen=T0)
        with store.transaction():
            assert store.band_cache() is None
            assert [c.id for c in Lookup.read(store, [()], [bands]).candidates(bands)] == [first.id]
    with Store(":memory:") as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.save(first, keys=[], bands=bands, revision="", first_seen=T0)
            raise RuntimeError("boom")
        assert store.band_cache() is None
    monkeypatch.setattr(bandcache, "ITEMS_CACHED", 1)
    with Store(":memory:") as store, store.transaction():
        store.save(first, keys=[], bands=bands, revision="", first_seen=T0)
        assert store.band_cache() is not None
        store.save(second, keys=[], bands=bands, revision="", first_seen=T0)
        assert store.band_cache() is None
