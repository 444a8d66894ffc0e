"""Reading OPML subscription lists: the feeds a reader already follows.

Parsed with lxml with entities, DTDs and network access off: an OPML file is
untrusted input like any feed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml import etree

from feeds.errors import ParseError
from feeds.tag.registry import Registry

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Subscription:
    """One feed outline of an OPML file."""

    title: str
    url: str
    site_url: str | None
    language: str | None


def read_opml(data: bytes, name: str) -> list[Subscription]:
    """Every outline with an http(s) `xmlUrl`, in document order, each URL once."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"{name}: not an OPML file: {exc}") from exc
    if root.tag != "opml":
        raise ParseError(f"{name}: not an OPML file (root element is <{root.tag}>)")
    found: dict[str, Subscription] = {}
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if urlsplit(url).scheme not in ("http", "https") or url in found:
            continue
        title = (outline.get("title") or outline.get("text") or urlsplit(url).hostname or url).strip()
        found[url] = Subscription(title, url, outline.get("htmlUrl"), outline.get("language"))
    return list(found.values())


def slug(text: str) -> str:
    """A source id from a title: lower-case ASCII words joined by '-'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _SLUG.sub("-", ascii_text.lower()).strip("-")[:48] or "source"


def party_for_host(url: str, registry: Registry) -> str | None:
    """The party whose website or known feed is on the same host as `url`, if exactly one."""
    host = _host(url)
    matches = {
        party.code
        for party in registry.parties.values()
        for known in (party.website, *(feed.url for feed in party.feeds))
        if known and _host(known) == host
    }
    return matches.pop() if len(matches) == 1 else None


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")
