"""The store: SQLite storage of items, source state and the published feeds' histories.

The rest of partyfeeds sees the protocols of feeds/store/interface.py, never SQL: a feed's
selection comes in as a query object (feeds/store/query.py) that the store translates
(feeds/store/selection.py). `connect` opens the store the configuration names. Items live
here, not in memory: publishing reads each feed's entries straight off an index. How values
are stored (UTC text, JSON lists) and rows become records: feeds/store/rows.py; the schema
and its migrations: feeds/store/schema.py. Writes happen inside `transaction()`.

Enters: items with their identity and band keys, source states and events, feed histories and
marks. Leaves: stored items and the facts deduplication and publishing read. Imports only the
model, errors and deduplication's band cache; never fetch, parse, tag, publish or the scheduler.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

# A module import, not a name: feeds.dedupe.bandcache reads this package's rows, so whichever of
# the two is imported first finds the other half-initialised.
from feeds.dedupe import bandcache
from feeds.errors import StoreError
from feeds.model import Item, SourceRef
from feeds.store.bandstore import NEIGHBOURS, BandStore
from feeds.store.entrystore import EntryStore
from feeds.store.feedlogs import FeedLogStore
from feeds.store.interface import Storage
from feeds.store.rows import (
    ITEM_COLUMNS,
    WRITE_COLUMNS,
    CandidateFacts,
    FeedMark,
    NewItem,
    StoredItem,
    band_rows,
    chunks,
    from_text,
    item_row,
    row_to_stored,
    source_rows,
    tag_rows,
    to_text,
)
from feeds.store.schema import MIGRATIONS
from feeds.store.sourcestore import SourceStore

__all__ = ["NEIGHBOURS", "CandidateFacts", "FeedMark", "NewItem", "Store", "StoredItem", "connect",
           "from_text", "to_text"]

BUSY_SECONDS = 60.0  # a first publish of 100,000 items holds the write lock for seconds
CACHE_KIB = 8 * 1024  # SQLite's page cache per connection (default 2 MB); more costs the memory target

# An upsert, not INSERT OR REPLACE: a replace deletes the row first, and the delete would
# cascade to the item's keys and bands.
_SAVE_ITEM = (f"INSERT INTO items ({WRITE_COLUMNS}) VALUES ({','.join('?' * 17)}) ON CONFLICT (id) "
              "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in WRITE_COLUMNS.split(", ")[1:]))
_SAVE_SOURCES = "INSERT INTO item_sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_SAVE_KEYS = "INSERT OR REPLACE INTO item_keys VALUES (?, ?)"
# A band already holding the item is left alone (its date follows the item by trigger).
_SAVE_BANDS = "INSERT OR IGNORE INTO item_bands (band, updated, item_id) VALUES (?, ?, ?)"
_SAVE_BAND_LIST = "INSERT OR REPLACE INTO item_band_lists VALUES (?, ?)"
_SAVE_TAGS = "INSERT INTO item_tags VALUES (?, ?, ?, ?)"


def connect(database: str | Path, *, cache_bands: bool = True) -> Storage:
    """The store `storage.database` names: an SQLite file (or ":memory:"). The one place that
    chooses an implementation of feeds.store.interface.Storage."""
    return Store(database, cache_bands=cache_bands)


class Store(BandStore, SourceStore, EntryStore, FeedLogStore):
    """The partyfeeds database. Use as a context manager to close it.

    Band neighbour reads: feeds/store/bandstore.py; source rows: feeds/store/sourcestore.py; kept entries,
    splits and keys by item: feeds/store/entrystore.py.
    """

    def __init__(self, path: str | Path, *, cache_bands: bool = True) -> None:
        """`cache_bands`: if the store is empty, keep every band in memory (feeds.dedupe.bandcache)."""
        self.path = str(path)
        # Candidate facts read so far: the items near a feed's titles come up again for the next
        # feeds. A save drops the saved item's entry; another connection's commit drops them all.
        self._facts: dict[str, CandidateFacts] = {}
        self._data_version = -1  # PRAGMA data_version when the facts were cached
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # Several connections share the file (the daemon's writer, its publisher and reads, the
            # CLI): a writer waits for another's transaction, up to BUSY_SECONDS, before failing.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                       timeout=BUSY_SECONDS)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            # Keys and band keys are random, so saves touch pages all over their indexes: a
            # 2 MB cache spilled dirty pages mid-transaction. Memory is only used as pages are.
            self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            self._migrate()
            self._data_version = self._db.execute("PRAGMA data_version").fetchone()[0]
            # Empty, every band is known (empty); the saves keep it so (see transaction()).
            empty = self._db.execute("SELECT 1 FROM items LIMIT 1").fetchone() is None
            self._bands = bandcache.BandCache() if cache_bands and empty else None
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open database: {exc}") from exc

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def opener(self) -> Callable[[], Store] | None:
        """A picklable function that opens another connection to this database (for worker
        processes); None when there is no other way in (an in-memory database)."""
        return None if self.path == ":memory:" else functools.partial(Store, self.path)

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path}: database schema version {version} is newer than this "
                             f"partyfeeds ({len(MIGRATIONS)}); upgrade partyfeeds")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # executescript commits first, so the version bump rides in the same script.
            self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def errors(self) -> Iterator[None]:
        """SQLite's errors inside (locked, read-only, disk full, corrupt) as a StoreError naming
        the database: one clear line for the operator, not a traceback."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {type(exc).__name__}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all. SQLite's errors come out as a
        StoreError (see `errors`)."""
        with self.errors(), self._transaction():
            yield

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        # Cached facts stay good until another connection commits (this one's saves drop theirs):
        # a cold ingest reads each stored item's facts once, not once per transaction.
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._facts.clear()
            self._bands = None  # it no longer knows every band
            self._data_version = version
        try:
            yield
        except BaseException:
            self._facts.clear()  # they may hold what was just rolled back
            self._bands = None
            if self._db.in_transaction:  # SQLite rolls back by itself after some errors (disk full)
                self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._facts.clear()
            self._bands = None
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    # -- items ---------------------------------------------------------------

    def find_by_keys(self, keys: Sequence[str]) -> str | None:
        """The id of the item known under any of `keys` (first key wins)."""
        for key in keys:
            row = self._db.execute("SELECT item_id FROM item_keys WHERE key = ?", (key,)).fetchone()
            if row:
                return str(row[0])
        return None

    def ids_by_key(self, keys: Collection[str]) -> dict[str, str]:
        """The item id behind each of `keys` that is known."""
        found: dict[str, str] = {}
        for chunk in chunks(sorted(keys)):
            found.update(self._db.execute(
                f"SELECT key, item_id FROM item_keys WHERE key IN ({','.join('?' * len(chunk))})", chunk))
        return found

    def get(self, item_id: str) -> StoredItem | None:
        found = self.get_many([item_id])
        return found[0] if found else None

    def get_many(self, ids: Sequence[str]) -> list[StoredItem]:
        """Stored items for `ids`, in the order given (missing ids skipped)."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE id IN ({marks})", ids).fetchall()
        sources = self._sources_of(ids)
        by_id = {row[0]: row_to_stored(row, sources.get(row[0], ())) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def _sources_of(self, ids: Sequence[str]) -> dict[str, tuple[SourceRef, ...]]:
        marks = ",".join("?" * len(ids))
        found: dict[str, list[SourceRef]] = {}
        for item_id, *source in self._db.execute(
            f"SELECT item_id, source_id, title, link, party, kind, site FROM item_sources "
            f"WHERE item_id IN ({marks}) ORDER BY item_id, position", ids,
        ):
            found.setdefault(item_id, []).append(SourceRef(*source))
        return {k: tuple(v) for k, v in found.items()}

    def save(self, item: Item, *, keys: Iterable[str], bands: Sequence[int], revision: str,
             first_seen: datetime) -> None:
        """Insert or replace `item` with its keys, bands, sources and tags (items known to be new:
        `save_new`)."""
        db = self._db
        self._facts.pop(item.id, None)
        db.execute(_SAVE_ITEM, item_row(item, revision, first_seen))
        # Bands accumulate: every title a story was seen under keeps finding it.
        for table in ("item_sources", "item_tags"):
            db.execute(f"DELETE FROM {table} WHERE item_id = ?", (item.id,))
        db.executemany(_SAVE_SOURCES, source_rows(item))
        db.executemany(_SAVE_KEYS, [(k, item.id) for k in keys])
        db.executemany(_SAVE_BANDS, band_rows(item, bands))
        listed = {*bands, *self.bands_of(item.id)}
        db.execute(_SAVE_BAND_LIST, (item.id, json.dumps(sorted(listed))))
        db.executemany(_SAVE_TAGS, tag_rows(item))
        self._file_saved([(item, bands)])

    def save_new(self, items: Sequence[NewItem], first_seen: datetime) -> None:
        """Store items known not to be stored yet, as `save` one by one would (the same rows;
        `items` are inserted in order, so their change numbers follow it), with one statement per
        table for them all: a statement per row cost more than its insert."""
        if not items:
            return
        db = self._db
        for new in items:
            self._facts.pop(new.item.id, None)
        db.executemany(_SAVE_ITEM, [item_row(new.item, new.revision, first_seen) for new in items])
        db.executemany(_SAVE_SOURCES, [row for new in items for row in source_rows(new.item)])
        db.executemany(_SAVE_KEYS, [(key, new.item.id) for new in items for key in new.keys])
        db.executemany(_SAVE_BANDS, sorted(row for new in items for row in band_rows(new.item, new.bands)))
        db.executemany(_SAVE_BAND_LIST, [(new.item.id, json.dumps(sorted(set(new.bands)))) for new in items])
        db.executemany(_SAVE_TAGS, [row for new in items for row in tag_rows(new.item)])
        self._file_saved([(new.item, new.bands) for new in items])

    def add_keys(self, keys: Iterable[str], item_id: str) -> None:
        """Record more identity keys of a stored item; known keys are left alone."""
        self._db.executemany("INSERT OR IGNORE INTO item_keys VALUES (?, ?)", [(k, item_id) for k in keys])

    def count_items(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM items").fetchone()[0])

    def latest(self, limit: int, facet: str | None = None, tag: str | None = None) -> list[Item]:
        """The newest `limit` items overall, or of one party or topic."""
        if facet is None:
            rows = self._db.execute("SELECT id FROM items ORDER BY updated DESC, id LIMIT ?", (limit,))
        else:
            rows = self._db.execute(
                "SELECT item_id FROM item_tags WHERE facet = ? AND tag = ? "
                "ORDER BY updated DESC, item_id LIMIT ?", (facet, tag, limit))
        return [stored.item for stored in self.get_many([r[0] for r in rows])]

    def tag_counts(self) -> dict[tuple[str, str], int]:
        """Number of items per (facet, tag)."""
        rows = self._db.execute("SELECT facet, tag, count(*) FROM item_tags GROUP BY facet, tag")
        return {(facet, tag): count for facet, tag, count in rows}

    def language_counts(self) -> dict[str, int]:
        """Items per language, by primary subtag in lower case ("es-AR" counts as "es")."""
        rows = self._db.execute(
            "SELECT lower(substr(language, 1, instr(language || '-', '-') - 1)) AS code, count(*) "
            "FROM items WHERE language IS NOT NULL AND language != '' GROUP BY code")
        return {code: count for code, count in rows if code}

    def check(self) -> None:
        """Raise StoreError unless SQLite finds the database intact."""
        result = self._db.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise StoreError(f"{self.path}: integrity check failed: {result}")

