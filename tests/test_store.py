from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from feeds.errors import StoreError
from feeds.model import SourceRef, SourceState
from feeds.store import NewItem, Store, to_text
from feeds.store.schema import MIGRATIONS
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
    every_field = SourceState(  # each field its own value: a field stored in another's column shows
        "pcp", "https://pcp.pt/rss", etag='"e"', last_modified="Wed, 01 May 2024 10:00:00 GMT",
        body_hash="h" * 64, last_attempt=T0, last_success=T0 - timedelta(days=1), last_error="HTTP 500",
        error_count=3, next_fetch=T0 + timedelta(minutes=5), retired=False, moved_to="https://pcp.pt/feed",
        moved_count=1, item_count=42, configured_url="http://pcp.pt/rss")
    with Store(":memory:") as store:
        assert store.source_state("kke-902") is None
        store.save_source_state(state)
        store.save_source_states([every_field])
        assert store.source_state("kke-902") == state
        assert store.source_states() == {"kke-902": state, "pcp": every_field}


def test_schema_is_migrated_and_reopened(tmp_path: Path) -> None:
    path = tmp_path / "db" / "pf.sqlite"
    with Store(path) as store, store.transaction():
        store.save(make_item("kept"), keys=[], bands=[], revision="", first_seen=T0)
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.count_items() == 1
        store.check()


def test_a_store_from_before_source_sites_reads_them_as_unknown_until_saved_again(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    item = make_item("kept", link="https://a.example/1")
    with Store(path) as store, store.transaction():
        store.save(item, keys=["id:a"], bands=[1], revision="", first_seen=T0)
    with sqlite3.connect(path) as db:  # as the code before the migration left it
        db.execute("ALTER TABLE item_sources DROP COLUMN site")
        db.execute("ALTER TABLE sources DROP COLUMN malformed")  # and the migration after it
        db.execute("ALTER TABLE feed_marks DROP COLUMN first_published")
        db.execute("DROP TABLE seed_documents")  # and the ones after that
        for column in ("pages", "pages_stamp"):
            db.execute(f"ALTER TABLE feed_marks DROP COLUMN {column}")
        sites = next(n for n, script in enumerate(MIGRATIONS) if "ADD COLUMN site" in script)
        db.execute(f"PRAGMA user_version = {sites}")
    sited = replace(item, sources=(replace(item.sources[0], site="https://a.example/"),))
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        stored = store.get(item.id)
        assert stored is not None and stored.item == item and item.sources[0].site is None
        with store.transaction():
            store.save(sited, keys=["id:a"], bands=[1], revision="", first_seen=T0)
        assert store.get_many([item.id])[0].item == sited


def test_a_store_from_before_the_keys_index_was_dropped_keeps_its_rows(tmp_path: Path) -> None:
    """The migration that drops item_keys_by_item, run on a store the code before it wrote."""
    dropped = next(n for n, script in enumerate(MIGRATIONS)
                   if "DROP INDEX IF EXISTS item_keys_by_item" in script)
    path = tmp_path / "old.sqlite"
    item = make_item("kept")
    with Store(path) as store, store.transaction():
        store.save(item, keys=["id:a", "link:b"], bands=[1, 2], revision="", first_seen=T0)
    with sqlite3.connect(path) as db:  # as the code before the migration left it
        db.execute("CREATE INDEX item_keys_by_item ON item_keys (item_id)")
        for column in ("pages_base", "first_published", "pages", "pages_stamp"):  # later migrations'
            db.execute(f"ALTER TABLE feed_marks DROP COLUMN {column}")
        db.execute("ALTER TABLE sources DROP COLUMN malformed")
        for column in ("title_derived", "enclosures", "source_ids"):
            db.execute(f"ALTER TABLE items DROP COLUMN {column}")
        for table in ("item_entries", "dedupe_splits", "store_meta", "seed_documents"):
            db.execute(f"DROP TABLE {table}")
        db.execute("ALTER TABLE item_sources DROP COLUMN site")
        db.execute(f"PRAGMA user_version = {dropped}")
        before = {table: sorted(db.execute(f"SELECT * FROM {table}"))
                  for table in ("item_keys", "item_bands", "item_band_lists", "item_changes")}
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        store.check()
        assert store.find_by_keys(["link:b"]) == item.id
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'item_keys_by_item'").fetchall() == []
        assert {table: sorted(db.execute(f"SELECT * FROM {table}")) for table in before} == before
        # Migration 10 lists each item's sources on its row, and no item counts as changed.
        assert db.execute("SELECT source_ids FROM items").fetchall() == [("agency",)]


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
        store.sync_feed_log("all", None)
        store.extend_feed_log("all", None)
        streamed = list(store.feed_log_stream("all", 2, 5))
        assert [seq for seq, _ in streamed] == [2, 3, 4, 5]
        assert [item for _, item in streamed] == store.feed_log_items("all", 2, 5) == items[1:5]


def test_a_band_reads_its_newest_members_after_an_item_is_redated() -> None:
    old, other = make_item("old", updated=T0), make_item("other", updated=T0 + timedelta(hours=1))
    with Store(":memory:") as store, store.transaction():
        store.save(old, keys=[], bands=[5], revision="", first_seen=T0)
        store.save(other, keys=[], bands=[5], revision="", first_seen=T0)
        assert store.band_members([[5]], newest=1)[0] == {5: {other.id}}
        store.save(replace(old, updated=T0 + timedelta(hours=2)), keys=[], bands=[6], revision="",
                   first_seen=T0)
        assert store.band_members([[5], [6]], newest=1)[0] == {5: {old.id}, 6: {old.id}}
        assert [c.id for c in store.candidate_facts([5], limit=1)] == [old.id]


def test_a_store_from_before_dated_bands_opens_with_its_bands(tmp_path: Path) -> None:
    """The migration that puts `updated` into item_bands fills it from the items (no number is
    hard-coded: other migrations may come before or after it)."""
    dated = next(n for n, script in enumerate(MIGRATIONS) if "item_band_lists" in script)
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # a store as the code before the migration left it
        for script in MIGRATIONS[:dated]:
            db.executescript(script)
        db.execute(f"PRAGMA user_version = {dated}")
        for item_id, hour in (("a", 0), ("b", 1)):
            db.execute("INSERT INTO items (id, title, summary, content, published, updated, authors, "
                       "parties, topics, categories, first_seen) "
                       "VALUES (?, ?, '', '', ?, ?, '[]', '[]', '[]', '[]', ?)",
                       (item_id, item_id, f"2024-03-01T1{hour}:00:00.000000Z",
                        f"2024-03-01T1{hour}:00:00.000000Z", "2024-03-01T10:00:00.000000Z"))
        db.executemany("INSERT INTO item_bands VALUES (?, ?)", [(1, "a"), (2, "a"), (2, "b")])
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        store.check()
        assert store.band_members([[1], [2]], newest=1)[0] == {1: {"a"}, 2: {"b"}}
        assert store.band_members([[2]], newest=2)[0] == {2: {"a", "b"}}
        assert sorted(store.bands_of("a")) == [1, 2]


def test_cached_candidate_facts_follow_another_connections_commit(tmp_path: Path) -> None:
    item = make_item("before", updated=T0)
    with Store(tmp_path / "pf.sqlite") as reader, Store(tmp_path / "pf.sqlite") as writer:
        with writer.transaction():
            writer.save(item, keys=[], bands=[3], revision="", first_seen=T0)
        with reader.transaction():
            assert reader.band_members([[3]])[1][item.id].title == "before"
        with writer.transaction():
            writer.save(replace(item, title="after"), keys=[], bands=[3], revision="", first_seen=T0)
        with reader.transaction():
            assert reader.band_members([[3]])[1][item.id].title == "after"


def test_cached_candidate_facts_do_not_outlive_a_rollback() -> None:
    item = make_item("kept", updated=T0)
    with Store(":memory:") as store:
        with store.transaction():
            store.save(item, keys=[], bands=[3], revision="", first_seen=T0)
        with pytest.raises(RuntimeError), store.transaction():
            store.save(replace(item, title="rolled back"), keys=[], bands=[3], revision="", first_seen=T0)
            assert store.band_members([[3]])[1][item.id].title == "rolled back"
            raise RuntimeError("boom")
        with store.transaction():
            assert store.band_members([[3]])[1][item.id].title == "kept"


def test_band_members_are_the_newest_of_each_items_union_of_bands() -> None:
    """Only the ids that can be a candidate of some item come back, filed under their bands."""
    old, mid, new = (make_item(title, updated=T0 + timedelta(hours=n)) for n, title in enumerate("abc"))
    with Store(":memory:") as store, store.transaction():
        store.save(old, keys=[], bands=[1], revision="", first_seen=T0)
        store.save(mid, keys=[], bands=[1, 2], revision="", first_seen=T0)
        store.save(new, keys=[], bands=[2], revision="", first_seen=T0)
        assert store.band_members([[1, 2]], newest=2)[0] == {1: {mid.id}, 2: {mid.id, new.id}}
        assert store.band_members([[1], [1, 2]], newest=1)[0] == {1: {mid.id}, 2: {new.id}}



def test_band_members_older_than_since_are_not_read() -> None:
    """The window of a band read: members updated before `since` are left out, however few the
    newer ones are (deduplication's date rule would refuse them)."""
    old, new = (make_item(title, updated=T0 + timedelta(days=n)) for n, title in ((0, "old"), (30, "new")))
    since = to_text(T0 + timedelta(days=20)) or ""
    with Store(":memory:") as store, store.transaction():
        for item in (old, new):
            store.save(item, keys=[], bands=[1], revision="", first_seen=T0)
        assert store.band_members([[1]], since=[since])[0] == {1: {new.id}}
        assert store.band_members([[1]], since=[""])[0] == {1: {old.id, new.id}}
        assert [c.id for c in store.candidate_facts([1], since=since)] == [new.id]

ITEM_TABLES = ("items", "item_sources", "item_keys", "item_bands", "item_band_lists", "item_tags",
               "item_changes")


def test_new_items_saved_together_give_the_rows_saved_one_by_one(tmp_path: Path) -> None:
    two_sources = (SourceRef("kke-902", "902", "https://902.gr/a", "kke"), SourceRef("agency", "Agency"))
    items = [make_item(f"item {n}", updated=T0 + timedelta(hours=n % 3), authors=("A", "B")[: n % 3],
                       categories=("News",) * (n % 2), parties=("kke", "tkp")[: n % 3],
                       topics=("war",) * (n % 2), language="el" if n % 2 else None)
             for n in range(6)]
    items[2] = replace(items[2], sources=two_sources)
    items[4] = replace(items[4], sources=())
    new = [NewItem(item, (f"id:{item.id}", f"link:{n % 2}-{n}"), (n % 4, 10 + n, n % 4), f"r{n}")
           for n, item in enumerate(items)]
    tables = []
    for together in (False, True):
        with Store(tmp_path / f"{together}.sqlite") as store, store.transaction():
            store.save(make_item("stored first"), keys=["id:0"], bands=[1], revision="", first_seen=T0)
            if together:
                store.save_new(new, T0)
            else:
                for item, keys, bands, revision in new:
                    store.save(item, keys=keys, bands=bands, revision=revision, first_seen=T0)
        with sqlite3.connect(tmp_path / f"{together}.sqlite") as db:
            tables.append({table: sorted(db.execute(f"SELECT * FROM {table}")) for table in ITEM_TABLES})
    assert tables[0] == tables[1]
    assert len(tables[1]["item_changes"]) == 7
