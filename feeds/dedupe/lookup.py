"""What deduplicating a batch of incoming items needs from the store, read once per batch.

Deciding where an item goes reads the store twice: which stored item holds one
of its identity keys, and which stored items share an LSH band with its title.
Asked per item, that was two queries per item and most of a cold ingest's
SQLite time. A `Lookup` reads the answers for a whole batch (a feed, a seed
file) at once and is told about every save the batch makes, so the item after
a save sees it exactly as a query would have: same ids, same candidates in the
same order. The band neighbours are not read at all while the store knows every
band (feeds.dedupe.bandcache: a first ingest into an empty store). It also holds the pairs of
items an operator split apart (`splits`), which are never merged again by their titles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from feeds.dedupe.bandcache import BandCache
from feeds.model import Item
from feeds.store import NEIGHBOURS, CandidateFacts
from feeds.store.interface import ItemStorage


class Lookup:
    """Identity keys and band members of one batch, kept current as the batch is stored."""

    def __init__(self, ids_by_key: dict[str, str], bands: BandCache, newest: int = NEIGHBOURS,
                 splits: frozenset[frozenset[str]] = frozenset()) -> None:
        self._newest = newest
        self._ids_by_key = ids_by_key
        self._bands = bands
        self.splits = splits

    @classmethod
    def read(cls, store: ItemStorage, keys: Iterable[Sequence[str]], bands: Iterable[Sequence[int]],
             newest: int = NEIGHBOURS, since: Iterable[str] | None = None) -> Lookup:
        """The batch's answers: a store that knows every band answers from memory (its band
        cache, shared), any other reads the batch's band neighbours into a cache of its own.
        `since`: for each item, the oldest `updated` (stored time text) a neighbour may have."""
        cache = store.band_cache()
        if cache is None:
            cache = BandCache(*store.band_members(bands, newest=newest, since=since))
        return cls(store.ids_by_key({key for item_keys in keys for key in item_keys}), cache, newest,
                   store.splits())

    def find(self, keys: Sequence[str]) -> str | None:
        """The id of the item known under any of `keys` (first key wins), as `Store.find_by_keys`."""
        return next((self._ids_by_key[key] for key in keys if key in self._ids_by_key), None)

    def candidates(self, bands: Sequence[int], since: str = "") -> list[CandidateFacts]:
        """Items sharing a band with `bands`, updated `since`, newest first, as
        `Store.candidate_facts`.

        Either every band is known whole, or for each band set of the batch (and its `since`)
        the newest of its union were read (`Store.band_members`); every item saved since is
        added to its bands; so `bands` (one item's) finds its newest among what is filed under
        them and updated `since`.
        """
        return self._bands.candidates(bands, self._newest, since)

    def saved(self, item: Item, keys: Iterable[str], bands: Iterable[int], also: Iterable[int] = (),
              titles: Sequence[str] = ()) -> None:
        """`Store.save` stored `item`: its keys now point at it, its bands hold it.

        `also`: the bands it was stored under before, for a merged item whose date moved: it
        may now be among the newest of a band this lookup read only in part. `titles`: its
        sources' own titles, for a story several sources carried.
        """
        for key in keys:
            self._ids_by_key[key] = item.id
        # A store's shared cache has it already if the store saved it (`accept_batch` tells of
        # a new item before it writes it): filing an item twice changes nothing. And if the
        # store dropped the cache mid-batch (too many items), this keeps it current to the end.
        self._bands.add(item, [*bands, *also], titles)

    def known(self, keys: Iterable[str], item_id: str) -> None:
        """`Store.add_keys` recorded `keys` for `item_id`; keys already known keep their item."""
        for key in keys:
            self._ids_by_key.setdefault(key, item_id)
