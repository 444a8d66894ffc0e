"""What deduplicating a batch of incoming items needs from the store, read in two queries.

Deciding where an item goes reads the store twice: which stored item holds one
of its identity keys, and which stored items share an LSH band with its title.
Asked per item, that was two queries per item and most of a cold ingest's
SQLite time. A `Lookup` reads the answers for a whole batch (a feed, a seed
file) at once and is told about every save the batch makes, so the item after
a save sees it exactly as a query would have: same ids, same candidates in the
same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter

from feeds.model import Item
from feeds.store import NEIGHBOURS, CandidateFacts, Store, to_text

_UPDATED = attrgetter("updated")


class Lookup:
    """Identity keys and band members of one batch, kept current as the batch is stored."""

    def __init__(self, ids_by_key: dict[str, str], ids_by_band: dict[int, set[str]],
                 facts: dict[str, CandidateFacts], newest: int = NEIGHBOURS) -> None:
        self._newest = newest
        self._ids_by_key = ids_by_key
        self._ids_by_band = ids_by_band
        self._facts = facts

    @classmethod
    def read(cls, store: Store, keys: Iterable[Sequence[str]], bands: Iterable[Sequence[int]],
             newest: int = NEIGHBOURS) -> Lookup:
        ids_by_band, facts = store.band_members(bands, newest=newest)
        return cls(store.ids_by_key({key for item_keys in keys for key in item_keys}), ids_by_band, facts,
                   newest)

    def find(self, keys: Sequence[str]) -> str | None:
        """The id of the item known under any of `keys` (first key wins), as `Store.find_by_keys`."""
        return next((self._ids_by_key[key] for key in keys if key in self._ids_by_key), None)

    def candidates(self, bands: Sequence[int]) -> list[CandidateFacts]:
        """Items sharing a band with `bands`, newest first, as `Store.candidate_facts`.

        For each band set of the batch only the newest of its union were read
        (`Store.band_members`), and every item saved since is added to its bands; so `bands`
        (one item's) finds its newest among what is filed under them.
        """
        ids = set().union(*(self._ids_by_band.get(band, ()) for band in bands))
        found = [self._facts[i] for i in sorted(ids)]
        found.sort(key=_UPDATED, reverse=True)  # stable: ties stay in id order
        return found[:self._newest]

    def saved(self, item: Item, keys: Iterable[str], bands: Iterable[int], also: Iterable[int] = ()) -> None:
        """`Store.save` stored `item`: its keys now point at it, its bands hold it.

        `also`: the bands it was stored under before, for a merged item whose date moved: it
        may now be among the newest of a band this lookup read only in part.
        """
        bands = [*bands, *also]
        for key in keys:
            self._ids_by_key[key] = item.id
        for band in bands:
            self._ids_by_band.setdefault(band, set()).add(item.id)
        self._facts[item.id] = CandidateFacts(item.id, item.title, item.language, item.published,
                                              item.parties, to_text(item.updated) or "")

    def known(self, keys: Iterable[str], item_id: str) -> None:
        """`Store.add_keys` recorded `keys` for `item_id`; keys already known keep their item."""
        for key in keys:
            self._ids_by_key.setdefault(key, item_id)
