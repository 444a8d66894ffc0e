"""Band members held on the main thread, so deduplicating reads no band rows it already knows.

An incoming title is compared with the newest NEIGHBOURS stored items that share one of its
LSH bands (`Store.candidate_facts` is the reference). A `BandCache` files item ids under
their bands, keeps each one's candidate facts, and answers that question from memory:

- for one batch (a feed, a seed file), filled by `Store.band_members` (for each item of the
  batch, the newest of the union of its bands, filed under the bands holding them) and told
  of every item the batch stores: the union of an item's bands then holds its newest, as in
  the store (see `Lookup.candidates`);
- across batches, while it knows every band whole. A store empty when it was opened starts
  one, and each of its saves files the saved item, so a first ingest reads no band rows at
  all (it read one statement of 16 seeks per item). The store drops it when it can no
  longer be sure or would cost too much: another connection committed, a transaction rolled
  back, or it holds more than ITEMS_CACHED items (the memory of a long-running daemon).

A whole band's members hold the newest of any union of bands, and an item's date only moves
by its own saves, which refile it: so both kinds answer as the store's query would.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from operator import attrgetter

from feeds.model import Item
from feeds.store.rows import CandidateFacts, facts_of

# Items a store's cache of every band may hold (~2 kB each: 16 band entries and the facts).
ITEMS_CACHED = 20_000

_UPDATED = attrgetter("updated")


class BandCache:
    """Item ids by band, and the candidate facts of each."""

    def __init__(self, ids_by_band: Mapping[int, Collection[str]] | None = None,
                 facts: Mapping[str, CandidateFacts] | None = None) -> None:
        # A band's one member is kept as its id, several as a tuple: 84% of the bench's cold
        # ingest's bands hold one item, and lists (88 bytes for one) made the cache 1.7 times the size.
        self._ids_by_band: dict[int, str | tuple[str, ...]] = {
            band: next(iter(ids)) if len(ids) == 1 else tuple(ids)
            for band, ids in (ids_by_band or {}).items()}
        self._facts = dict(facts or {})

    def __len__(self) -> int:
        """How many items it knows."""
        return len(self._facts)

    def candidates(self, bands: Sequence[int], newest: int, since: str = "") -> list[CandidateFacts]:
        """The `newest` items filed under any of `bands` and updated `since` (stored time text),
        newest first, then by id (as `Store.candidate_facts` orders them)."""
        ids: set[str] = set()
        members_of = self._ids_by_band.get
        for band in bands:
            members = members_of(band)
            if members is None:
                continue
            if isinstance(members, str):
                ids.add(members)
            else:
                ids.update(members)
        found = [facts for facts in (self._facts[i] for i in sorted(ids)) if facts.updated >= since]
        found.sort(key=_UPDATED, reverse=True)  # stable: ties stay in id order
        return found[:newest]

    def add(self, item: Item, bands: Iterable[int], titles: Sequence[str] = ()) -> None:
        """`item` as saved, filed under `bands` (the bands it was filed under stay); `titles`: its
        sources' own titles, if it has several."""
        item_id, file = item.id, self._ids_by_band.setdefault
        for band in bands:
            members = file(band, item_id)
            if members is item_id:  # the band's first member (or filed already)
                continue
            if isinstance(members, str):
                if members != item_id:
                    self._ids_by_band[band] = (members, item_id)
            elif item_id not in members:
                self._ids_by_band[band] = (*members, item_id)
        self._facts[item_id] = facts_of(item, titles)
