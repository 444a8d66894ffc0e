"""Files and HTTP semantics for the daemon's server: pure helpers, no sockets.

- Paths are percent-decoded once; each segment must be a plain name (no empty, dot or
  dotfile segments, backslashes or control characters) and the file, symlinks
  resolved, a regular file inside the output directory with a suffix in
  CONTENT_TYPES. Anything else is 400 or 404: no listings, no way out.
- Files are read whole from one open descriptor: the publisher swaps them with
  os.replace, so that is one complete version, and its ETag (content hash; the gzip
  variant ends "-gzip") and Last-Modified (fstat) describe exactly the body sent.
- Each version read is kept in memory with its gzip body (CACHE_BYTES in all, least
  recently used out first; a file over an eighth of that is read for every request), so
  a burst of readers costs one stat per request, not a read, a hash and a compression. A
  kept version is served while a stat of the path gives the same device, inode, size,
  mtime and ctime, and only if its ctime was RACY_SECONDS old when it was read: a version
  written within one timestamp tick of another, which could have the same size and times
  and a reused inode, is read again until it is old enough. A file read again with an
  unchanged hash keeps its gzip body.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import stat
import threading
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC
from email.message import Message
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

CONTENT_TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",  # JSON Feed
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
INDEX = "index.html"
CACHE_BYTES = 32 * 1024 * 1024  # plain and gzip bodies kept in memory, in all
RACY_SECONDS = 2.0  # coarser than any file system's timestamp tick (FAT's is 2 s)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
_ETAG = re.compile(r'(?:W/)?("[^"]*")')

Version = tuple[int, int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns


@dataclass(frozen=True, slots=True)
class Document:
    """One version of a published file, as read from one open file descriptor."""

    relpath: str
    data: bytes
    mtime: float
    digest: str
    last_modified: str  # the HTTP date of mtime

    def etag(self, gzipped: bool) -> str:
        return f'"{self.digest}-gzip"' if gzipped else f'"{self.digest}"'


@dataclass(slots=True)
class _Entry:
    version: Version
    trusted: bool  # old enough that no later version can have the same Version
    doc: Document
    gzipped: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.doc.data) + len(self.gzipped or b"")


@dataclass(slots=True)
class OutputFiles:
    """The output directory as the server reads it, with the versions read kept in memory."""

    output_dir: Path
    cache_bytes: int = CACHE_BYTES
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _entries: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)
    _kept: int = 0  # bytes in _entries

    def read(self, parts: tuple[str, ...]) -> Document | None:
        """The regular file at `parts` under the output directory, or None; never a file outside it."""
        relpath = "/".join(parts)
        try:
            info = os.stat(os.path.join(self.output_dir, *parts))
        except OSError:
            return None
        # A kept version was inside the folder when read, and the path still leads to that very
        # inode, unchanged (a new link to it would have changed its ctime): no need to resolve.
        entry = self._kept_entry(relpath, _version(info))
        if entry is not None:
            return entry.doc
        path = self._resolve(parts)
        return self._read(path, relpath) if path is not None else None

    def _resolve(self, parts: tuple[str, ...]) -> str | None:
        """The path with symlinks resolved, or None if it leads outside the output directory."""
        root = os.path.realpath(self.output_dir)
        path = os.path.realpath(os.path.join(root, *parts))
        return path if path.startswith(root + os.sep) else None

    def _read(self, path: str, relpath: str) -> Document | None:
        try:
            # O_NONBLOCK: opening a FIFO dropped into the folder must not hang the thread.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    return None
                data = handle.read()
        except OSError:
            return None
        digest = hashlib.sha256(data).hexdigest()[:32]
        doc = Document(relpath, data, info.st_mtime, digest, formatdate(info.st_mtime, usegmt=True))
        trusted = info.st_ctime_ns < time.time_ns() - int(RACY_SECONDS * 1e9)
        self._keep(_Entry(_version(info), trusted, doc))
        return doc

    def gzipped(self, doc: Document) -> bytes:
        """`doc` compressed (mtime=0, so the same bytes give the same body), kept with the version."""
        with self._lock:
            entry = self._entries.get(doc.relpath)
            if entry is not None and entry.doc.digest == doc.digest and entry.gzipped is not None:
                return entry.gzipped
        body = gzip.compress(doc.data, compresslevel=6, mtime=0)
        with self._lock:
            entry = self._entries.get(doc.relpath)
            if entry is not None and entry.doc.digest == doc.digest and entry.gzipped is None:
                entry.gzipped = body
                self._kept += len(body)
                self._trim()
        return body

    def _kept_entry(self, relpath: str, version: Version) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(relpath)
            if entry is None or not entry.trusted or entry.version != version:
                return None
            self._entries.move_to_end(relpath)
            return entry

    def _keep(self, entry: _Entry) -> None:
        """Keep `entry` in place of the path's last one (whose gzip body stays if the hash is the same)."""
        with self._lock:
            old = self._entries.pop(entry.doc.relpath, None)
            if old is not None:
                self._kept -= old.size
                if old.doc.digest == entry.doc.digest:
                    entry.gzipped = old.gzipped
            if entry.size > self.cache_bytes // 8:  # one big file must not push every other out
                return
            self._entries[entry.doc.relpath] = entry
            self._kept += entry.size
            self._trim()

    def _trim(self) -> None:
        while self._kept > self.cache_bytes and self._entries:
            _, old = self._entries.popitem(last=False)
            self._kept -= old.size


def _version(info: os.stat_result) -> Version:
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


def request_path(target: str) -> str | None:
    """The path of a request target, percent-decoded once; None unless it is a clean absolute path."""
    raw = target.split("?", 1)[0].split("#", 1)[0]
    if not raw.startswith("/"):
        return None
    try:
        path = urllib.parse.unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return None
    return None if _UNSAFE.search(path) else path


def file_parts(path: str) -> tuple[str, ...] | None:
    """The segments of a file path ("/" is the index); None for empty, dot and hidden segments."""
    if path == "/":
        return (INDEX,)
    parts = tuple(path[1:].split("/"))
    if any(not part or part.startswith(".") for part in parts):
        return None
    return parts


def accepts_gzip(accept_encoding: str) -> bool:
    """True if the Accept-Encoding value allows gzip: listed, or `*`, with a q-value above 0."""
    weights = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        if coding.strip():
            weights[coding.strip().lower()] = _qvalue(params)
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


def _qvalue(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0
    return 1.0


def not_modified(headers: Message, etag: str, mtime: float) -> bool:
    """Whether the request's validators match; If-None-Match, when present, decides alone."""
    if_none_match = headers.get_all("If-None-Match")
    if if_none_match:
        field_value = ", ".join(if_none_match)
        return field_value.strip() == "*" or etag in _ETAG.findall(field_value)  # weak comparison
    since = headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if when.tzinfo is None:  # "-0000" parses naive; HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return int(mtime) <= when.timestamp()  # HTTP dates have whole seconds
