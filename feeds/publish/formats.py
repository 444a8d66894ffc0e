"""The formats every feed document is published in, side by side: Atom, then JSON Feed.

A format renders each item once (`entry`) and splices the rendered entries into every document
that holds the item (`document`). Its files sit beside the Atom document under the same name
with its own suffix (`party/kke.atom`, `party/kke.json`), and the Atom document links to each
of them as an `alternate`. A new format (RSS 2.0, say) is one module giving those two
functions and one entry in FORMATS; writing, freshness checks, stale-file removal and the
WebSub pings follow the list.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from feeds.model import FeedSpec, Item, SiteInfo
from feeds.publish import atomtext, jsonfeed
from feeds.publish.archive import Document
from feeds.publish.entryparts import ATOM_TYPE, JSON_FEED_TYPE, Labels


@dataclass(frozen=True, slots=True)
class Page:
    """One document of a feed's chain, as every format renders it."""

    spec: FeedSpec
    site: SiteInfo
    labels: Labels
    doc: Document
    entries: Sequence[str]  # this format's rendering of each item, newest first
    updated: str  # ISO time: the newest entry's, or when an empty feed was first published
    icon: str | None = None


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    suffix: str  # of its files, beside the Atom document's name
    media_type: str
    entry: Callable[[Item, SiteInfo, Labels], str]
    document: Callable[[Page], bytes]


def _atom(page: Page) -> bytes:
    return atomtext.document(page.spec, page.site, page.labels, page.doc, page.entries, page.updated,
                             icon=page.icon, alternates=alternates(page.doc.path))


def _json_feed(page: Page) -> bytes:
    return jsonfeed.document(page.spec, page.site, page.doc, page.entries, icon=page.icon)


def _json_feed_item(item: Item, site: SiteInfo, _labels: Labels) -> str:
    return jsonfeed.item_text(item, site)


ATOM = Format("atom", ".atom", ATOM_TYPE, atomtext.entry, _atom)
JSON_FEED = Format("json", ".json", JSON_FEED_TYPE, _json_feed_item, _json_feed)
FORMATS: tuple[Format, ...] = (ATOM, JSON_FEED)  # Atom first: a feed's path is its Atom document's


def suffixes() -> tuple[str, ...]:
    """The suffixes of a feed document's files."""
    return tuple(fmt.suffix for fmt in FORMATS)


def path_in(path: str, fmt: Format) -> str:
    """Where the document at `path` (its Atom name) is published in `fmt`."""
    return posixpath.splitext(path)[0] + fmt.suffix  # string work: a chain has thousands of pages


def paths(path: str) -> tuple[str, ...]:
    """Every file of the document at `path`, in FORMATS order."""
    return tuple(path_in(path, fmt) for fmt in FORMATS)


def alternates(path: str) -> list[tuple[str, str]]:
    """(path, media type) of the document's other formats: the Atom document's alternate links."""
    return [(path_in(path, fmt), fmt.media_type) for fmt in FORMATS if fmt is not ATOM]
