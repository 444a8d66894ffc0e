"""Atom documents written as text from entries rendered once: the publisher's Atom writer, the fast
path beside render.py (feedgen, the reference).

A publish writes several hundred thousand entries: every item sits in all.atom and in its
party, topic (and country, language, composed) feeds, in a head or an archive page. feedgen
builds an element tree per entry and document (~20,000 entries/s), so the publisher renders
each item's `<entry>` once, here, as text, and splices the same text into every document that
holds it. The bytes are exactly those of `render.render_atom` for the same input (feedgen's
element order, lxml's escaping and two-space indentation; tests/test_atomtext.py proves it on
generated input), so a feed does not change when the writer does. A first publish of the bench's
100,000 items takes less than half the time it takes with feedgen (docs/architecture.md, "Fast paths").
Nothing is left to feedgen: this writes every document render_atom writes, and refuses what it
refuses.

Text is escaped with `xml.sax.saxutils.escape` plus the characters libxml2 escapes too (`\\r`
in text; quotes, tabs and newlines in attributes). Strings that are not cleaned by
`entryparts.clean_text` (links, codes, site settings) are refused when XML cannot carry them, as
lxml refuses them for feedgen.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from xml.sax.saxutils import escape

from feeds.errors import PublishError
from feeds.model import FeedSpec, Item, SiteInfo, atom_id
from feeds.publish.archive import Document
from feeds.publish.entryparts import (
    ATOM_NS,
    ATOM_TYPE,
    FH_NS,
    GENERATOR,
    JSON_FEED_TYPE,
    LANGUAGE_TAG,
    NOT_XML,
    UNTITLED,
    Labels,
    author_names,
    clean_text,
    content_html,
    entry_links,
    feed_url,
    main_source,
    source_atom_id,
    unique,
)

_TEXT = {"\r": "&#13;"}
_ATTRIBUTE = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
_TEXT_SPECIAL = re.compile("[&<>\r]")
_ATTRIBUTE_SPECIAL = re.compile('[&<>"\n\r\t]')
_PROLOGUE = f"<?xml version='1.0' encoding='UTF-8'?>\n<feed xmlns=\"{ATOM_NS}\">\n"
_ARCHIVE = f'  <fh:archive xmlns:fh="{FH_NS}"/>\n'


def _text(value: str) -> str:
    return escape(value, _TEXT) if _TEXT_SPECIAL.search(value) else value  # most text needs none


def _attr(value: str) -> str:
    return escape(value, _ATTRIBUTE) if _ATTRIBUTE_SPECIAL.search(value) else value


def _raw(value: str) -> str:
    """A string that was not cleaned: XML must be able to carry it, as lxml insists."""
    if NOT_XML.search(value):
        raise PublishError(f"cannot render Atom: {value!r} holds characters XML cannot carry")
    return value


def _element(indent: str, name: str, text: str, attributes: str = "") -> str:
    return f"{indent}<{name}{attributes}>{_text(text)}</{name}>\n"


def _category(indent: str, term: str, scheme: str | None = None, label: str = "") -> str:
    parts = f' term="{_attr(term)}"'
    if scheme:
        parts += f' scheme="{_attr(scheme)}"'
    if label:
        parts += f' label="{_attr(label)}"'
    return f"{indent}<category{parts}/>\n"


def _link(indent: str, href: str, rel: str, type_: str | None = None) -> str:
    kind = f' type="{_attr(type_)}"' if type_ else ""
    return f'{indent}<link href="{_attr(_raw(href))}" rel="{_attr(rel)}"{kind}/>\n'


# --- entries --------------------------------------------------------------------------------


def entry(item: Item, site: SiteInfo, labels: Labels) -> str:
    """`item`'s `<entry>` element, indented as a child of `<feed>`, ending in a newline."""
    title = clean_text(item.title).strip() or UNTITLED
    language = item.language if item.language and LANGUAGE_TAG.match(item.language) else None
    lang = f' xml:lang="{_attr(language)}"' if language else ""
    updated = item.updated.isoformat()
    parts = [f"  <entry{lang}>\n", _element("    ", "id", _raw(atom_id(item.id))),
             _element("    ", "title", title), _element("    ", "updated", updated)]
    parts += [f"    <author>\n{_element('      ', 'name', name)}    </author>\n"
              for name in author_names(item, site)]
    content = content_html(item, title)
    if content:
        parts.append(_element("    ", "content", content, ' type="html"'))
    parts += [_link("    ", href, rel) for rel, href in entry_links(item)]
    summary = clean_text(item.summary)
    if summary.strip():
        parts.append(_element("    ", "summary", summary, ' type="html"'))
    parts += _entry_categories(item, site, labels)
    parts.append(_element("    ", "published", item.published.isoformat()))
    parts.append(_source(item, updated))
    parts.append("  </entry>\n")
    return "".join(parts)


def _entry_categories(item: Item, site: SiteInfo, labels: Labels) -> list[str]:
    party, topic = site.base_url + "party/", site.base_url + "topic/"
    return ([_tag_category(code, party, labels.party(code)) for code in unique(item.parties)]
            + [_tag_category(topic_id, topic, labels.topic(topic_id)) for topic_id in unique(item.topics)]
            + [_own_category(term) for term in unique(clean_text(term).strip() for term in item.categories)])


@functools.lru_cache(maxsize=4096)  # a registry's tags, over and over
def _tag_category(term: str, scheme: str, label: str) -> str:
    return _category("    ", _raw(term), scheme, clean_text(label))


@functools.lru_cache(maxsize=4096)
def _own_category(term: str) -> str:
    return _category("    ", term)


def _source(item: Item, updated: str) -> str:
    source = main_source(item)
    if source is None:
        return ""
    title = clean_text(source.title).strip() or _raw(source.source_id)
    return ("    <source>\n" + _element("      ", "id", source_atom_id(source.source_id))
            + _element("      ", "title", title) + _element("      ", "updated", updated)
            + "    </source>\n")


# --- documents ------------------------------------------------------------------------------


def document(spec: FeedSpec, site: SiteInfo, labels: Labels, doc: Document, entries: Sequence[str],
             updated: str, icon: str | None = None,
             alternates: Sequence[tuple[str, str]] | None = None) -> bytes:
    """The chain document `doc` of `spec`, holding `entries` (from `entry`, newest first);
    `updated` in ISO form: the newest entry's, or for an empty document the time the feed was
    first published. `alternates`: (path, media type) of the document in other formats (None:
    its JSON Feed twin)."""
    head = _head(spec, site, labels, doc, updated, icon, alternates)
    archive = _ARCHIVE if doc.is_archive else ""
    return (_PROLOGUE + head + archive + "".join(entries) + "</feed>\n").encode("utf-8")


def _head(spec: FeedSpec, site: SiteInfo, labels: Labels, doc: Document, updated: str,
          icon: str | None, alternates: Sequence[tuple[str, str]] | None) -> str:
    parts = [_element("  ", "id", _raw(feed_url(site, spec.path))),
             _element("  ", "title", clean_text(spec.title) or _raw(spec.path)),
             _element("  ", "updated", updated), _author(site)]
    parts += _head_links(spec, site, doc, alternates)
    if spec.kind == "party" and spec.key:
        parts.append(_category("  ", _raw(spec.key), site.base_url + "party/", _raw(labels.party(spec.key))))
    if spec.kind == "topic" and spec.key:
        parts.append(_category("  ", _raw(spec.key), site.base_url + "topic/", _raw(labels.topic(spec.key))))
    parts.append(_element("  ", "generator", GENERATOR))
    if icon:
        parts.append(_element("  ", "icon", _raw(icon)))
    subtitle = clean_text(spec.subtitle)
    if subtitle.strip():
        parts.append(_element("  ", "subtitle", subtitle))
    return "".join(parts)


def _author(site: SiteInfo) -> str:
    if not site.author_name:
        return ""
    inner = _element("    ", "name", _raw(site.author_name))
    if site.author_email:
        inner += _element("    ", "email", _raw(site.author_email))
    if site.author_uri:
        inner += _element("    ", "uri", _raw(site.author_uri))
    return f"  <author>\n{inner}  </author>\n"


def _head_links(spec: FeedSpec, site: SiteInfo, doc: Document,
                alternates: Sequence[tuple[str, str]] | None) -> list[str]:
    links = [_link("  ", feed_url(site, doc.path), "self", ATOM_TYPE),
             _link("  ", site.base_url, "alternate", "text/html")]
    if spec.kind == "party" and spec.website:
        links.append(_link("  ", spec.website, "related", "text/html"))
    if site.hub_url:
        links.append(_link("  ", site.hub_url, "hub"))
    for twin, media_type in [(doc.json_path, JSON_FEED_TYPE)] if alternates is None else alternates:
        links.append(_link("  ", feed_url(site, twin), "alternate", media_type))
    for rel, path in (("current", doc.current if doc.is_archive else None),
                      ("prev-archive", doc.prev_archive), ("next-archive", doc.next_archive)):
        if path:
            links.append(_link("  ", feed_url(site, path), rel, ATOM_TYPE))
    return links
