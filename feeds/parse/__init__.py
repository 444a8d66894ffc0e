"""Parse stage: fetched bytes and response headers -> ParsedFeed.

The one place where feedparser's loose dictionaries become our typed
`ParsedFeed` / `ParsedEntry`. feedparser itself, and the private helpers the
fast path borrows from it, are imported in feedrules.py only; it is handed
bytes plus headers, never a URL, so it never does I/O.

Encodings: feedparser alone turns an undeclared legacy encoding into
mojibake (without chardet it falls back to windows-1252, measured). So the
body is decoded first (`feeds.parse.charsets.decode_feed`: what the feed declares,
else detection) and feedparser and the fast path are given clean UTF-8. When
the declaration was not followed, `ParsedFeed.encoding_note` says so, for the
source's log line.

Fast path: `fastparse` reads well-formed RSS 2.0 and Atom 1.0 with lxml and
builds the dictionaries feedparser would (~7x less CPU per entry,
docs/architecture.md, "Fast paths"); anything it is not sure of goes to
feedparser, the reference. Both paths end in `_convert`, so normalise sees one
kind of ParsedFeed; tests/test_fastparse.py holds them to the same result.

Entry ids: `ParsedEntry.guid` is the guid or atom:id as feedparser reads it
without the document's URL (joined to the document's own xml:base only), so
that item ids do not follow the feed's URL (feeds/parse/normalise.py). feedparser
is given the URL, for links; when an id may have been joined to it, the
document is parsed a second time without it, for the ids.

feedparser's own HTML sanitiser and relative-URL resolver are off: both run
on sgmllib and took 99% of the parse time of content-heavy feeds (20 s for
9 MB), and normalise does both with nh3 against each entry's base. So the
HTML fields of a ParsedEntry are raw, untrusted markup. Before feedparser,
`xmlguard.screen` refuses hostile documents (entity tricks, deep nesting),
drops characters XML forbids and keeps the first MAX_ENTRIES entries.

What is fatal (ParseError): an empty body, an HTML page, a document with no
RSS/Atom root, and XML so broken that no entry survives. A feed that is not
well-formed but from which feedparser's loose parser recovers entries is
kept, with a warning (unescaped "&" in titles is common in the wild).

Pages are parsed beside feeds, into the same ParsedFeed: a page that lists articles, read with
a source's CSS selectors (listing.py), and a Telegram channel's web preview (telegram.py); the
source's kind chooses (feeds/kinds.py). This module's `parse_feed` reads feeds only.

Enters: fetched bytes with their response headers (or a seed document, or an OPML list).
Leaves: `ParsedFeed`, then normalised `Item`s (normalise.py). Imports the model and
errors (and the registry's type for OPML); never fetch, dedupe, store, publish or the scheduler.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from feeds.errors import ParseError
from feeds.parse import fastparse, xmlguard
from feeds.parse.charsets import decode_feed
from feeds.parse.feedrules import joins_to_itself, parse_document

log = logging.getLogger(__name__)

_HTML_PAGE = re.compile(
    r"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])",
    re.IGNORECASE | re.DOTALL,
)
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")
# A guid or id element (any prefix, any case: feedparser's loose parser lowers tags): its
# attributes and its text, CDATA or not.
_ID_ELEMENT = re.compile(r"<(?:[\w.-]+:)?(?:guid|id)(\s[^>]*)?>\s*(?:<!\[CDATA\[)?([^<]*)", re.IGNORECASE)
# feedparser joins a guid to the base only if isPermaLink is absent or exactly "true".
_NOT_PERMALINK = re.compile(r"ispermalink\s*=\s*([\"'])(?!true\1)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One entry as the feed gave it; HTML fields are raw, untrusted markup (normalise sanitises)."""

    guid: str | None  # as written: a relative one joined only to the document's xml:base, not the feed URL
    link: str | None  # absolute: resolved against xml:base or the feed URL
    title: str | None
    title_is_html: bool
    summary: str | None  # HTML (plain-text summaries are escaped here)
    content: str | None  # HTML
    published: datetime | None  # UTC; None if absent or unreadable
    updated: datetime | None  # UTC; None if absent or unreadable
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    language: str | None  # from xml:lang on the entry (or inherited from the feed)
    base: str  # base URL for relative links inside the entry's HTML
    enclosures: tuple[str, ...] = ()  # attached files' URLs (RSS enclosure, Atom rel="enclosure")
    unread_dates: tuple[str, ...] = ()  # dates given that could not be read, as written: "published='…'"


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    url: str  # the URL the body came from (after redirects)
    version: str  # feedparser's name, e.g. "rss20", "atom10", "rss10", "rss091u", "atom03"
    title: str | None
    link: str | None
    language: str | None
    encoding: str  # how the body was decoded
    entries: tuple[ParsedEntry, ...]
    warnings: tuple[str, ...] = ()  # problems we recovered from
    malformed: str | None = None  # what made the document not well-formed, when entries were recovered

    @property
    def recovered(self) -> int:
        """Entries kept from a document that was not well-formed (0 if it was)."""
        return len(self.entries) if self.malformed else 0
    encoding_note: str | None = None  # why `encoding` is not what the feed declared (None: it is)


def parse_feed(
    body: bytes, headers: Mapping[str, str], url: str, *, language: str | None = None
) -> ParsedFeed:
    """Parse one fetched feed; raises ParseError if it is not a usable feed.

    `headers` are the response headers (any case); `url` is the final URL,
    the base for relative links; `language` (the source's configured one) only
    helps guess an undeclared legacy encoding.
    """
    if not body.strip():
        raise ParseError(f"empty body ({len(body)} bytes) from {url}")
    lowered = {name.lower(): value for name, value in headers.items()}
    content_type = lowered.get("content-type", "")
    text, encoding, encoding_note = decode_feed(body, content_type, language)
    warnings: list[str] = []
    if _HTML_PAGE.match(text):
        raise ParseError(f"an HTML page, not a feed (Content-Type {content_type or 'unknown'!r}) from {url}")
    loose = _fast(text, url, warnings)
    if loose is None:
        try:
            text, screened = xmlguard.screen(text)
        except ParseError as exc:
            raise ParseError(f"{exc} (from {url})") from None
        warnings.extend(screened)
        loose = _feedparser(text, url)
    return replace(_convert(*loose, url, encoding, warnings), encoding_note=encoding_note)


def _fast(text: str, url: str, warnings: list[str]) -> tuple[str, Any, list[Any], str | None] | None:
    """The fast path's answer, or None if feedparser must parse (after the full xmlguard screen)."""
    cleaned, removed = xmlguard.clean(text)
    if xmlguard.scan_needed(cleaned):
        return None
    try:
        version, feed, entries = fastparse.parse(cleaned, url)
    except fastparse.Unsupported as exc:
        log.debug("url=%s fast path declined (%s): feedparser parses it", url, exc)
        return None
    warnings.extend(removed)
    return version, feed, entries, None


def _feedparser(text: str, url: str) -> tuple[str, Any, list[Any], str | None]:
    """feedparser's version, feed and entries, and what made the document malformed (None if nothing).

    Entry ids are as feedparser reads them without the document's URL (see `_ids_as_written`).
    """
    utf8 = ('<?xml version="1.0" encoding="utf-8"?>\n' + _XML_DECLARATION.sub("", text, count=1)).encode()
    result = parse_document(utf8, url)
    if _ids_may_depend_on_url(result.entries, text):
        _ids_as_written(result.entries, parse_document(utf8, None).entries)
    problem = f"{type(result.bozo_exception).__name__}: {result.bozo_exception}" if result.bozo else None
    return dict.get(result, "version") or "", result.feed, result.entries, problem


def _ids_may_depend_on_url(entries: list[Any], text: str) -> bool:
    """Whether joining to the document's URL may have made some entry id (skipping a second parse).

    Only an http(s) id can come of a join to an http(s) URL; and a guid or id element that holds
    an absolute URL of plain form (or a tag:, urn:, ...) is its own join, whatever the base.
    """
    if not any(str(dict.get(entry, "id", "")).lower().startswith("http") for entry in entries):
        return False
    return not all(_plain_id(match) for match in _ID_ELEMENT.finditer(text))


def _plain_id(match: re.Match[str]) -> bool:
    attributes, text = match.group(1, 2)
    value = text.strip().removesuffix("]]>").strip()
    return bool(_NOT_PERMALINK.search(attributes or "")) or (joins_to_itself(value) and "&" not in value)


def _ids_as_written(entries: list[Any], without_url: list[Any]) -> None:
    """Give each entry the id feedparser reads without the document's URL: joined only to the
    document's own xml:base, so that an item's id does not change when its feed moves."""
    for entry, written in zip(entries, without_url, strict=True):
        if "id" in written:
            entry["id"] = written["id"]


def _convert(version: str, feed: Any, raw_entries: list[Any], problem: str | None, url: str, encoding: str,
             warnings: list[str]) -> ParsedFeed:
    """feedparser's loose dictionaries (from feedparser or the fast path) as a ParsedFeed."""
    entries = tuple(_entry(e, url) for e in raw_entries)
    if problem:
        entries = tuple(e for e in entries if has_something(e))
        if not entries or not version:
            raise ParseError(f"not a well-formed feed ({problem}) from {url}")
        warnings.append(f"recovered {len(entries)} entries from malformed XML ({problem})")
    if not version:
        raise ParseError(f"no RSS or Atom feed found in the body from {url}")
    for warning in warnings:
        log.debug("url=%s parse warning: %s", url, warning)
    return ParsedFeed(
        url=url, version=version, title=_text(feed, "title"), link=_text(feed, "link"),
        language=_language(dict.get(feed, "language")), encoding=encoding, entries=entries,
        warnings=tuple(warnings), malformed=problem,
    )


def has_something(entry: ParsedEntry) -> bool:
    """Whether an entry holds anything to keep: an id, a link, a title, text or an attached file."""
    return any((entry.guid, entry.link, entry.title, entry.summary, entry.content, entry.enclosures))


def _entry(entry: Any, url: str) -> ParsedEntry:
    title_detail = dict.get(entry, "title_detail") or {}
    content = _content(entry)
    summary = _html(dict.get(entry, "summary_detail"))
    details = [d for d in (content, dict.get(entry, "summary_detail"), title_detail) if d]
    published, updated = _date(entry, "published"), _date(entry, "updated")
    return ParsedEntry(
        guid=_text(entry, "id"),
        link=_text(entry, "link"),
        title=_text(entry, "title"),
        title_is_html=title_detail.get("type", "text/plain") != "text/plain",
        summary=summary,
        content=_html(content),
        published=published,
        updated=updated,
        authors=_unique(a.get("name") or a.get("email") for a in dict.get(entry, "authors") or ()),
        categories=_unique(t.get("term") or t.get("label") for t in dict.get(entry, "tags") or ()),
        language=_language(next((d.get("language") for d in details if d.get("language")), None)),
        base=next((d["base"] for d in details if d.get("base")), url),
        # feedparser files attachments among the links ("enclosures" is a view dict.get cannot see)
        enclosures=_unique(link.get("href") for link in dict.get(entry, "links") or ()
                           if link.get("rel") == "enclosure"),
        unread_dates=_unread_dates(entry, published, updated),
    )


def _content(entry: Any) -> Any:
    """The richest content block: HTML first, then anything."""
    blocks = dict.get(entry, "content") or []
    html = [b for b in blocks if b.get("type") in ("text/html", "application/xhtml+xml")]
    return (html or blocks or [None])[0]


def _html(detail: Any) -> str | None:
    """A text construct's value as HTML: plain text is escaped, so it stays text."""
    if not detail or not detail.get("value"):
        return None
    value: str = detail["value"]
    if detail.get("type", "text/html") == "text/plain":
        return "<p>" + _escape(value) + "</p>" if value.strip() else None
    return value


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(d: Any, key: str) -> str | None:
    value = dict.get(d, key)
    return value.strip() or None if isinstance(value, str) else None


# A year of more than four digits ("10000-12-01", "+10000-12-01") or a date that starts with a
# sign ("-24-05", ISO 8601's truncated forms). feedparser's ISO 8601 reader matches a prefix and
# fills what it lacks from today's date: "10000-12-01" becomes the year 2010, this month.
_MISREAD_DATE = re.compile(r"\s*(?:[+-]\d|\d{5,}[-/])")


def _date(entry: Any, key: str) -> datetime | None:
    """The entry's `key` date ("published" or "updated") in UTC; None if absent or unreadable."""
    written = dict.get(entry, key)
    if isinstance(written, str) and _MISREAD_DATE.match(written):
        return None
    return _utc(dict.get(entry, f"{key}_parsed"))


def _utc(parsed: time.struct_time | None) -> datetime | None:
    """feedparser's UTC struct_time as an aware datetime; None if absent or impossible."""
    if not parsed:
        return None
    try:
        return datetime(*parsed[:5], min(parsed[5], 59), tzinfo=UTC)  # a leap second becomes :59
    except (ValueError, OverflowError):
        return None


def _unread_dates(entry: Any, published: datetime | None, updated: datetime | None) -> tuple[str, ...]:
    """The dates the entry gives that could not be read, as written (normalise logs them)."""
    return tuple(f"{key}={written!r}" for key, read in (("published", published), ("updated", updated))
                 if read is None and (written := _text(entry, key)))


def _language(value: Any) -> str | None:
    """A language tag with its primary subtag lower-cased ("TR" -> "tr", "es_ES" -> "es-ES")."""
    if not isinstance(value, str) or not value.strip():
        return None
    primary, _, rest = value.strip().replace("_", "-").partition("-")
    return f"{primary.lower()}-{rest}" if rest else primary.lower()


def _unique(values: Iterable[Any]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        if isinstance(value, str) and value.strip():
            seen.setdefault(value.strip(), None)
    return tuple(seen)
