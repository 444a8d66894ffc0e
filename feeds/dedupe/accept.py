"""Deduplicate → store: where each tagged item of a batch goes.

An incoming item is the same item as a stored one if it shares an identity key (feeds.dedupe.keys),
the same story if an LSH neighbour of another source passes `rules.same_story`; then the two are
merged (feeds.dedupe.merge), otherwise it is stored as new. Every merge by title is logged with
both ids and the rule. When a story gains a second source, each source's own entry is kept
beside it, so an operator can split a wrong merge (feeds.dedupe.split). A batch (a feed, a seed
file) reads what it needs from the store up front (feeds.dedupe.lookup) and is written inside
the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from feeds.dedupe import rules
from feeds.dedupe.keys import batch_keys, identity_keys
from feeds.dedupe.lookup import Lookup
from feeds.dedupe.merge import merge
from feeds.dedupe.titles import title_bands
from feeds.model import Item
from feeds.store import NewItem, StoredItem
from feeds.store.interface import ItemStorage
from feeds.store.rows import facts_of, to_text

log = logging.getLogger(__name__)

NEIGHBOUR_WINDOW = timedelta(days=rules.MAX_DAYS_APART + 1)  # see neighbours_since


def accept_batch(store: ItemStorage, tagged: Sequence[tuple[Item, str]], now: datetime,
                 bands: Sequence[tuple[int, ...]] | None = None,
                 keys: Sequence[tuple[str, ...]] | None = None) -> list[str]:
    """Deduplicate and store (item, revision marker) pairs in order; their outcomes.

    `bands` and `keys`: each item's title band keys and identity keys, if the
    caller computed them already (the parse workers do).

    New items are written together (`Store.save_new`), before anything else is read or written,
    so the store changes in the order the items come, as if each were stored in turn; the
    lookup knows each one as soon as it is decided.
    """
    items = [item for item, _ in tagged]
    if bands is None:
        bands = title_bands([item.title for item in items], [item.title_derived for item in items])
    if keys is None:
        keys = batch_keys(items)
    since = [neighbours_since(item) for item in items]
    lookup = Lookup.read(store, keys, bands, since=since)
    new: list[NewItem] = []
    outcomes = []
    for (item, revision), item_keys, item_bands, item_since in zip(tagged, keys, bands, since, strict=True):
        existing_id = lookup.find(item_keys) or _near_duplicate(lookup, item, item_bands, item_since)
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


def accept_known(store: ItemStorage, lookup: Lookup, item: Item, existing_id: str, revision: str,
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
    _keep_entries(store, stored, item)
    merged_keys = (*keys, *identity_keys(merged))
    store.save(merged, keys=merged_keys, bands=bands, revision=revision or stored.revision,
               first_seen=stored.first_seen)
    moved = merged.updated != stored.item.updated  # it may join the newest of its other bands
    # Sources' own titles are kept only for a story with several (_keep_entries).
    titles = [e.title for e in store.entries_of(merged.id).values() if not e.title_derived] \
        if len(merged.sources) > 1 else []
    lookup.saved(merged, merged_keys, bands, store.bands_of(merged.id) if moved else (), titles)
    return "merged" if merged.source_ids != stored.item.source_ids else "revised"


def _keep_entries(store: ItemStorage, stored: StoredItem, item: Item) -> None:
    """Keep each source's own entry of a story with several sources (what a split needs).

    A story gaining its second source keeps the entry it held so far as its first source's;
    a single-source item needs none: it is its entry.
    """
    before = stored.item
    if item.source_ids <= before.source_ids and len(before.sources) < 2:
        return  # a revision of a single-source item
    if not item.source_ids <= before.source_ids and len(before.sources) == 1:
        store.save_entries(before.id, [before])
    store.save_entries(before.id, [item])


def neighbours_since(item: Item) -> str:
    """The oldest `updated` (stored time text) a band neighbour of `item` can have and still be
    its story: rule 4 (feeds.dedupe.rules) wants the two published at most MAX_DAYS_APART days
    apart, and a stored item's `updated` is never before its `published` (normalise, the seed
    reader and merge keep it so). A day more, so no neighbour is left out by a rounding: the
    bound only spares reading the band members that could not match."""
    return to_text(item.published - NEIGHBOUR_WINDOW) or ""


def _near_duplicate(lookup: Lookup, item: Item, bands: tuple[int, ...], since: str) -> str | None:
    """The first band neighbour that is the same story, logged; None if there is none."""
    if not bands or item.title_derived:
        return None
    explain = log.isEnabledFor(logging.DEBUG)  # reasons cost more than the decisions
    incoming = facts_of(item)  # its facts once, not once per neighbour
    for candidate in lookup.candidates(bands, since):
        verdict = rules.same_story(candidate, incoming, lookup.splits, explain=explain)
        if explain:
            log.debug("dedupe item=%s candidate=%s same=%s rule=%s reason=%r", item.id, candidate.id,
                      verdict.same, verdict.rule, verdict.reason)
        if verdict.same:
            reason = verdict.reason or rules.same_story(candidate, incoming, lookup.splits).reason
            log.info("dedupe merge item=%s into=%s source=%s rule=%s reason=%r", item.id, candidate.id,
                     ",".join(sorted(incoming.source_ids)), verdict.rule, reason)
            return candidate.id
    return None
