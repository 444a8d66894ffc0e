"""Whether a feed's head documents must be rendered again (the publish side's change detection).

Rendering is most of a publish, and most feeds do not change between two publishes. A head
(Atom + JSON Feed) is a pure function of: the code that renders it, the site, the labels, the
archive page size, the feed's spec and icon, its place in the chain (first..last, prev-archive),
for each entry, the item's id and its change number (migration 5 stamps every save), and the
time the feed was first published (an empty head's `updated`).
`fingerprint` hashes exactly that; the publisher stores it with the head files' size and
mtime and skips rendering when both are the same next time. The files' stamp is there so a
head deleted or edited by hand is still put back, as before.

The code is part of the fingerprint (a hash of the rendering modules' source) so an upgrade
that renders differently rewrites every head once instead of leaving stale bytes.

Archive pages never change once in place, so what a publish needs to know of a feed's pages
is which are there. Listing a folder of 40,000 pages on every publish cost more than the
publish of a new item; instead each feed remembers how many pages its folder held after its
last publish and the folder's `folder_stamp` then. A file added, removed or renamed in the
folder changes its mtime: an unchanged stamp means it still holds exactly those pages, and
it is not listed. A folder with subfolders in it is always listed, and so is one changed
within a tick of the stamp being taken: file systems keep mtimes in ticks, and a file deleted
in the same tick as our last write would leave the mtime as it was. A tick is taken to be
SETTLED_SECONDS where mtimes come in whole seconds (some file systems keep no more), else
SETTLED_FRACTION (Linux's coarse clock ticks every 1 to 10 ms).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from datetime import datetime
from pathlib import Path
from types import ModuleType

from feeds import model
from feeds.model import FeedSpec, SiteInfo
from feeds.parse import sanitize
from feeds.publish import archive, atomtext, documents, entryparts, formats, jsonfeed, render
from feeds.publish.compose import PlannedFeed, PublishOptions
from feeds.publish.entryparts import Labels
from feeds.publish.pages import FeedSummary

_RENDERERS: tuple[ModuleType, ...] = (archive, atomtext, documents, entryparts, formats, jsonfeed, model,
                                      render, sanitize)


def _code_stamp() -> str:
    digest = hashlib.sha256()
    for module in _RENDERERS:
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


CODE_STAMP = _code_stamp()
SETTLED_SECONDS = 3.0  # see folder_stamp: the mtime is in whole seconds (FAT keeps two)
SETTLED_FRACTION = 0.05  # the mtime has a fraction of a second


def context(site: SiteInfo, labels: Labels, options: PublishOptions) -> str:
    """What every feed of one publish run shares, hashed once per run."""
    text = repr((CODE_STAMP, site, sorted(labels.parties.items()), sorted(labels.topics.items()),
                 options.archive_page_size))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(shared: str, feed: PlannedFeed, head: archive.Document,
                stamps: list[tuple[str, int]], first_published: str) -> str:
    """The head's inputs: `shared` (see `context`), the feed, its chain place, (item, change)
    pairs, and when it was first published (an empty head's `updated`)."""
    text = repr((shared, feed.spec, feed.icon, head, stamps, first_published))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def files_stamp(output_dir: Path, head: archive.Document) -> str:
    """Size and mtime of the head's files (one per format); "" if one is missing."""
    parts = []
    for relpath in formats.paths(head.path):
        try:
            info = os.stat(output_dir / relpath)
        except OSError:
            return ""
        parts.append(f"{info.st_size}:{info.st_mtime_ns}")
    return " ".join(parts)


def folder_stamp(output_dir: Path, relpath: str) -> str:
    """A folder's mtime and inode; "" if it is missing, has subfolders (its link count is not
    2; a file system that does not count subfolders in a folder's links never gives a stamp)
    or changed less than a tick ago: such a folder is listed by the next publish."""
    try:
        info = os.stat(output_dir / relpath, follow_symlinks=False)
    except OSError:
        return ""
    if not stat.S_ISDIR(info.st_mode) or info.st_nlink != 2:
        return ""
    settled = SETTLED_SECONDS if info.st_mtime_ns % 1_000_000_000 == 0 else SETTLED_FRACTION
    if time.time_ns() - info.st_mtime_ns < settled * 1e9:
        return ""
    return f"{info.st_mtime_ns}:{info.st_ino}"


def summary_text(summary: FeedSummary) -> str:
    """The index page's summary of a feed, kept beside its fingerprint (the spec is not kept)."""
    updated = summary.updated.isoformat() if summary.updated else None
    return json.dumps([summary.item_count, updated, summary.latest], ensure_ascii=False)


def summary_from_text(spec: FeedSpec, text: str) -> FeedSummary:
    count, updated, latest = json.loads(text)
    return FeedSummary(spec, int(count), datetime.fromisoformat(updated) if updated else None,
                       tuple((title, link) for title, link in latest))
