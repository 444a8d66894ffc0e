"""The store's feed histories: what each published feed holds, in order, and what the last publish
of it recorded (a mixin of feeds.store.Store; the RFC 5005 pages: feeds/publish/archive.py).

A feed's history is the sequence of items it has selected, numbered as they joined; its
pages are ranges of that sequence. Only the publisher reads and writes these rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import groupby
from operator import itemgetter

from feeds.model import Item, SourceRef
from feeds.store.query import Query, canonical
from feeds.store.rows import ITEM_COLUMNS, FeedMark, StoredItem, row_to_stored
from feeds.store.selection import candidates_sql, listing_sql, sql_definition, where_sql

_ITEM_COLUMNS_OF_I = ", ".join(f"i.{c}" for c in ITEM_COLUMNS.split(", "))


class FeedLogStore:
    """Feed histories and publish marks; `Store` opens the connection and reads items."""

    _db: sqlite3.Connection
    get_many: Callable[[Sequence[str]], list[StoredItem]]  # Store's

    def sync_feed_log(self, feed: str, query: Query | None) -> bool:
        """Keep `feed`'s history if it still selects what `query` selects; else (or if new) start
        it empty and return True. The query's identity is its canonical form, so a change in how
        queries become SQL keeps every history."""
        definition = canonical(query)
        row = self._db.execute("SELECT definition FROM feed_logs WHERE feed = ?", (feed,)).fetchone()
        if row is not None and row[0] == definition:
            return False
        if row is not None and row[0] == sql_definition(query):  # recorded by an earlier version
            self._db.execute("UPDATE feed_logs SET definition = ? WHERE feed = ?", (definition, feed))
            return False
        self._db.execute("DELETE FROM feed_entries WHERE feed = ?", (feed,))
        self._db.execute("INSERT OR REPLACE INTO feed_logs VALUES (?, ?)", (feed, definition))
        return True

    def extend_feed_log(self, feed: str, query: Query | None, since: int = 0) -> int:
        """Append to `feed`'s history the items a resolved `query` selects that it lacks, in
        (updated, id) order; return how many joined.

        `since`: only items saved after that `change_mark()` are looked at. Sound because a
        query reads only the item's own rows, so an item not saved since then matched (and
        joined) or did not match then, and still does or does not. An empty history of a party
        or topic feed is filled straight off the tags' index (selection.listing_sql); otherwise
        a first fill tests only the candidates that index gives (selection.candidates_sql).
        """
        where, params = where_sql(query)
        base = self.feed_log_size(feed)
        listing = listing_sql(query)
        if listing and not since and not base:
            return self._db.execute(
                "INSERT INTO feed_entries (feed, seq, item_id) "
                f"SELECT ?, row_number() OVER (ORDER BY updated, item_id), item_id FROM ({listing[0]})",
                (feed, *listing[1])).rowcount
        changed = " AND i.id IN (SELECT item_id FROM item_changes WHERE seq > ?)" if since else ""
        # Candidates help a fill from scratch; after one, the items saved since are fewer, and
        # given both lists SQLite may walk the longer one (3 ms a feed instead of 0.1).
        candidates = None if since else candidates_sql(query)
        among = f" AND i.id IN ({candidates[0]})" if candidates else ""
        # An empty history lacks every item: no lookup per item (a first publish has 300,000).
        lacking = " AND NOT EXISTS (SELECT 1 FROM feed_entries AS e WHERE e.feed = ? AND e.item_id = i.id)"
        cursor = self._db.execute(
            "INSERT INTO feed_entries (feed, seq, item_id) "
            "SELECT ?, ? + row_number() OVER (ORDER BY i.updated, i.id), i.id FROM items AS i "
            f"WHERE ({where}){changed}{among}{lacking if base else ''}",
            (feed, base, *params, *([since] if since else []), *(candidates[1] if candidates else ()),
             *([feed] if base else [])))
        return cursor.rowcount

    def change_mark(self) -> int:
        """The newest item change so far (see migration 5): a watermark for `extend_feed_log`."""
        return int(self._db.execute("SELECT coalesce(max(seq), 0) FROM item_changes").fetchone()[0])

    def feed_log_stamps(self, feed: str, first: int, last: int) -> list[tuple[str, int]]:
        """(item id, its change number) for sequence numbers first..last of `feed`, in order:
        what a rendered document depends on, without reading the items."""
        rows = self._db.execute(
            "SELECT e.item_id, c.seq FROM feed_entries AS e JOIN item_changes AS c USING (item_id) "
            "WHERE e.feed = ? AND e.seq BETWEEN ? AND ? ORDER BY e.seq", (feed, first, last))
        return [(str(item_id), int(seq)) for item_id, seq in rows]

    def feed_mark(self, feed: str) -> FeedMark:
        """What the last publish recorded for `feed` (all empty if nothing yet)."""
        row = self._db.execute("SELECT seen, fingerprint, files, summary, pages_base, first_published, "
                               "pages, pages_stamp FROM feed_marks WHERE feed = ?", (feed,)).fetchone()
        return FeedMark(*row) if row else FeedMark()

    def save_feed_mark(self, feed: str, mark: FeedMark) -> None:
        self.save_feed_marks({feed: mark})

    def feed_log_size(self, feed: str) -> int:
        row = self._db.execute("SELECT coalesce(max(seq), 0) FROM feed_entries WHERE feed = ?", (feed,))
        return int(row.fetchone()[0])

    def feed_log_items(self, feed: str, first: int, last: int) -> list[Item]:
        """The items with sequence numbers first..last of `feed`'s history, in that order."""
        return [stored.item for stored in self.get_many(self.feed_log_ids(feed, first, last))]

    def feed_logs(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT feed FROM feed_logs ORDER BY feed")]

    # -- publish side: what one publish run reads (feeds/publish/__init__.py) ---------
    # Kept apart from the save path above: only the publisher calls these.

    def present_tags(self) -> set[tuple[str, str]]:
        """Every (facet, tag) some item carries: one primary-key seek per distinct tag, so the
        plan of a publish costs a few hundred seeks, not a scan of every tag row."""
        found: set[tuple[str, str]] = set()
        row = self._db.execute("SELECT facet, tag FROM item_tags ORDER BY facet, tag LIMIT 1").fetchone()
        while row is not None:
            found.add((str(row[0]), str(row[1])))
            # Not `(facet, tag) > (?, ?)`: SQLite seeks that by facet alone and steps over every
            # row of the facet before it (4 ms a tag in a store of a million items).
            row = (self._db.execute("SELECT facet, tag FROM item_tags WHERE facet = ? AND tag > ? "
                                    "ORDER BY tag LIMIT 1", row).fetchone()
                   or self._db.execute("SELECT facet, tag FROM item_tags WHERE facet > ? "
                                       "ORDER BY facet, tag LIMIT 1", row[:1]).fetchone())
        return found

    def feed_log_places(self, feed: str, first: int, last: int) -> Iterator[tuple[int, int]]:
        """(sequence number, the item's place in the "all" history or 0) for sequence numbers
        first..last of `feed`, in order, off one cursor: the places let the publisher render
        documents in roughly the order their items arrived, so an item's rendering is reused,
        then dropped. A first publish reads ~3 places per stored item: none is kept."""
        return iter(self._db.execute(
            "SELECT e.seq, coalesce(a.seq, 0) FROM feed_entries AS e LEFT JOIN feed_entries AS a "
            "ON a.feed = 'all' AND a.item_id = e.item_id WHERE e.feed = ? AND e.seq BETWEEN ? AND ? "
            "ORDER BY e.seq", (feed, first, last)))

    def feed_log_ids(self, feed: str, first: int, last: int) -> list[str]:
        """The item ids with sequence numbers first..last of `feed`'s history, in that order."""
        rows = self._db.execute("SELECT item_id FROM feed_entries WHERE feed = ? AND seq BETWEEN ? AND ? "
                                "ORDER BY seq", (feed, first, last))
        return [str(row[0]) for row in rows]

    def feed_log_stream(self, feed: str, first: int, last: int) -> Iterator[tuple[int, Item]]:
        """(sequence number, item) for sequence numbers first..last of `feed`, in order, off one
        cursor: a first publish reads every item, and a query per batch of ids (`get_many`)
        cost ~10× as much. Items deleted since they joined are skipped, as `get_many` does."""
        rows = self._db.execute(
            f"SELECT e.seq, {_ITEM_COLUMNS_OF_I}, s.source_id, s.title, s.link, s.party, s.kind, s.site "
            "FROM feed_entries AS e JOIN items AS i ON i.id = e.item_id "
            "LEFT JOIN item_sources AS s ON s.item_id = i.id "
            "WHERE e.feed = ? AND e.seq BETWEEN ? AND ? ORDER BY e.seq, s.position", (feed, first, last))
        for seq, group in groupby(rows, key=itemgetter(0)):
            found = list(group)  # one row per source of the item, by position
            sources = tuple(SourceRef(*row[17:]) for row in found if row[17] is not None)
            yield seq, row_to_stored(found[0][1:17], sources).item

    def save_feed_marks(self, marks: Mapping[str, FeedMark]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO feed_marks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             [(feed, m.seen, m.fingerprint, m.files, m.summary, m.pages_base,
                               m.first_published, m.pages, m.pages_stamp) for feed, m in marks.items()])

