"""The store's rows for undoing merges (a mixin of feeds.store.Store).

- `item_entries`: each source's own entry of a story several sources carried, so a wrong merge
  can be split again (feeds.dedupe.split);
- `dedupe_splits`: the pairs of items an operator split, never merged again by their titles;
- `store_meta`: which rules the store's merges and bands were made under (feeds.dedupe.upgrade);
- identity keys and bands by item, which only a split or an upgrade reads.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from feeds.model import Item
from feeds.store.rows import entry_json, json_entry, to_text


class EntryStore:
    """Rows a split or an upgrade reads and writes; `Store` opens the connection."""

    _db: sqlite3.Connection

    def save_entries(self, item_id: str, entries: Iterable[Item]) -> None:
        """Keep each of `entries` (one source's own entry each) as its source's entry of `item_id`."""
        self._db.executemany("INSERT OR REPLACE INTO item_entries VALUES (?, ?, ?)",
                             [(item_id, entry.sources[0].source_id, entry_json(entry)) for entry in entries])

    def entries_of(self, item_id: str) -> dict[str, Item]:
        """The sources' own entries kept for `item_id`, by source id."""
        rows = self._db.execute("SELECT source_id, entry FROM item_entries WHERE item_id = ?", (item_id,))
        return {str(source_id): json_entry(str(entry)) for source_id, entry in rows}

    def move_entries(self, item_id: str, entries: Mapping[str, Item]) -> None:
        """`item_id`'s kept entries become exactly `entries` (by source id)."""
        self._db.execute("DELETE FROM item_entries WHERE item_id = ?", (item_id,))
        if len(entries) > 1:  # one source: the item is its entry
            self.save_entries(item_id, entries.values())

    def splits(self) -> frozenset[frozenset[str]]:
        """Every pair of item ids an operator split apart."""
        rows = self._db.execute("SELECT first_id, second_id FROM dedupe_splits")
        return frozenset(frozenset((str(a), str(b))) for a, b in rows)

    def add_split(self, first: str, second: str, now: datetime) -> None:
        a, b = sorted((first, second))
        self._db.execute("INSERT OR IGNORE INTO dedupe_splits VALUES (?, ?, ?)", (a, b, to_text(now)))

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM store_meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO store_meta VALUES (?, ?)", (key, value))

    def keys_of(self, item_id: str) -> list[str]:
        """The identity keys pointing at `item_id` (a scan: keys are not indexed by item)."""
        rows = self._db.execute("SELECT key FROM item_keys WHERE item_id = ? ORDER BY key", (item_id,))
        return [str(row[0]) for row in rows]

    def keys_by_item(self) -> dict[str, list[str]]:
        """Every item's identity keys, for items known under more than one id (one scan)."""
        rows = self._db.execute(
            "SELECT item_id, key FROM item_keys WHERE item_id IN (SELECT item_id FROM item_keys "
            "WHERE key LIKE 'id:%' GROUP BY item_id HAVING count(*) > 1) ORDER BY item_id, key")
        found: dict[str, list[str]] = {}
        for item_id, key in rows:
            found.setdefault(str(item_id), []).append(str(key))
        return found

    def point_keys(self, keys: Iterable[str], item_id: str) -> None:
        """Make `keys` point at `item_id`, whatever they pointed at before."""
        self._db.executemany("INSERT OR REPLACE INTO item_keys VALUES (?, ?)", [(k, item_id) for k in keys])

    def drop_keys(self, keys: Iterable[str]) -> None:
        self._db.executemany("DELETE FROM item_keys WHERE key = ?", [(k,) for k in keys])

    def rebuild_bands(self, bands: Mapping[str, Sequence[int]]) -> None:
        """Every item's band rows become its bands in `bands` (the rules' words changed)."""
        db = self._db
        db.execute("DELETE FROM item_bands")
        db.execute("DELETE FROM item_band_lists")
        rows = sorted((band, item_id) for item_id, item_bands in bands.items() for band in set(item_bands))
        db.executemany("INSERT OR IGNORE INTO item_bands (band, updated, item_id) "
                       "SELECT ?, updated, id FROM items WHERE id = ?", rows)
        db.executemany("INSERT INTO item_band_lists VALUES (?, ?)",
                       [(item_id, json.dumps(sorted(set(b)))) for item_id, b in bands.items() if b])

    def titles(self) -> list[tuple[str, str, bool]]:
        """(id, title, derived) of every item."""
        rows = self._db.execute("SELECT id, title, title_derived FROM items")
        return [(str(i), str(t), bool(d)) for i, t, d in rows]
