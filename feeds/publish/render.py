"""Render one feed as Atom 1.0 bytes: the only module that imports feedgen.

feedgen's defaults fight determinism, so this module overrides them:

* it stamps the feed's and every entry's `updated` with the build time: we set
  both from the items (an empty feed gets the time it was first published, which
  feeds/publish/__init__.py keeps in the feed's mark: never "now", never a made-up date);
* `add_entry()` prepends: we append, in our own order (updated desc, then id);
* its `<source>` holds only a title and a link, and entries cannot carry
  `xml:lang`: we add both with lxml after feedgen has built the document.

Given a chain `Document` (feeds/publish/archive.py), the feed is one document of an RFC 5005
chain: all the items given are rendered (no cut), with prev-archive / next-archive /
current links, `fh:archive` on archive pages, and a link to the JSON Feed twin.

Same input, same bytes. Labels come in as plain mappings so rendering does not
depend on the party registry.
"""

from __future__ import annotations

import functools
import html
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds.errors import PublishError
from feeds.model import ITEM_NAMESPACE, FeedSpec, Item, SiteInfo, SourceRef, atom_id
from feeds.parse.sanitize import LINK_REL
from feeds.publish.archive import Document

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"
JSON_FEED_TYPE = "application/feed+json"
FH_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
GENERATOR = "partyfeeds"
UNTITLED = "(untitled)"
# Namespace for source ids: derived, never changes (it would change every published source id).
SOURCE_NAMESPACE = uuid.uuid5(ITEM_NAMESPACE, "partyfeeds:source")

# Characters XML 1.0 cannot carry at all; lxml raises on them, so drop them.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# RFC 3066 tag as atom.rnc's atomLanguageTag allows it; anything else is not published.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*\Z")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


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


def newest_first(items: Iterable[Item]) -> list[Item]:
    """Items by `updated` descending, ties broken by id: one order for one input."""
    by_id = sorted(items, key=lambda item: item.id)
    return sorted(by_id, key=lambda item: item.updated, reverse=True)  # stable: keeps id order


def render_atom(spec: FeedSpec, items: Sequence[Item], site: SiteInfo, labels: Labels, *,
                doc: Document | None = None, icon: str | None = None,
                updated_if_empty: datetime | None = None) -> bytes:
    """The Atom document for `spec`: the newest `site.entries_per_feed` of `items`, or, as the
    chain document `doc`, all of them. `updated_if_empty`: the feed's `updated` when it has no
    entries (the time it was first published); an empty feed needs it."""
    _refuse_duplicate_ids(spec, items)  # over all items: which copy made the cut would depend on order
    chosen = newest_first(items) if doc else newest_first(items)[: site.entries_per_feed]
    updated = chosen[0].updated if chosen else updated_if_empty
    if updated is None:
        raise PublishError(f"{spec.path}: an empty feed needs the time it was first published")
    try:
        generator = _feed_head(spec, site, updated, labels, doc.path if doc else spec.path)
        if doc is not None:
            _chain_links(generator, site, doc)
        if icon:
            generator.icon(icon)
        for item in chosen:
            generator.add_entry(_entry(item, site, labels), order="append")
        raw = generator.atom_str(pretty=False)
    except ValueError as exc:  # feedgen's and lxml's complaint about a missing or bad field
        raise PublishError(f"{spec.path}: cannot render Atom: {exc}") from exc
    return _finish(raw, {atom_id(item.id): item for item in chosen}, archive=bool(doc and doc.is_archive))


def _refuse_duplicate_ids(spec: FeedSpec, items: Sequence[Item]) -> None:
    dupes = sorted(i for i, n in Counter(item.id for item in items).items() if n > 1)
    if dupes:
        raise PublishError(f"{spec.path}: items share an id (dedupe bug?): {', '.join(dupes)}")


def _feed_head(spec: FeedSpec, site: SiteInfo, updated: datetime, labels: Labels,
               self_path: str) -> FeedGenerator:
    generator = FeedGenerator()
    generator.id(feed_url(site, spec.path))  # archive pages share it: one logical feed (RFC 5005)
    generator.title(clean_text(spec.title) or spec.path)
    if clean_text(spec.subtitle).strip():
        generator.subtitle(clean_text(spec.subtitle))
    generator.updated(updated)  # replaces feedgen's build-time stamp
    generator.link(href=feed_url(site, self_path), rel="self", type=ATOM_TYPE)
    generator.link(href=site.base_url, rel="alternate", type="text/html")
    if spec.kind == "party" and spec.website:
        generator.link(href=spec.website, rel="related", type="text/html")
    if site.hub_url:
        generator.link(href=site.hub_url, rel="hub")
    generator.author(_person(site.author_name, uri=site.author_uri, email=site.author_email))
    generator.generator(GENERATOR)  # no version: a release must not rewrite every feed
    if spec.kind == "party" and spec.key:
        generator.category(term=spec.key, scheme=site.base_url + "party/", label=labels.party(spec.key))
    if spec.kind == "topic" and spec.key:
        generator.category(term=spec.key, scheme=site.base_url + "topic/", label=labels.topic(spec.key))
    return generator


def _chain_links(generator: FeedGenerator, site: SiteInfo, doc: Document) -> None:
    """The JSON Feed twin and the RFC 5005 links."""
    generator.link(href=feed_url(site, doc.json_path), rel="alternate", type=JSON_FEED_TYPE)
    for rel, path in (("current", doc.current if doc.is_archive else None),
                      ("prev-archive", doc.prev_archive), ("next-archive", doc.next_archive)):
        if path:
            generator.link(href=feed_url(site, path), rel=rel, type=ATOM_TYPE)


def _person(name: str, uri: str | None = None, email: str | None = None) -> dict[str, str]:
    person = {"name": name}
    if uri:
        person["uri"] = uri
    if email:
        person["email"] = email
    return person


def _entry(item: Item, site: SiteInfo, labels: Labels) -> FeedEntry:
    entry = FeedEntry()
    title = clean_text(item.title).strip() or UNTITLED
    entry.id(atom_id(item.id))
    entry.title(title)
    entry.updated(item.updated)  # replaces feedgen's build-time stamp
    entry.published(item.published)
    for name in author_names(item, site):
        entry.author(name=name)
    for rel, href in entry_links(item):
        entry.link(href=href, rel=rel)  # feedgen 1.0 drops rel here: _fix_links restores it
    _add_bodies(entry, item, title)
    _add_categories(entry, item, site, labels)
    return entry


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


def _add_bodies(entry: FeedEntry, item: Item, title: str) -> None:
    """Summary and content as HTML, never empty; content falls back so readers show something."""
    summary = clean_text(item.summary)
    if summary.strip():
        entry.summary(summary, type="html")
    content = content_html(item, title)
    if content:
        entry.content(content, type="html")


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


def _add_categories(entry: FeedEntry, item: Item, site: SiteInfo, labels: Labels) -> None:
    for code in unique(item.parties):
        entry.category(term=code, scheme=site.base_url + "party/", label=clean_text(labels.party(code)))
    for topic in unique(item.topics):
        entry.category(term=topic, scheme=site.base_url + "topic/", label=clean_text(labels.topic(topic)))
    for term in unique(clean_text(term).strip() for term in item.categories):
        entry.category(term=term)


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


def _finish(raw: bytes, items_by_atom_id: Mapping[str, Item], *, archive: bool = False) -> bytes:
    """Add what feedgen cannot express (fh:archive, entry xml:lang, a full atom:source), then serialise."""
    root = etree.fromstring(raw, _PARSER)
    if archive:
        etree.SubElement(root, f"{{{FH_NS}}}archive", nsmap={"fh": FH_NS})
        first_entry = root.find(f"{{{ATOM_NS}}}entry")
        if first_entry is not None:  # feed metadata before the entries, as readers expect
            first_entry.addprevious(root[-1])
    for entry in root.iterfind(f"{{{ATOM_NS}}}entry"):
        item = items_by_atom_id[entry.findtext(f"{{{ATOM_NS}}}id")]
        if item.language and LANGUAGE_TAG.match(item.language):
            entry.set(XML_LANG, item.language)
        _fix_links(entry, item)
        source = main_source(item)
        if source is not None:
            _append_source(entry, source, item)
    return bytes(etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True))


def _fix_links(entry: etree._Element, item: Item) -> None:
    """Rewrite entry links: feedgen 1.0's FeedEntry.atom_entry() emits them without `rel`,
    which makes every via link a second "alternate" (invalid Atom)."""
    old = entry.findall(f"{{{ATOM_NS}}}link")
    position = entry.index(old[0]) if old else len(entry)
    for element in old:
        entry.remove(element)
    for offset, (rel, href) in enumerate(entry_links(item)):
        link = etree.Element(f"{{{ATOM_NS}}}link", href=href, rel=rel)
        entry.insert(position + offset, link)


def main_source(item: Item) -> SourceRef | None:
    """The source whose link the entry uses (the party's own feed first, as merging chose it, when
    an aggregator carried the same link), else the first one."""
    with_link = [source for source in item.sources if source.link and source.link == item.link]
    own = [source for source in with_link if source.party and source.party in item.parties]
    return next(iter(own or with_link or item.sources), None)


def _append_source(entry: etree._Element, source: SourceRef, item: Item) -> None:
    """atom:source with id, title and updated (RFC 4287 4.2.11).

    We do not keep the source feed's own atom:id, so we publish a stable one of our
    own; `updated` is the item's, the last change we saw from that source.
    """
    element = etree.SubElement(entry, f"{{{ATOM_NS}}}source")
    etree.SubElement(element, f"{{{ATOM_NS}}}id").text = source_atom_id(source.source_id)
    etree.SubElement(element, f"{{{ATOM_NS}}}title").text = source_name(source)
    etree.SubElement(element, f"{{{ATOM_NS}}}updated").text = item.updated.isoformat()


@functools.lru_cache(maxsize=4096)  # a publish asks once per entry, for a few thousand sources
def source_atom_id(source_id: str) -> str:
    """The atom:id published for a configured source: a urn:uuid, so readers do not take it
    for a link (an http IRI under base_url would 404) and a new base_url keeps it."""
    return atom_id(str(uuid.uuid5(SOURCE_NAMESPACE, source_id)))
