"""Render one feed as Atom 1.0 bytes with feedgen: the reference Atom writer, and the only module
that imports feedgen.

The publisher writes its documents with atomtext.py, which gives these bytes for the same input
(tests/test_atomtext.py); this writer renders the operator's health feed, and is what atomtext
is held to. What every format says of an item (titles, authors, links, bodies, categories,
credits) comes from entryparts.py.

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

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds.errors import PublishError
from feeds.model import FeedSpec, Item, SiteInfo, SourceRef, atom_id
from feeds.publish.archive import Document
from feeds.publish.entryparts import (
    ATOM_NS,
    ATOM_TYPE,
    FH_NS,
    GENERATOR,
    JSON_FEED_TYPE,
    LANGUAGE_TAG,
    UNTITLED,
    Labels,
    author_names,
    clean_text,
    content_html,
    entry_links,
    feed_url,
    main_source,
    newest_first,
    source_atom_id,
    source_name,
    unique,
)

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


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


def _add_bodies(entry: FeedEntry, item: Item, title: str) -> None:
    """Summary and content as HTML, never empty; content falls back so readers show something."""
    summary = clean_text(item.summary)
    if summary.strip():
        entry.summary(summary, type="html")
    content = content_html(item, title)
    if content:
        entry.content(content, type="html")


def _add_categories(entry: FeedEntry, item: Item, site: SiteInfo, labels: Labels) -> None:
    for code in unique(item.parties):
        entry.category(term=code, scheme=site.base_url + "party/", label=clean_text(labels.party(code)))
    for topic in unique(item.topics):
        entry.category(term=topic, scheme=site.base_url + "topic/", label=clean_text(labels.topic(topic)))
    for term in unique(clean_text(term).strip() for term in item.categories):
        entry.category(term=term)


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


def _append_source(entry: etree._Element, source: SourceRef, item: Item) -> None:
    """atom:source with id, title and updated (RFC 4287 4.2.11).

    We do not keep the source feed's own atom:id, so we publish a stable one of our
    own; `updated` is the item's, the last change we saw from that source.
    """
    element = etree.SubElement(entry, f"{{{ATOM_NS}}}source")
    etree.SubElement(element, f"{{{ATOM_NS}}}id").text = source_atom_id(source.source_id)
    etree.SubElement(element, f"{{{ATOM_NS}}}title").text = source_name(source)
    etree.SubElement(element, f"{{{ATOM_NS}}}updated").text = item.updated.isoformat()
