"""Merging an incoming item into the stored item it duplicates (pure).

The merged entry credits every source. Its main link is a party's own link
when one of the sources is that party's own feed; its text comes from the
source that provides the main link. `updated` moves only when what a reader
sees of the story changes (text, tags, links, the list of sources and their
links) or a new revision marker appears — a re-fetch of the same thing changes
nothing. A source's new name or site is taken in without moving it: the story
is not news again because its source was renamed in the configuration.
"""

from __future__ import annotations

from dataclasses import replace

from feeds.model import Item, SourceRef


def merge_sources(old: tuple[SourceRef, ...], new: tuple[SourceRef, ...]) -> tuple[SourceRef, ...]:
    """Old sources in their order, each replaced by its newer copy; new ones appended."""
    newer = {s.source_id: s for s in new}
    merged = [newer.pop(s.source_id, s) for s in old]
    merged.extend(s for s in new if s.source_id in newer)
    return tuple(merged)


def primary_source(sources: tuple[SourceRef, ...], parties: tuple[str, ...]) -> SourceRef:
    """The party's own feed if one carried the item, else the first source."""
    own = [s for s in sources if s.party and s.party in parties and s.link]
    feeds = [s for s in sources if s.kind == "feed" and s.link]
    return (own or feeds or list(sources))[0]


def merge(existing: Item, incoming: Item, *, revised: bool) -> Item:
    """`existing` with `incoming` folded in. `revised`: a new revision marker was seen."""
    incoming_ids = {s.source_id for s in incoming.sources}
    same_source_only = {s.source_id for s in existing.sources} <= incoming_ids
    sources = merge_sources(existing.sources, incoming.sources)
    # A re-fetch from the same source re-tags; another source adds its tags.
    parties = incoming.parties if same_source_only else _union(existing.parties, incoming.parties)
    topics = incoming.topics if same_source_only else _union(existing.topics, incoming.topics)
    primary = primary_source(sources, parties)
    text = incoming if primary.source_id in incoming_ids else existing
    merged = replace(
        existing, title=text.title, title_derived=text.title_derived, summary=text.summary,
        content=text.content, enclosures=text.enclosures or existing.enclosures,
        link=primary.link or text.link, language=text.language or existing.language,
        authors=text.authors or existing.authors, categories=text.categories, sources=sources,
        parties=parties, topics=topics, published=min(existing.published, incoming.published),
    )
    credits_changed = _credits(sources) != _credits(existing.sources)
    changed = revised or credits_changed or merged.content_hash != existing.content_hash
    if not changed:
        return replace(merged, updated=existing.updated)
    return replace(merged, updated=max(existing.updated, incoming.updated, merged.published))


def _credits(sources: tuple[SourceRef, ...]) -> list[tuple[str, str | None]]:
    """What of the sources moves `updated`: which they are, and their links to the story."""
    return [(source.source_id, source.link) for source in sources]


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(a) | set(b)))
