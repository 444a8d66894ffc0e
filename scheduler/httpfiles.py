"""Files and HTTP semantics for the daemon's server: pure helpers, no sockets.

- Paths are percent-decoded once; each segment must be a plain name (no empty, dot or
  dotfile segments, backslashes or control characters) and the file, symlinks
  resolved, a regular file inside the output directory with a suffix in
  CONTENT_TYPES. Anything else is 400 or 404: no listings, no way out.
- Files are read whole from one open descriptor: the publisher swaps them with
  os.replace, so that is one complete version, and its ETag (content hash; the gzip
  variant ends "-gzip") and Last-Modified (fstat) describe exactly the body sent.
  gzip bodies are cached by path and content hash, not (mtime_ns, size), which two
  same-sized versions written within one timestamp tick would share.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import stat
import threading
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC
from email.message import Message
from email.utils import parsedate_to_datetime
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
GZIP_CACHE_ENTRIES = 512
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
_ETAG = re.compile(r'(?:W/)?("[^"]*")')

@dataclass(frozen=True, slots=True)
class Document:
    """One version of a published file, as read from one open file descriptor."""

    relpath: str
    data: bytes
    mtime: float
    digest: str

    def etag(self, gzipped: bool) -> str:
        return f'"{self.digest}-gzip"' if gzipped else f'"{self.digest}"'


@dataclass(slots=True)
class OutputFiles:
    """The output directory as the server reads it, with a cache of gzip bodies."""

    output_dir: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _gzip: OrderedDict[str, tuple[str, bytes]] = field(default_factory=OrderedDict)

    def read(self, parts: tuple[str, ...]) -> Document | None:
        """The regular file at `parts` under the output directory, or None; never a file outside it."""
        root = self.output_dir.resolve()
        try:
            path = root.joinpath(*parts).resolve(strict=True)
            if not path.is_relative_to(root):
                return None
            # O_NONBLOCK: opening a FIFO dropped into the folder must not hang the thread.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    return None
                data = handle.read()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
            return None
        digest = hashlib.sha256(data).hexdigest()[:32]
        return Document("/".join(parts), data, info.st_mtime, digest)

    def gzipped(self, doc: Document) -> bytes:
        """`doc` compressed (mtime=0, so the same bytes give the same body), cached per path and hash."""
        with self._lock:
            cached = self._gzip.get(doc.relpath)
            if cached is not None and cached[0] == doc.digest:
                self._gzip.move_to_end(doc.relpath)
                return cached[1]
        body = gzip.compress(doc.data, compresslevel=6, mtime=0)
        with self._lock:
            self._gzip[doc.relpath] = (doc.digest, body)
            self._gzip.move_to_end(doc.relpath)
            while len(self._gzip) > GZIP_CACHE_ENTRIES:
                self._gzip.popitem(last=False)
        return body



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
