"""Bringing a store made under older deduplication rules up to date, once, when it is opened.

Rules '1' (stores from before migration 10) dropped numbers and short words from titles and
merged entries of one source by their titles. Upgrading to RULES:

1. every item's bands are computed again from its title with today's words (titles.py), so a
   copy arriving later finds it;
2. entries of one source that were merged into one item by their titles, with different links,
   are released: their identity keys no longer point at the item, and the source's feed is read
   again on its next poll, so every entry it still carries comes back as an item of its own
   (the old rules kept only the newest entry's text: an entry no longer in its feed is lost);
3. stories that different sources' entries were merged into by their titles are counted and
   logged, not split: the store kept only one title, so today's rules cannot judge them again.
   An operator can split any of them (`partyfeeds split`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from feeds.dedupe.titles import title_bands
from feeds.model import Item, item_id
from feeds.parse.urls import canonical_url
from feeds.store.interface import IngestStorage

log = logging.getLogger(__name__)

RULES = "2"
_BATCH = 10_000  # titles banded at once


@dataclass(slots=True)
class UpgradeReport:
    items: int = 0  # items banded again
    released: int = 0  # entries of one source released from an item they did not belong in
    sources: set[str] = field(default_factory=set)  # sources read again on their next poll
    unjudged: int = 0  # cross-source stories merged by title under the old rules, kept as they are


def upgrade(store: IngestStorage) -> UpgradeReport | None:
    """Upgrade `store` to RULES inside one transaction; None if it is up to date already."""
    if store.meta("dedupe_rules") in (None, RULES):
        return None
    report = UpgradeReport()
    with store.transaction():
        report.items = _band_again(store)
        for story_id, keys in store.keys_by_item().items():
            _release_same_source(store, story_id, keys, report)
        store.forget_validators(sorted(report.sources))
        store.set_meta("dedupe_rules", RULES)
    log.info("dedupe upgrade rules=%s items=%d released=%d reread_sources=%d unjudged=%d", RULES,
             report.items, report.released, len(report.sources), report.unjudged)
    return report


def _band_again(store: IngestStorage) -> int:
    titles = store.titles()
    bands: dict[str, tuple[int, ...]] = {}
    for start in range(0, len(titles), _BATCH):
        chunk = titles[start:start + _BATCH]
        found = title_bands([title for _, title, _ in chunk], [derived for _, _, derived in chunk])
        bands.update(zip([item for item, _, _ in chunk], found, strict=True))
    store.rebuild_bands(bands)
    return len(titles)


def _release_same_source(store: IngestStorage, story_id: str, keys: list[str], report: UpgradeReport) -> None:
    """Release the entries of each source that share the item without sharing its link."""
    stored = store.get(story_id)
    if stored is None:
        return
    story, held = stored.item, {key for key in keys if key.startswith("id:")}
    by_source = {ref.source_id: _entries_of(store, ref.source_id, story, held) for ref in story.sources}
    for ref in story.sources:
        kept_link = _own_link(ref.source_id, story, by_source[ref.source_id])
        released = {u: link for u, link in by_source[ref.source_id].items()
                    if u != story.id and (kept_link is None or link != kept_link)}
        if released and (len(by_source[ref.source_id]) > 1 or ref.source_id == story.sources[0].source_id):
            store.drop_keys([f"id:{u}" for u in released])
            store.drop_keys([f"link:{link}" for link in set(released.values()) if link != kept_link])
            report.released += len(released)
            report.sources.add(ref.source_id)
    if _merged_by_title(story):
        report.unjudged += 1
        log.warning("dedupe upgrade item=%s sources=%s: merged by title under the old rules; "
                    "`partyfeeds split` undoes it if wrong", story.id, ",".join(sorted(story.source_ids)))


def _entries_of(store: IngestStorage, source_id: str, story: Item, held: set[str]) -> dict[str, str]:
    """{entry id: canonical link} of the source's entries known to be in `story`: from the
    guids of its last fetch, and from the story's links (entries identified by link)."""
    guids = store.guid_links(source_id)
    links = {canonical_url(ref.link) for ref in story.sources if ref.link}
    found = {item_id(f"{source_id}\x1f{guid}"): link for guid, link in guids.items()}
    found.update({item_id(f"{source_id}\x1f{link}"): link for link in links | set(guids.values())})
    return {u: link for u, link in found.items() if f"id:{u}" in held}


def _own_link(source_id: str, story: Item, entries: Mapping[str, str]) -> str | None:
    """The link of the entry the item stands for, for its first source; else the source's
    credited link (the newest entry it merged)."""
    if source_id == story.sources[0].source_id:
        return entries.get(story.id)
    ref = next(ref for ref in story.sources if ref.source_id == source_id)
    return canonical_url(ref.link) if ref.link else None


def _merged_by_title(story: Item) -> bool:
    """Whether sources were merged without sharing a link (by their titles)."""
    links = [{canonical_url(ref.link)} if ref.link else set() for ref in story.sources]
    return len(story.sources) > 1 and not set.intersection(*links)
