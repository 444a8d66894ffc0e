"""Deduplicate → store: where each tagged item of a batch goes.

An incoming item is the same item as a stored one if it shares an identity
key (id, canonical link), the same story if an LSH neighbour passes
`dedupe.same_story`; then the two are merged (feeds.merge), otherwise it is
stored as new. A batch (a feed, a seed file) reads what it needs from the
store up front (feeds.lookup) and is written inside the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from feeds import dedupe, lsh
from feeds.lookup import Lookup
from feeds.merge import merge
from feeds.model import Item
from feeds.store import NewItem, Store

log = logging.getLogger(__name__)


def accept_batch(store: Store, tagged: Sequence[tuple[Item, str]], now: datetime,
                 bands: Sequence[tuple[int, ...]] | None = None,
                 keys: Sequence[tuple[str, ...]] | None = None) -> list[str]:
    """Deduplicate and store (item, revision marker) pairs in order; their outcomes.

    `bands` and `keys`: each item's title band keys and identity keys, if the
    caller computed them already (the parse workers do).

    New items are written together (`Store.save_new`), before anything else is read or written,
    so the store changes in the order the items come, as if each were stored in turn; the
    lookup knows each one as soon as it is decided.
    """
    if bands is None:
        bands = lsh.title_bands([item.title for item, _ in tagged])
    if keys is None:
        keys = [dedupe.identity_keys(item) for item, _ in tagged]
    lookup = Lookup.read(store, keys, bands)
    new: list[NewItem] = []
    outcomes = []
    for (item, revision), item_keys, item_bands in zip(tagged, keys, bands, strict=True):
        existing_id = lookup.find(item_keys) or _near_duplicate(lookup, item, item_bands)
        if existing_id is None:
            new.append(NewItem(item, item_keys, item_bands, revision))
            lookup.saved(item, item_keys, item_bands)
            outcomes.append("new")
            continue
        store.save_new(new, now)
        new = []
        outcomes.append(accept_known(store, lookup, item, existing_id, revision, item_keys, item_bands))
    store.save_new(new, now)
    return outcomes


def accept_known(store: Store, lookup: Lookup, item: Item, existing_id: str, revision: str,
                 keys: tuple[str, ...], bands: tuple[int, ...]) -> str:
    """Fold `item` into the stored item `existing_id` (the same item or the same story).

    Returns the outcome: "merged" (another source's copy of a stored story), "revised" (a
    stored item changed) or "unchanged".
    """
    stored = store.get(existing_id)
    assert stored is not None, f"item_keys points at missing item {existing_id}"
    revised = revision != stored.revision and bool(revision)
    merged = merge(stored.item, item, revised=revised)
    if merged == stored.item and not revised:
        store.add_keys(keys, existing_id)  # a new guid or link for the same item
        lookup.known(keys, existing_id)
        return "unchanged"
    merged_keys = (*keys, *dedupe.identity_keys(merged))
    store.save(merged, keys=merged_keys, bands=bands, revision=revision or stored.revision,
               first_seen=stored.first_seen)
    moved = merged.updated != stored.item.updated  # it may join the newest of its other bands
    lookup.saved(merged, merged_keys, bands, store.bands_of(merged.id) if moved else ())
    new_source = {s.source_id for s in merged.sources} != {s.source_id for s in stored.item.sources}
    return "merged" if new_source else "revised"


def _near_duplicate(lookup: Lookup, item: Item, bands: tuple[int, ...]) -> str | None:
    explain = log.isEnabledFor(logging.DEBUG)  # reasons cost more than the decisions
    for candidate in lookup.candidates(bands):
        if explain:
            verdict = dedupe.same_story(candidate, item)
            log.debug("dedupe item=%s candidate=%s same=%s reason=%r", item.id, candidate.id,
                      verdict.same, verdict.reason)
            same = verdict.same
        else:
            same = dedupe.is_same_story(candidate, item)
        if same:
            return candidate.id
    return None
