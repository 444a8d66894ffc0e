"""What every published format says of a feed and an item: the parts the Atom writers
(render.py, atomtext.py), the JSON Feed writer (jsonfeed.py) and the pages (pages.py) share.

Titles and text cleaned of what XML cannot carry, labels for party codes and topic ids, the
published URL of a file, the order of entries, an entry's authors, links ("via" and
"enclosure" too), HTML body with its credit line, categories, and the source named as its
origin with the stable id published for it. Plain functions of the item and the site, so each
format says the same thing; no writer library is imported here.
"""

from __future__ import annotations

import functools
import html
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from feeds.model import ITEM_NAMESPACE, Item, SiteInfo, SourceRef, atom_id
from feeds.parse.sanitize import LINK_REL

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"
JSON_FEED_TYPE = "application/feed+json"
FH_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
GENERATOR = "partyfeeds"
UNTITLED = "(untitled)"
# Namespace for source ids: derived, never changes (it would change every published source id).
SOURCE_NAMESPACE = uuid.uuid5(ITEM_NAMESPACE, "partyfeeds:source")

# Characters XML 1.0 cannot carry at all; lxml raises on them, so drop them.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# RFC 3066 tag as atom.rnc's atomLanguageTag allows it; anything else is not published.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*\Z")


@dataclass(frozen=True, slots=True)
class Labels:
    """Human labels for party codes and topic ids; unknown keys show as themselves."""

    parties: Mapping[str, str] = field(default_factory=dict)
    topics: Mapping[str, str] = field(default_factory=dict)

    def party(self, code: str) -> str:
        return self.parties.get(code) or code

    def topic(self, topic_id: str) -> str:
        return self.topics.get(topic_id) or topic_id


def clean_text(text: str | None) -> str:
    """`text` without the characters XML 1.0 forbids (they would abort serialisation)."""
    return NOT_XML.sub("", text or "")


def feed_url(site: SiteInfo, path: str) -> str:
    """Absolute URL of a published file; `site.base_url` ends with "/"."""
    return site.base_url + path.lstrip("/")


class Dated(Protocol):
    """An item, or an item's rendering: what ordering a feed needs."""

    @property
    def id(self) -> str: ...

    @property
    def updated(self) -> datetime: ...


D = TypeVar("D", bound=Dated)


def newest_first(items: Iterable[D]) -> list[D]:
    """Items by `updated` descending, ties broken by id: one order for one input."""
    by_id = sorted(items, key=lambda item: item.id)
    return sorted(by_id, key=lambda item: item.updated, reverse=True)  # stable: keeps id order


def author_names(item: Item, site: SiteInfo) -> list[str]:
    """The item's authors, else its first source's title, else the site's author."""
    first_source = item.sources[0].title if item.sources else None
    return list(_author_names(item.authors, first_source, site.author_name))


@functools.lru_cache(maxsize=4096)  # author lists and source names repeat item after item
def _author_names(authors: tuple[str, ...], first_source: str | None, fallback: str) -> tuple[str, ...]:
    names = unique(clean_text(name).strip() for name in authors)
    if not names and first_source is not None:
        names = unique([clean_text(first_source).strip()])
    return tuple(names or [fallback])


def entry_links(item: Item) -> list[tuple[str, str]]:
    """(rel, href): the item's own link, where else it came from as "via", attached files as "enclosure"."""
    links = [("alternate", item.link)] if item.link else []
    links += [("via", href) for href in via_links(item)]
    return links + [("enclosure", href) for href in item.enclosures]


def via_links(item: Item) -> list[str]:
    """A link per source besides the entry's own: the source's own link to the story, or, when
    that is the entry's link, the source's site. The origin (`main_source`) gave the entry its
    link: it is named by atom:source instead."""
    origin = main_source(item)
    hrefs = unique(_via(source, item.link, source is origin) for source in item.sources)
    return [href for href in hrefs if href != item.link]


def _via(source: SourceRef, entry_link: str | None, is_origin: bool) -> str | None:
    if source.link and source.link != entry_link:
        return source.link
    return None if is_origin else source.site


def content_html(item: Item, title: str) -> str:
    """The entry's HTML body: its content, else its summary, else (no link either) its title;
    a story several sources carried ends with a line naming them, with links."""
    content = clean_text(item.content)
    if not content.strip():
        content = clean_text(item.summary)
    if not content.strip():  # Atom needs content or an alternate link; readers want some text
        content = html.escape(title)
    if len(item.sources) > 1:
        content = f"{content}\n{sources_html(item.sources)}".strip()
    return content if content.strip() else ""


def sources_html(sources: Sequence[SourceRef]) -> str:
    """`<p>Reported by: <a href=...>902.gr</a>, ...</p>`, each name once (two feeds of one site
    may share a name); only http(s) links become links."""
    credits: dict[str, str] = {}
    for source in sources:
        name = source_name(source)
        if name not in credits:
            credits[name] = _credit_html(name, source.link or "")
    return f"<p>Reported by: {', '.join(credits.values())}</p>"


def _credit_html(name: str, link: str) -> str:
    if urlsplit(link).scheme.lower() not in {"http", "https"}:
        return html.escape(name)
    # The rel sanitised source links get: published HTML stays within one allow-list.
    return f'<a href="{html.escape(link, quote=True)}" rel="{LINK_REL}">{html.escape(name)}</a>'


def source_name(source: SourceRef) -> str:
    """The name a source is credited by: its title, else its id."""
    return clean_text(source.title).strip() or source.source_id


def category_terms(item: Item) -> list[str]:
    """The terms of the entry's categories, in order, each once: parties, topics, own categories."""
    return list(_category_terms(item.parties, item.topics, item.categories))


@functools.lru_cache(maxsize=4096)  # tag sets repeat item after item
def _category_terms(parties: tuple[str, ...], topics: tuple[str, ...], categories: tuple[str, ...]
                    ) -> tuple[str, ...]:
    own = (clean_text(term).strip() for term in categories)
    return tuple(unique([*unique(parties), *unique(topics), *unique(own)]))


def unique(values: Iterable[str | None]) -> list[str]:
    """Non-empty values, first occurrence kept, order otherwise unchanged."""
    return list(dict.fromkeys(value for value in values if value))


def main_source(item: Item) -> SourceRef | None:
    """The source whose link the entry uses (the party's own feed first, as merging chose it, when
    an aggregator carried the same link), else the first one."""
    with_link = [source for source in item.sources if source.link and source.link == item.link]
    own = [source for source in with_link if source.party and source.party in item.parties]
    return next(iter(own or with_link or item.sources), None)


@functools.lru_cache(maxsize=4096)  # a publish asks once per entry, for a few thousand sources
def source_atom_id(source_id: str) -> str:
    """The atom:id published for a configured source: a urn:uuid, so readers do not take it
    for a link (an http IRI under base_url would 404) and a new base_url keeps it."""
    return atom_id(str(uuid.uuid5(SOURCE_NAMESPACE, source_id)))

