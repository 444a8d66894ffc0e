"""What of each feed's chain is in place in the output folder, known without listing every page.

A publish needs to know which archive pages are in place (they are never rendered again) and
which feed files are not its own any more (they are removed). Listing the folders answers
both, but a store of a million items has ~120,000 feed files: listing them took longer than
publishing a new item. So each feed remembers how many pages its archive folder held after
its last publish and the folder's stamp then (`freshness.folder_stamp`, in its FeedMark): a
folder whose stamp did not change holds exactly those pages, and is not listed. Every other
folder is listed, as before: the head folders (a few files a feed), an archive folder a
file was added to, removed from or renamed in, one with subfolders, or a feed's whose
history restarted or shrank.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from feeds.publish import archive, formats, freshness
from feeds.publish.compose import PlannedFeed
from feeds.publish.write import is_published, published_feeds
from feeds.store import FeedMark


def known_folders(output_dir: Path, feeds: Sequence[PlannedFeed], histories: Sequence[tuple[bool, FeedMark]],
                  totals: Sequence[int], size: int, head_min: int) -> dict[str, int]:
    """The archive folders whose pages are known by their marks: folder -> pages in it."""
    known = {}
    for feed, (restarted, mark), total in zip(feeds, histories, totals, strict=True):
        folder = archive.folder(feed.spec.path)
        if (not restarted and mark.pages_stamp and mark.pages <= archive.full_pages(total, size, head_min)
                and freshness.folder_stamp(output_dir, folder) == mark.pages_stamp):
            known[folder] = mark.pages
    return known


class Folders:
    """The output folder as one run sees it: feed files listed, and archive folders known."""

    def __init__(self, output_dir: Path, head_folders: Sequence[str], known: dict[str, int]) -> None:
        self.output_dir, self.known = output_dir, known
        self.leftovers: list[str] = []  # temporary files a crashed publish left (write.remove_leftovers)
        self.found = published_feeds(output_dir, head_folders, leftovers=self.leftovers, known=known)

    def known_pages(self, head_path: str) -> int:
        """How many of the feed's first pages are in place by its mark (0: none known)."""
        return self.known.get(archive.folder(head_path), 0)

    def in_place(self, page_path: str) -> bool:
        """Whether an archive page is in place in every format."""
        folder, _, name = page_path.rpartition("/")
        if folder in self.known:
            return _page_number(name) <= self.known[folder]
        files = formats.paths(page_path)
        if all(path in self.found for path in files):
            return True
        return all(is_published(self.output_dir, path) for path in files)


@dataclass(slots=True)
class Kept:
    """The feed files one run publishes, as `write.remove_stale` asks: each head in every format,
    and pages 1..n (in every format) of each feed's archive folder, not one path per page."""

    heads: set[str] = field(default_factory=set)
    pages: dict[str, int] = field(default_factory=dict)  # archive folder -> its pages

    def add(self, head_path: str, pages: int) -> None:
        self.heads.update(posixpath.normpath(path) for path in formats.paths(head_path))
        self.pages[archive.folder(head_path)] = pages

    def __contains__(self, relpath: object) -> bool:
        if not isinstance(relpath, str):
            return False
        if relpath in self.heads:
            return True
        folder, _, name = relpath.rpartition("/")
        return 1 <= _page_number(name) <= self.pages.get(folder, 0)


def _page_number(name: str) -> int:
    """3 for "3.atom" or "3.json" as `archive.page_path` names them; 0 for any other name."""
    stem, suffix = posixpath.splitext(name)
    if suffix not in formats.suffixes() or not (stem.isascii() and stem.isdigit()) or stem.startswith("0"):
        return 0
    return int(stem)
