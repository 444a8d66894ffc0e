"""Undoing a merge: one source's own entry of a story becomes its own item again.

`partyfeeds split ITEM SOURCE` calls `split_item`. The source's entry, as the store kept it when
the story gained its second source (feeds.dedupe.accept), becomes an item of its own; the other
sources keep the story, rebuilt from their own entries. Whichever of the two was the story's
first entry keeps its id, so feed readers see it change rather than vanish. The pair is
remembered (`Store.add_split`), so their titles never merge them again; the identity keys of
the source's entry move with it, so its next poll finds it.

A store from before entries were kept holds only the story's displayed text: the split-off item
then starts from the source's link, and the sources are read again on their next poll, which
fills both items in from their feeds (as long as the feeds still carry the entries).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from feeds.dedupe.keys import identity_keys
from feeds.dedupe.merge import merge, primary_source
from feeds.dedupe.titles import title_bands
from feeds.errors import DedupeError
from feeds.model import Item, SourceRef, item_id
from feeds.parse.urls import canonical_url
from feeds.store.interface import IngestStorage


@dataclass(frozen=True, slots=True)
class Split:
    """The two items a split leaves, and whether their feeds must be read again to be whole."""

    kept: Item  # the story as the other sources carry it
    split_off: Item  # the source's own entry
    entries: Mapping[str, Item]  # the other sources' own entries, kept beside `kept`
    reread: tuple[str, ...] = ()  # sources whose entries the store did not hold


def plan_split(story: Item, source_id: str, entries: Mapping[str, Item], now: datetime) -> Split:
    """How `story` splits into `source_id`'s own entry and the rest (pure)."""
    refs = {ref.source_id: ref for ref in story.sources}
    if source_id not in refs:
        raise DedupeError(f"item {story.id}: {source_id} is not one of its sources ({', '.join(refs)})")
    if len(refs) < 2:
        raise DedupeError(f"item {story.id} has one source ({source_id}): nothing to split")
    rest = [ref for ref in story.sources if ref.source_id != source_id]
    own = entries.get(source_id) or _placeholder(refs[source_id], story, now)
    others = {ref.source_id: entries[ref.source_id] for ref in rest if ref.source_id in entries}
    kept = _rebuilt(story, rest, others, now)
    if own.id == story.id:  # the source was the story's first: it keeps the id
        kept = replace(kept, id=others[rest[0].source_id].id if rest[0].source_id in others
                       else item_id(f"{rest[0].source_id}\x1f{canonical_url(rest[0].link or story.id)}"))
    else:
        kept = replace(kept, id=story.id)
    reread = tuple(sorted({source_id} - entries.keys() | {ref.source_id for ref in rest} - others.keys()))
    return Split(kept, replace(own, sources=(refs[source_id],)), others, reread)


def _rebuilt(story: Item, rest: list[SourceRef], entries: Mapping[str, Item], now: datetime) -> Item:
    """The story from the other sources' own entries, or (not all kept) from what it shows."""
    if len(entries) == len(rest):
        kept = entries[rest[0].source_id]
        for ref in rest[1:]:
            kept = merge(kept, entries[ref.source_id], revised=False)
    else:
        link = primary_source(tuple(rest), story.parties).link
        kept = replace(story, sources=tuple(rest), link=link or story.link)
    return replace(kept, updated=max(now, story.updated))


def _placeholder(ref: SourceRef, story: Item, now: datetime) -> Item:
    """The source's entry when the store did not keep it: named by its link until its feed is read."""
    link = ref.link or story.link
    return Item(id=item_id(f"{ref.source_id}\x1f{canonical_url(link or story.id)}"), title=link or ref.title,
                title_derived=True, link=link, summary="", content="", published=story.published,
                updated=now, language=story.language, sources=(ref,),
                parties=(ref.party,) if ref.party else ())


def split_item(store: IngestStorage, story_id: str, source_id: str, now: datetime) -> Split:
    """Split `source_id`'s entry off the stored item `story_id`, inside the caller's transaction."""
    stored = store.get(story_id)
    if stored is None:
        raise DedupeError(f"no stored item {story_id}")
    split = plan_split(stored.item, source_id, store.entries_of(story_id), now)
    own_keys = _entry_keys(store, split.split_off, source_id, stored.item.id)
    old_keys = store.keys_of(story_id)
    for item in (split.split_off, split.kept):
        first_seen = stored.first_seen if item.id == story_id else now
        mine = own_keys if item is split.split_off else [k for k in old_keys if k not in own_keys]
        bands = title_bands([item.title], [item.title_derived])[0]
        store.save(item, keys=[*identity_keys(item), *mine], bands=bands, revision=stored.revision,
                   first_seen=first_seen)
    store.point_keys(own_keys, split.split_off.id)
    store.move_entries(split.kept.id, split.entries)
    if split.kept.id != story_id:
        store.move_entries(story_id, {})
    store.add_split(split.kept.id, split.split_off.id, now)
    store.forget_validators(split.reread)
    return split


def _entry_keys(store: IngestStorage, entry: Item, source_id: str, story_id: str) -> list[str]:
    """The keys the source's entry is known by: its id, and the ids of the source's last fetch
    that point at the story under the entry's link (all a store that kept no entry knows)."""
    link = canonical_url(entry.link) if entry.link else None
    fetched = {"id:" + item_id(source_id + "\x1f" + guid)
               for guid, guid_link in store.guid_links(source_id).items() if guid_link == link}
    return sorted({f"id:{entry.id}"} | (fetched & set(store.keys_of(story_id))))
