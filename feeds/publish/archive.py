"""RFC 5005 archived feeds: how a feed's history is cut into a head and fixed pages (pure).

Every feed keeps a history in the store: each item gets the next sequence number
(1, 2, ...) of that feed the first time a publish finds it in the feed, in
(updated, id) order; the number never changes (docs/archives.md says why).
Page k holds sequence numbers (k-1)*size+1 .. k*size. A page is cut only once
`head_min` newer entries exist after it, so:

* the head (subscription document) holds every entry after the last page:
  between `head_min` and `head_min + size - 1` of them (all of them while the
  feed is young), and never repeats an archived entry;
* an archive page is full from the day it appears, and never changes.

A client that reads the head, then follows prev-archive to page 1, sees every
entry of the feed's history exactly once.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

ARCHIVE_DIR = "archive"
JSON_SUFFIX = ".json"


@dataclass(frozen=True, slots=True)
class Document:
    """One document of a feed's chain and its RFC 5005 links (paths relative to the output root)."""

    path: str  # the Atom document; its JSON Feed twin is `json_path`
    first: int  # sequence numbers first..last (inclusive) are its entries
    last: int
    current: str  # the head's path
    prev_archive: str | None = None
    next_archive: str | None = None
    page: int | None = None  # None for the head

    @property
    def is_archive(self) -> bool:
        return self.page is not None

    @property
    def json_path(self) -> str:
        return json_twin(self.path)


def json_twin(path: str) -> str:
    """The JSON Feed published beside an Atom document: same path, `.json`."""
    return posixpath.splitext(path)[0] + JSON_SUFFIX  # string work: a chain has thousands of pages


def page_path(head_path: str, page: int) -> str:
    """`archive/party/kke/3.atom` for page 3 of `party/kke.atom`."""
    return f"{folder(head_path)}/{page}.atom"


def folder(head_path: str) -> str:
    """`archive/party/kke`: where the pages of `party/kke.atom` are (and only they, with their twins)."""
    return f"{ARCHIVE_DIR}/{posixpath.splitext(head_path)[0]}"


def full_pages(total: int, size: int, head_min: int) -> int:
    """How many archive pages a history of `total` entries has."""
    return max(0, (total - head_min) // size)


def head(head_path: str, total: int, size: int, head_min: int) -> Document:
    """The head of a history of `total` entries: every entry after its last page."""
    pages = full_pages(total, size, head_min)
    return Document(head_path, pages * size + 1, total, head_path,
                    prev_archive=page_path(head_path, pages) if pages else None)


def page(head_path: str, number: int, size: int) -> Document:
    """Archive page `number` (from 1, the oldest) of the feed at `head_path`."""
    return Document(page_path(head_path, number), (number - 1) * size + 1, number * size, head_path,
                    prev_archive=page_path(head_path, number - 1) if number > 1 else None,
                    # Names the next page even before it exists: a full page never changes.
                    next_archive=page_path(head_path, number + 1), page=number)


def chain(head_path: str, total: int, size: int, head_min: int) -> list[Document]:
    """The head, then pages newest to oldest: the order a client walks them."""
    pages = full_pages(total, size, head_min)
    return [head(head_path, total, size, head_min), *(page(head_path, n, size) for n in range(pages, 0, -1))]
