"""Everything partyfeeds takes from feedparser, in one module: its parser, and the rules the fast
parser (feeds/parse/fastparse.py) borrows from it.

`parse_document` is feedparser's public `parse`, the reference parser. The rest are feedparser's
rules for values: text repairs, dates, URL joins and the safe-base check, content-type names,
the "is this plain text really HTML?" guess, tags, authors given as text. Where feedparser's
answer comes from one of its helpers, these call that helper, so the two paths cannot drift
apart. Two shortcuts skip a helper where the answer is known: an absolute http(s) URL of plain
form is its own join, and a date of the strict forms feeds use is read by the standard library
(RFC 3339) or by feedparser's RFC 822 handler without trying its other handlers first.
tests/test_fastparse.py compares each shortcut with the helpers it skips.

Those helpers are feedparser's private names (underscored, or internals of its modules and its
parser mixin), which a release may change without notice. They are read here and nowhere else;
pyproject.toml pins the releases they were tested with (feedparser>=6.0.11,<6.1), and
tests/test_feedrules.py checks each one (it exists, is called as here, answers as expected) and
names the one a release changed.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from datetime import datetime
from typing import Any

import feedparser
from feedparser.datetimes import _parse_date
from feedparser.datetimes.rfc822 import _parse_date_rfc822
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from feedparser.util import FeedParserDict

from feeds.parse.urls import is_plain_absolute


def parse_document(utf8: bytes, url: str | None) -> Any:
    """feedparser's result for a UTF-8 document, handed as bytes (never a URL: it does no I/O);
    `url` is its Content-Location, the base for relative links (None: parsed without one).
    Its HTML sanitiser and relative-URL resolver are off: normalise does both, with nh3."""
    headers = {"content-type": "application/xml; charset=utf-8"}
    if url is not None:
        headers["content-location"] = url
    return feedparser.parse(io.BytesIO(utf8), response_headers=headers, resolve_relative_uris=False,
                            sanitize_html=False)


_C1 = re.compile("[\x80-\x9f]")  # what feedparser maps as windows-1252
# Without a C1 character or a UTF-8 lead byte followed by a continuation byte (as latin-1 characters),
# neither of feedparser's repairs can change a text.
_SUSPECT = re.compile("[\x80-\x9f]|[\xc2-\xf4][\x80-\xbf]")
# A URI of another scheme (tag:, urn:) without "//": urljoin returns it as given against an http(s) base.
_OTHER_SCHEME = re.compile(r"(?!https?:)[a-z][a-z0-9+.-]*:(?!//)\S*\Z")


def repair(text: str) -> str:
    """feedparser's last touch on element text: UTF-8 read as latin-1 is re-read; C1 -> windows-1252."""
    if text.isascii() or not _SUSPECT.search(text):
        return text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    return text.translate(_cp1252) if _C1.search(text) else text


_RFC822 = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d\d:\d\d:\d\d (?:[+-]\d{4}|GMT)\Z")
_RFC3339 = re.compile(r"\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d(?:Z|[+-][01]\d:[0-5]\d)\Z")


def parse_date(value: str) -> time.struct_time | None:
    """feedparser's _parse_date(value) (UTC, to the second): strict RFC 3339 by the standard library,
    strict RFC 822 by feedparser's own RFC 822 handler without trying its other handlers first."""
    if _RFC3339.match(value):
        with contextlib.suppress(ValueError, OverflowError):
            return datetime.fromisoformat(value).utctimetuple()
    elif _RFC822.match(value):
        with contextlib.suppress(KeyError, OverflowError, ValueError, AttributeError):
            parsed = _parse_date_rfc822(value)
            if parsed:
                return parsed
    return feedparser_date(value)


def feedparser_date(value: str) -> time.struct_time | None:
    """feedparser's _parse_date(value), always (the reference for `parse_date`)."""
    return _parse_date(value)


def resolve(base: str, uri: str) -> str:
    """feedparser's _urljoin(base, uri), without its cost when it would change nothing."""
    if is_plain_absolute(uri) or (_OTHER_SCHEME.match(uri) and base.startswith(("http://", "https://"))):
        return uri
    return join(base, uri)


def join(base: str, uri: str) -> str:
    """feedparser's _urljoin(base, uri), always (the reference for `resolve`)."""
    return _urljoin(base, uri)


def joins_to_itself(uri: str) -> bool:
    """Whether feedparser's join of `uri` to any base, or to none, is `uri` itself."""
    return is_plain_absolute(uri) or _OTHER_SCHEME.match(uri) is not None


def safe_absolute(base: str, uri: str) -> str:
    """feedparser's make_safe_absolute_uri: `uri` joined to `base`, or "" if the result's scheme is
    not one feedparser accepts (javascript:, say)."""
    return make_safe_absolute_uri(base, uri)


def next_base(base: str, value: str | None) -> str:
    """feedparser's base inside an element with xml:base `value` (None: without one), where the base
    was `base`: joined to it if the result is safe, else the base; with no base yet, `value` as given."""
    value = value or base
    if base:
        return safe_absolute(base, value) or base
    return join(base, value)


def looks_like_html(text: str) -> bool:
    """feedparser's guess whether RSS text given as plain text is really HTML."""
    return bool(_FeedParserMixin.looks_like_html(text))


def content_type_name(value: str) -> str:
    return {"text": "text/plain", "plain": "text/plain", "html": "text/html",
            "xhtml": "application/xhtml+xml"}.get(value.lower(), value.lower())


def add_tag(tags: list[dict[str, Any]], term: str | None, scheme: str | None, label: str | None) -> None:
    """feedparser's _add_tag: no empty tag, no tag twice."""
    if term or scheme or label:
        tag = {"term": term, "scheme": scheme, "label": label}
        if tag not in tags:
            tags.append(tag)


def person_of(text: str) -> dict[str, str]:
    """The person feedparser makes of an author given as text ("Press <press@party.gr>" is name
    "Press", e-mail "press@party.gr"): its own _sync_author_detail, on a context holding just
    this author. Without an "@" its e-mail pattern cannot match: the text is the name."""
    if "@" not in text:
        return {"name": text} if text else {}
    context = _OneAuthor(text)
    _FeedParserMixin._sync_author_detail(context)
    return dict(context.found["authors"][-1])


class _OneAuthor:
    """What _sync_author_detail reads of feedparser's parser: the context an author just ended in."""

    def __init__(self, text: str) -> None:
        self.found: dict[str, Any] = {"author": text, "authors": [FeedParserDict()]}

    def _get_context(self) -> dict[str, Any]:
        return self.found
