"""The store's reads of LSH band neighbours (a mixin of feeds.store.Store).

What dedupe compares an incoming title with: the newest NEIGHBOURS stored items sharing one
of its bands, updated `since` a time (the oldest an item can be and still be the same story:
feeds.dedupe.accept). `candidate_facts` asks it for one item, the reference; `band_members`
reads it for a whole batch; `band_cache` is every band held in memory, while the store knows
them all (feeds.dedupe.bandcache), and then nothing is read. The band rows carry their item's
`updated`, so each band is read by an index range from its newest member down to `since`,
whatever the store's size: a band's members of other years are never touched.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from operator import itemgetter

from feeds.dedupe import bandcache  # a module import: see feeds/store/__init__.py
from feeds.model import Item
from feeds.store.rows import FACT_COLUMNS, CandidateFacts, chunks, row_to_facts

NEIGHBOURS = 50  # band neighbours an incoming item is compared with, newest first
_FACTS_CACHED = 20_000  # candidate facts kept between feeds and transactions, at most


class BandStore:
    """Band neighbour reads; `Store` opens the connection and keeps the caches current."""

    _db: sqlite3.Connection
    _facts: dict[str, CandidateFacts]  # read so far; see Store.__init__
    _bands: bandcache.BandCache | None  # every band, while the store knows them all

    def candidate_facts(self, bands: Sequence[int], limit: int = NEIGHBOURS, since: str = ""
                        ) -> list[CandidateFacts]:
        """What dedupe compares of the items that share a band with `bands` and were updated
        `since` (stored time text; "": ever), newest first.

        The reference for one item: ingest answers it for a whole feed (feeds.dedupe.lookup).
        """
        if not bands:
            return []
        marks = ",".join("?" * len(bands))
        rows = self._db.execute(
            f"SELECT {FACT_COLUMNS} FROM items i WHERE i.id IN "
            f"(SELECT item_id FROM item_bands WHERE band IN ({marks})) AND i.updated >= ? "
            "ORDER BY i.updated DESC, i.id LIMIT ?",
            (*bands, since, limit),
        ).fetchall()
        return [row_to_facts(row) for row in rows]

    def band_members(self, bands: Iterable[Collection[int]], newest: int = NEIGHBOURS,
                     since: Iterable[str] | None = None
                     ) -> tuple[dict[int, set[str]], dict[str, CandidateFacts]]:
        """For each band set in `bands` (one per incoming item), the `newest` ids of their
        union updated since its time in `since` (by `updated`, as `candidate_facts` orders),
        filed under the bands that hold them; and the candidate facts of every one of them.

        `Lookup.candidates` of any of those band sets then finds its newest `newest` among what
        is filed under its bands. Each band is read by at most `newest` primary-key steps, and
        only the ids that can be a candidate come back: a big store's crowded bands are neither
        read whole nor turned into thousands of facts.
        """
        ids_by_band: dict[int, set[str]] = {}
        pairs = zip(bands, since, strict=True) if since is not None else ((b, "") for b in bands)
        for item_bands, item_since in pairs:
            for band, item_id in self._newest_of_union(sorted(set(item_bands)), newest, item_since):
                ids_by_band.setdefault(band, set()).add(item_id)
        ids = set().union(*ids_by_band.values())
        if len(self._facts) > _FACTS_CACHED:
            self._facts.clear()
        for chunk in chunks(sorted(ids - self._facts.keys())):
            for row in self._db.execute(
                    f"SELECT {FACT_COLUMNS} FROM items i WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                self._facts[row[0]] = row_to_facts(row)
        return ids_by_band, {item_id: self._facts[item_id] for item_id in ids}

    def band_cache(self) -> bandcache.BandCache | None:
        """Every band's members, while this store knows them all (see feeds.dedupe.bandcache): a batch
        then reads no band rows, and what it stores is filed in it by `save` and `save_new`."""
        return self._bands

    def _file_saved(self, saved: Iterable[tuple[Item, Sequence[int]]]) -> None:
        """Keep the cache of every band current after a save of (item, its bands)s; past
        ITEMS_CACHED items, drop it. A batch's Lookup still holding it files its own saves."""
        if self._bands is None:
            return
        if len(self._bands) >= bandcache.ITEMS_CACHED:
            self._bands = None
            return
        for item, bands in saved:
            self._bands.add(item, bands)

    def _newest_of_union(self, bands: Sequence[int], newest: int, since: str) -> list[tuple[int, str]]:
        """(band, id) rows of the `newest` distinct ids in the union of `bands`, updated `since`."""
        if not bands:
            return []
        one = ("SELECT * FROM (SELECT band, updated, item_id FROM item_bands WHERE band = ? AND updated >= ? "
               "ORDER BY updated DESC, item_id LIMIT ?)")
        each = " UNION ALL ".join([one] * len(bands))
        rows = self._db.execute(each, [value for band in bands for value in (band, since, newest)]).fetchall()
        # The union's order, as candidate_facts: updated descending, then id (a stable sort).
        ranked = sorted({(updated, item_id) for _, updated, item_id in rows}, key=itemgetter(1))
        ranked.sort(key=itemgetter(0), reverse=True)
        kept = {item_id for _, item_id in ranked[:newest]}
        return [(band, item_id) for band, _, item_id in rows if item_id in kept]

    def bands_of(self, item_id: str) -> list[int]:
        """The band keys an item is stored under."""
        row = self._db.execute("SELECT bands FROM item_band_lists WHERE item_id = ?", (item_id,)).fetchone()
        return list(json.loads(row[0])) if row else []
