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
    return f"{ARCHIVE_DIR}/{posixpath.splitext(head_path)[0]}/{page}.atom"


def full_pages(total: int, size: int, head_min: int) -> int:
    """How many archive pages a history of `total` entries has."""
    return max(0, (total - head_min) // size)


def chain(head_path: str, total: int, size: int, head_min: int) -> list[Document]:
    """The head, then pages newest to oldest: the order a client walks them."""
    pages = full_pages(total, size, head_min)
    newest = page_path(head_path, pages) if pages else None
    documents = [Document(head_path, pages * size + 1, total, head_path, prev_archive=newest)]
    for page in range(pages, 0, -1):
        documents.append(Document(
            page_path(head_path, page), (page - 1) * size + 1, page * size, head_path,
            prev_archive=page_path(head_path, page - 1) if page > 1 else None,
            # Names the next page even before it exists: a full page never changes.
            next_archive=page_path(head_path, page + 1), page=page,
        ))
    return documents
