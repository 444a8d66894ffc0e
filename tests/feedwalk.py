"""Walk a feed's RFC 5005 chain as a client does: GET the head, then follow prev-archive
(Atom) or next_url (JSON Feed) until there is none, validating every document.

Used by the archive tests and by bench/archive_walk.py.
"""

from __future__ import annotations

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
    walk = Walk()
    next_url: str | None = url
    while next_url:
        assert next_url not in walk.documents, f"the chain loops at {next_url}"
        response = client.get(next_url)
        assert response.status_code == 200, f"{next_url}: HTTP {response.status_code}"
        root = assert_valid_atom(response.content) if validate else etree.fromstring(response.content)
        is_head = not walk.documents
        assert (root.find(FH_ARCHIVE) is None) == is_head, f"{next_url}: fh:archive misplaced"
        walk.documents.append(next_url)
        walk.bytes += len(response.content)
        walk.entry_ids += [entry.findtext(f"{A}id") or "" for entry in root.iter(f"{A}entry")]
        next_url = links(root).get("prev-archive")
    return walk


def walk_json(client: httpx.Client, url: str) -> Walk:
    walk = Walk()
    next_url: str | None = url
    while next_url:
        assert next_url not in walk.documents, f"the chain loops at {next_url}"
        response = client.get(next_url)
        assert response.status_code == 200, f"{next_url}: HTTP {response.status_code}"
        feed = assert_valid_json_feed(response.content)
        walk.documents.append(next_url)
        walk.bytes += len(response.content)
        walk.entry_ids += [item["id"] for item in feed["items"]]
        next_url = feed.get("next_url")
    return walk
