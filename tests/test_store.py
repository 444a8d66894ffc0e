from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from feeds.errors import StoreError
from feeds.model import SourceRef, SourceState
from feeds.schema import MIGRATIONS
from feeds.store import Store
from tests.factories import T0, make_item


def test_save_and_read_back_round_trips() -> None:
    item = make_item("KKE on Jerusalem", link="https://inter.kke.gr/a", parties=("kke",),
                     topics=("palestine",), authors=("KKE",), language="en", categories=("News",))
    with Store(":memory:") as store, store.transaction():
        store.save(item, keys=["id:x", "link:y"], bands=[1, 2], revision="(updated)", first_seen=T0)
        stored = store.get(item.id)
        assert stored is not None
        assert stored.item == item
        assert (stored.revision, stored.first_seen) == ("(updated)", T0)
        assert store.find_by_keys(["nope", "link:y"]) == item.id


def test_latest_per_tag_is_newest_first_and_limited() -> None:
    with Store(":memory:") as store, store.transaction():
        for n in range(5):
            item = make_item(f"item {n}", parties=("kke",) if n % 2 else ("tkp",),
                             updated=T0 + timedelta(hours=n))
            store.save(item, keys=[], bands=[], revision="", first_seen=T0)
        assert [i.title for i in store.latest(10, "party", "kke")] == ["item 3", "item 1"]
        assert [i.title for i in store.latest(2)] == ["item 4", "item 3"]
        assert store.tag_counts() == {("party", "kke"): 2, ("party", "tkp"): 3}


def test_resave_replaces_tags_and_sources() -> None:
    item = make_item("x", parties=("kke",))
    with Store(":memory:") as store, store.transaction():
        store.save(item, keys=[], bands=[7], revision="", first_seen=T0)
        store.save(replace(item, parties=("tkp",)), keys=[], bands=[8], revision="", first_seen=T0)
        assert store.tag_counts() == {("party", "tkp"): 1}
        assert [c.id for c in store.candidate_facts([7])] == [item.id]  # bands accumulate
        assert store.source_item_counts() == {"agency": 1}


def test_transaction_rolls_back_on_error() -> None:
    with Store(":memory:") as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.save(make_item("x"), keys=[], bands=[], revision="", first_seen=T0)
            raise RuntimeError("boom")
        assert store.count_items() == 0


def test_source_state_round_trips() -> None:
    state = SourceState("kke-902", "https://902.gr/feed", etag='"abc"', last_success=T0, error_count=2,
                        next_fetch=T0 + timedelta(hours=1), retired=True)
    with Store(":memory:") as store:
        assert store.source_state("kke-902") is None
        store.save_source_state(state)
        assert store.source_state("kke-902") == state


def test_schema_is_migrated_and_reopened(tmp_path: Path) -> None:
    path = tmp_path / "db" / "pf.sqlite"
    with Store(path) as store, store.transaction():
        store.save(make_item("kept"), keys=[], bands=[], revision="", first_seen=T0)
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.count_items() == 1
        store.check()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pf.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer than this"):
        Store(path)


def test_unopenable_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"not-a-db\.sqlite"):
        Store(path)


def test_resave_keeps_identity_keys() -> None:
    item = make_item("x")
    with Store(":memory:") as store, store.transaction():
        store.save(item, keys=["link:a"], bands=[], revision="", first_seen=T0)
        store.save(replace(item, title="y"), keys=["link:b"], bands=[], revision="", first_seen=T0)
        assert store.find_by_keys(["link:a"]) == store.find_by_keys(["link:b"]) == item.id


def test_a_history_read_off_one_cursor_holds_the_items_read_by_id() -> None:
    two_sources = (SourceRef("kke-902", "902", "https://902.gr/a", "kke"), SourceRef("agency", "Agency"))
    items = [make_item(f"item {n}", updated=T0 + timedelta(hours=n), authors=("A", "B")[: n % 3],
                       categories=("News",) * (n % 2), parties=("kke",), language="el" if n % 2 else None)
             for n in range(6)]
    items[2] = replace(items[2], sources=two_sources)
    items[4] = replace(items[4], sources=())
    with Store(":memory:") as store, store.transaction():
        for item in items:
            store.save(item, keys=[], bands=[], revision="", first_seen=T0)
        store.sync_feed_log("all", "every item")
        store.extend_feed_log("all", "1", [])
        streamed = list(store.feed_log_stream("all", 2, 5))
        assert [seq for seq, _ in streamed] == [2, 3, 4, 5]
        assert [item for _, item in streamed] == store.feed_log_items("all", 2, 5) == items[1:5]
