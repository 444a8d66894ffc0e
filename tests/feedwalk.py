"""Walk a feed's RFC 5005 chain as a client does: GET the head, then follow prev-archive
(Atom) or next_url (JSON Feed) until there is none, validating every document.

Used by the archive tests and by bench/archive_walk.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from lxml import etree

from tests.atomcheck import assert_valid_atom
from tests.jsonfeedcheck import assert_valid_json_feed

A = "{http://www.w3.org/2005/Atom}"
FH_ARCHIVE = "{http://purl.org/syndication/history/1.0}archive"


@dataclass(slots=True)
class Walk:
    """What a walk fetched: document URLs in order, entry ids in order, bytes received."""

    documents: list[str] = field(default_factory=list)
    entry_ids: list[str] = field(default_factory=list)
    bytes: int = 0


def links(root: etree._Element) -> dict[str, str]:
    return {link.get("rel", "alternate"): link.get("href", "") for link in root.findall(f"{A}link")
            if link.get("rel") != "alternate"}


def walk_atom(client: httpx.Client, url: str, *, validate: bool = True) -> Walk:
    def read(body: bytes, where: str, is_head: bool) -> tuple[list[str], str | None]:
        root = assert_valid_atom(body) if validate else etree.fromstring(body)
        assert (root.find(FH_ARCHIVE) is None) == is_head, f"{where}: fh:archive misplaced"
        return [entry.findtext(f"{A}id") or "" for entry in root.iter(f"{A}entry")], \
            links(root).get("prev-archive")

    return _walk(client, url, read)


def walk_json(client: httpx.Client, url: str) -> Walk:
    def read(body: bytes, where: str, is_head: bool) -> tuple[list[str], str | None]:
        feed = assert_valid_json_feed(body)
        return [item["id"] for item in feed["items"]], feed.get("next_url")

    return _walk(client, url, read)


def _walk(client: httpx.Client, url: str,
          read: Callable[[bytes, str, bool], tuple[list[str], str | None]]) -> Walk:
    """Follow a chain from `url`; `read` gives a document's entry ids and the next URL."""
    walk = Walk()
    next_url: str | None = url
    while next_url:
        assert next_url not in walk.documents, f"the chain loops at {next_url}"
        response = client.get(next_url)
        assert response.status_code == 200, f"{next_url}: HTTP {response.status_code}"
        entry_ids, following = read(response.content, next_url, not walk.documents)
        walk.documents.append(next_url)
        walk.bytes += len(response.content)
        walk.entry_ids += entry_ids
        next_url = following
    return walk
