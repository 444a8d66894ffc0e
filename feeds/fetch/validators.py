"""The validators a source's answers carry (ETag, Last-Modified): which to keep and send back.

A validator is stored with the source and echoed on its every poll (If-None-Match,
If-Modified-Since), so one that is too big costs every poll of the source its size twice,
and the store its size: any real one is a few dozen bytes, and one over
MAX_VALIDATOR_BYTES is ignored, as if the server had sent none. So is one that cannot be
sent back as it came (our request headers are Latin-1; a header block decoded as UTF-8
may hold characters beyond it): the next poll is then an unconditional GET, whose
unchanged body is still recognised by its hash.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from feeds.model import SourceState

log = logging.getLogger(__name__)

MAX_VALIDATOR_BYTES = 1024


def usable(value: str | None) -> str | None:
    """`value` if it can be stored and sent back, else None."""
    if value is None:
        return None
    try:
        size = len(value.encode("latin-1"))
    except UnicodeEncodeError:
        return None
    return value if size <= MAX_VALIDATOR_BYTES else None


def received(headers: Mapping[str, str], url: str) -> dict[str, str | None]:
    """The validators of a 200 answer to store: `etag` and `last_modified` (None if absent or unusable)."""
    return {"etag": _received(headers, "etag", url),
            "last_modified": _received(headers, "last-modified", url)}


def renewed(headers: Mapping[str, str], state: SourceState, url: str) -> dict[str, str | None]:
    """The validators to keep after a 304: those it carries, else the stored ones."""
    return {"etag": _received(headers, "etag", url) or usable(state.etag),
            "last_modified": _received(headers, "last-modified", url) or usable(state.last_modified)}


def conditional_headers(state: SourceState) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from the stored validators (one stored before the
    limit existed is not sent either)."""
    headers = {}
    etag, last_modified = usable(state.etag), usable(state.last_modified)
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _received(headers: Mapping[str, str], name: str, url: str) -> str | None:
    value = headers.get(name)
    kept = usable(value)
    if value is not None and kept is None:
        log.debug("url=%s %s ignored: %d characters, over %d bytes or not Latin-1", url, name, len(value),
                  MAX_VALIDATOR_BYTES)
    return kept
