"""How the store's values are kept: dates as UTC text, lists as JSON, rows as records.

Datetimes are UTC ISO 8601 text ending in "Z", so text order is time order. Stored JSON
lists repeat (parties, topics, an empty list): each is decoded and encoded once.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from feeds.model import Item, SourceRef, SourceState


def to_text(value: datetime | None) -> str | None:
    """UTC ISO text that sorts in time order."""
    if value is None:
        return None
    return _utc_text(value)


@lru_cache(maxsize=1024)
def _utc_text(value: datetime) -> str:
    # Cached: a save writes the same published/updated/first_seen several times.
    # isoformat, not strftime: the same text (2024-03-01T12:00:00.000000Z) at a tenth of the cost.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_text(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value)


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item as stored, with what the store keeps beside it."""

    item: Item
    revision: str
    first_seen: datetime


@dataclass(frozen=True, slots=True)
class CandidateFacts:
    """The fields of a stored item that near-duplicate checks read (see feeds.dedupe.Story)."""

    id: str
    title: str
    language: str | None
    published: datetime
    parties: tuple[str, ...]
    updated: str  # as stored: the order of candidates, newest first
    source_ids: tuple[str, ...] = ()  # sorted; a tuple of one id is a quarter of a frozenset's size
    seen_titles: tuple[str, ...] = ()  # its title, then its sources' own in order; derived ones left out


@dataclass(frozen=True, slots=True)
class FeedMark:
    """What a publish left for the next one about a feed (migration 5)."""

    seen: int = 0  # its history holds every matching item up to this change_mark()
    fingerprint: str = ""  # of everything its head documents were rendered from
    files: str = ""  # the head files' sizes and mtimes as written: edited by hand means render
    summary: str = ""  # JSON of the index page's FeedSummary
    pages_base: str = ""  # the site.base_url its archive pages in place were rendered for ("": not known)
    first_published: str = ""  # UTC ISO time of its first publish (migration 11): an empty feed's `updated`
    pages: int = 0  # archive pages its folder held after that publish (migration 14)
    pages_stamp: str = ""  # the folder's stamp then ("": not known): unchanged, it holds just those


STATE_FIELDS = tuple(f.name for f in fields(SourceState))


# Positions in a state row; a cycle converts every source's state both ways, so by position
# (attrgetter, positional construction) rather than by name: a third of the main thread's
# CPU in an unchanged cycle went to converting by name.
_TIMES_AT = tuple(STATE_FIELDS.index(name) for name in ("last_attempt", "last_success", "next_fetch"))
_RETIRED_AT = STATE_FIELDS.index("retired")
_state_values = operator.attrgetter(*STATE_FIELDS)


def row_to_state(row: Sequence[Any]) -> SourceState:
    values = list(row)
    for at in _TIMES_AT:
        values[at] = from_text(values[at])
    values[_RETIRED_AT] = bool(values[_RETIRED_AT])
    return SourceState(*values)


def state_row(state: SourceState) -> list[Any]:
    values = list(_state_values(state))
    for at in _TIMES_AT:
        values[at] = to_text(values[at])
    return values


# The sources' own titles are only looked up for an item with several sources (char(31) in its ids).
_OWN_TITLES = ("SELECT group_concat(json_extract(entry, '$.title'), char(31)) FROM item_entries "
               "WHERE item_id = i.id AND NOT json_extract(entry, '$.title_derived')")
FACT_COLUMNS = ("i.id, i.title, i.language, i.published, i.parties, i.updated, i.title_derived, "
                f"i.source_ids, CASE WHEN instr(i.source_ids, char(31)) THEN ({_OWN_TITLES}) END")


def facts_of(item: Item, titles: Sequence[str] = ()) -> CandidateFacts:
    """An item's candidate facts; `titles`: its sources' own titles, for a story with several."""
    seen = (*item.seen_titles, *sorted(titles)) if titles else item.seen_titles
    return CandidateFacts(item.id, item.title, item.language, item.published, item.parties,
                          to_text(item.updated) or "", tuple(sorted(item.source_ids)),
                          tuple(dict.fromkeys(seen)))


def row_to_facts(row: Sequence[Any]) -> CandidateFacts:
    item_id, title, language, published, parties, updated, derived, sources, titles = row
    seen: tuple[str, ...] = () if derived else (title,)
    if titles:  # a story several sources carried: their own titles too
        seen = tuple(dict.fromkeys([*seen, *sorted(titles.split("\x1f"))]))
    return CandidateFacts(item_id, title, language, datetime.fromisoformat(published), tuple_of(parties),
                          updated, _source_ids(sources), seen)


def _source_ids(joined: str | None) -> tuple[str, ...]:
    if not joined:
        return ()
    return tuple(sorted(joined.split("\x1f"))) if "\x1f" in joined else (joined,)


@lru_cache(maxsize=4096)
def tuple_of(json_list: str) -> tuple[str, ...]:
    """A stored JSON list as a tuple; lists repeat (parties, topics, an empty list), so each is
    decoded once."""
    return tuple(json.loads(json_list))


@lru_cache(maxsize=4096)
def json_list(values: tuple[str, ...]) -> str:
    """A stored JSON list; party, topic and author lists repeat, so each is encoded once."""
    return json.dumps(list(values), ensure_ascii=False)


ITEM_COLUMNS = ("id, title, link, summary, content, published, updated, language, authors, parties, "
                "topics, categories, revision, first_seen, title_derived, enclosures")


class NewItem(NamedTuple):
    """An item the caller knows is not stored yet, with what is stored beside it (Store.save_new)."""

    item: Item
    keys: Sequence[str]
    bands: Sequence[int]
    revision: str


# What a save writes: the columns read back, and the source ids the dedupe rules read.
WRITE_COLUMNS = f"{ITEM_COLUMNS}, source_ids"


def item_row(item: Item, revision: str, first_seen: datetime) -> tuple[Any, ...]:
    """An item's row of `items`, in WRITE_COLUMNS order."""
    return (item.id, item.title, item.link, item.summary, item.content, to_text(item.published),
            to_text(item.updated), item.language, json_list(item.authors), json_list(item.parties),
            json_list(item.topics), json_list(item.categories), revision, to_text(first_seen),
            int(item.title_derived), json_list(item.enclosures),
            "\x1f".join(source.source_id for source in item.sources))


def source_rows(item: Item) -> list[tuple[Any, ...]]:
    """An item's rows of `item_sources`, by position."""
    return [(item.id, n, s.source_id, s.title, s.link, s.party, s.kind, s.site)
            for n, s in enumerate(item.sources)]


def band_rows(item: Item, bands: Sequence[int]) -> list[tuple[int, str | None, str]]:
    """An item's rows of `item_bands` for `bands`."""
    updated = to_text(item.updated)
    return [(band, updated, item.id) for band in bands]


def tag_rows(item: Item) -> list[tuple[str, str, str | None, str]]:
    """An item's rows of `item_tags`: its parties, then its topics."""
    updated = to_text(item.updated)
    return ([("party", p, updated, item.id) for p in item.parties]
            + [("topic", t, updated, item.id) for t in item.topics])


def row_to_stored(row: Sequence[Any], sources: tuple[SourceRef, ...]) -> StoredItem:
    (item_id, title, link, summary, content, published, updated, language, authors, parties, topics,
     categories, revision, first_seen, derived, enclosures) = row
    item = Item(
        id=str(item_id), title=str(title), link=link and str(link), summary=str(summary),
        content=str(content), published=datetime.fromisoformat(str(published)),
        updated=datetime.fromisoformat(str(updated)), language=language and str(language),
        authors=tuple_of(str(authors)), sources=sources, parties=tuple_of(str(parties)),
        topics=tuple_of(str(topics)), categories=tuple_of(str(categories)), title_derived=bool(derived),
        enclosures=tuple_of(str(enclosures)),
    )
    return StoredItem(item, str(revision), datetime.fromisoformat(str(first_seen)))


def chunks(values: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    """`values` in slices small enough for one statement's parameters."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def entry_json(item: Item) -> str:
    """One source's own entry (an item with that one source), as `item_entries` keeps it."""
    values = {name: getattr(item, name) for name in _ENTRY_FIELDS}
    values["published"], values["updated"] = to_text(item.published), to_text(item.updated)
    values["sources"] = [[s.source_id, s.title, s.link, s.party, s.kind, s.site] for s in item.sources]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def json_entry(text: str) -> Item:
    """The item `entry_json` wrote."""
    values = json.loads(text)
    values["published"] = datetime.fromisoformat(values["published"])
    values["updated"] = datetime.fromisoformat(values["updated"])
    # An entry kept before sources had a site lists five fields: its site is not known.
    values["sources"] = tuple(SourceRef(*source) for source in values["sources"])
    for name in ("authors", "parties", "topics", "categories", "enclosures"):
        values[name] = tuple(values[name])
    return Item(**values)


_ENTRY_FIELDS = tuple(f.name for f in fields(Item))
