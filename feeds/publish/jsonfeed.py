"""Render one feed document as JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/).

The twin of an Atom document (atomtext.py, render.py), published beside it with `.json`:
same entries in the same order, same titles, authors and HTML bodies; `tags` are
the Atom category terms. JSON Feed has no archives, but it has `next_url` ("the
next n items"): the head points at the newest archive page and each page at the
one before it, so following `next_url` walks the same chain as Atom's
prev-archive. RFC 5005's other links ride in the `_partyfeeds` extension object;
so do, per item, what JSON Feed has no field for: the source the entry came from
(Atom's atom:source) and the other sources' links (Atom's rel="via").
Same input, same bytes: keys in a fixed order, UTF-8, no build time. The publisher renders each
item once (`item_text`) and splices the text into every document holding it (`document`); the
bytes are those of `json.dumps(..., ensure_ascii=False, indent=1)` of the whole document
(tests/test_jsonfeed.py).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from feeds.model import FeedSpec, Item, SiteInfo, atom_id
from feeds.publish.archive import Document
from feeds.publish.entryparts import (
    UNTITLED,
    author_names,
    category_terms,
    clean_text,
    content_html,
    feed_url,
    main_source,
    newest_first,
    source_atom_id,
    source_name,
    via_links,
)

VERSION = "https://jsonfeed.org/version/1.1"
RFC5005 = "https://www.rfc-editor.org/rfc/rfc5005"
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_NO_ITEMS = ' "items": []\n}'


def render_json(spec: FeedSpec, items: Sequence[Item], site: SiteInfo, doc: Document, *,
                icon: str | None = None) -> bytes:
    """The JSON Feed document for the chain document `doc` of `spec`, holding all `items`."""
    return document(spec, site, doc, [item_text(item, site) for item in newest_first(items)], icon=icon)


def document(spec: FeedSpec, site: SiteInfo, doc: Document, items: Sequence[str], *,
             icon: str | None = None) -> bytes:
    """`render_json`'s bytes from items already rendered by `item_text` (newest first): the
    publisher renders each item once and splices it into every document that holds it."""
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": clean_text(spec.title) or spec.path,
        "home_page_url": spec.website if spec.kind == "party" and spec.website else site.base_url,
        "feed_url": feed_url(site, doc.json_path),
    }
    if clean_text(spec.subtitle).strip():
        feed["description"] = clean_text(spec.subtitle)
    if doc.prev_archive:
        feed["next_url"] = feed_url(site, _twin(doc.prev_archive))
    if icon:
        feed["icon"] = icon
    feed["authors"] = [_author(site)]
    if site.hub_url:
        feed["hubs"] = [{"type": "WebSub", "url": site.hub_url}]
    feed["_partyfeeds"] = _chain(site, doc)
    feed["items"] = []
    head = _dump(feed)
    listed = "[\n" + ",\n".join(items) + "\n ]" if items else "[]"
    return (head[: -len(_NO_ITEMS)] + f' "items": {listed}\n}}\n').encode("utf-8")


def item_text(item: Item, site: SiteInfo) -> str:
    """`item` as `json.dumps(feed, indent=1)` prints it inside a feed's "items" list (two levels
    deep: every line but the first indented by two more spaces; a newline inside a string is
    escaped, so each "\\n" here ends a line)."""
    return "  " + _dump(_item(item, site)).replace("\n", "\n  ")


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)


def _twin(path: str) -> str:
    return Document(path, 0, 0, path).json_path


def _author(site: SiteInfo) -> dict[str, str]:
    author = {"name": clean_text(site.author_name)}
    if site.author_uri:
        author["url"] = site.author_uri
    return author


def _chain(site: SiteInfo, doc: Document) -> dict[str, Any]:
    """RFC 5005's view of this document: archive or head, and its neighbours (JSON twins)."""
    chain: dict[str, Any] = {"about": RFC5005, "archive": doc.is_archive,
                             "current": feed_url(site, _twin(doc.current))}
    if doc.page is not None:
        chain["page"] = doc.page
    for key, path in (("prev_archive", doc.prev_archive), ("next_archive", doc.next_archive)):
        if path:
            chain[key] = feed_url(site, _twin(path))
    return chain


def _item(item: Item, site: SiteInfo) -> dict[str, Any]:
    title = clean_text(item.title).strip() or UNTITLED
    entry: dict[str, Any] = {"id": atom_id(item.id)}
    if item.link:
        entry["url"] = item.link
    entry["title"] = title
    entry["content_html"] = content_html(item, title) or html.escape(title)
    summary = plain_text(item.summary)
    if summary:
        entry["summary"] = summary
    entry["date_published"] = _date(item.published)
    entry["date_modified"] = _date(item.updated)
    entry["authors"] = [{"name": name} for name in author_names(item, site)]
    tags = category_terms(item)
    if tags:
        entry["tags"] = tags
    if item.language:
        entry["language"] = item.language
    credit = _credit(item)
    if credit:
        entry["_partyfeeds"] = credit
    return entry


def _credit(item: Item) -> dict[str, Any]:
    """The item's atom:source and via links, in the extension object; empty without sources."""
    origin = main_source(item)
    if origin is None:
        return {}
    source = {"id": source_atom_id(origin.source_id), "title": source_name(origin)}
    credit: dict[str, Any] = {"source": source}
    vias = via_links(item)
    if vias:
        credit["via"] = vias
    return credit


def plain_text(fragment: str) -> str:
    """An HTML fragment as one line of plain text (JSON Feed's summary is plain text)."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", clean_text(fragment)))).strip()


def _date(value: datetime) -> str:
    return value.isoformat()
