"""Parse stage: fetched bytes and response headers -> ParsedFeed.

The only module that imports feedparser, and the one place where its loose
dictionaries become our typed `ParsedFeed` / `ParsedEntry`. feedparser is
handed bytes plus headers, never a URL, so it never does I/O.

Encodings: feedparser alone turns an undeclared legacy encoding into
mojibake (without chardet it falls back to windows-1252, measured), and it
trusts a Content-Type charset that is often a server default. So we decode
first (`decode_feed`: BOM, valid UTF-8, then the declared and likely legacy
encodings ranked by how plausible the decoded text looks) and give feedparser
clean UTF-8.

Fast path: `fastparse` reads well-formed RSS 2.0 and Atom 1.0 with lxml and
builds the dictionaries feedparser would (~10x less time per entry); anything
it is not sure of goes to feedparser, the reference. Both paths end in
`_convert`, so normalise sees one kind of ParsedFeed.

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
"""

from __future__ import annotations

import codecs
import io
import logging
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import feedparser

from feeds import fastparse, xmlguard
from feeds.errors import ParseError

log = logging.getLogger(__name__)

_HTML_PAGE = re.compile(
    r"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])",
    re.IGNORECASE | re.DOTALL,
)
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One entry as the feed gave it; HTML fields are raw, untrusted markup (normalise sanitises)."""

    guid: str | None
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
    text, encoding, warnings = decode_feed(body, content_type, language)
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
    return _convert(*loose, url, encoding, warnings)


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
    """feedparser's version, feed and entries, and what made the document malformed (None if nothing)."""
    utf8 = '<?xml version="1.0" encoding="utf-8"?>\n' + _XML_DECLARATION.sub("", text, count=1)
    headers = {"content-type": "application/xml; charset=utf-8", "content-location": url}
    result = feedparser.parse(
        io.BytesIO(utf8.encode("utf-8")), response_headers=headers, resolve_relative_uris=False,
        sanitize_html=False,
    )
    problem = f"{type(result.bozo_exception).__name__}: {result.bozo_exception}" if result.bozo else None
    return dict.get(result, "version") or "", result.feed, result.entries, problem


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


# --- character encodings ------------------------------------------------------------------------------

# Legacy encodings party sites still serve, in the order ties are broken.
# windows-1254 before windows-1252: they differ only in letters Turkish uses
# (ğ ı ş Ğ İ Ş where windows-1252 has Icelandic ð ý þ Ð Ý Þ).
LEGACY_ENCODINGS = ("windows-1251", "iso-8859-7", "windows-1253", "windows-1254", "windows-1252")
LANGUAGE_ENCODINGS = {
    "ru": "windows-1251", "uk": "windows-1251", "be": "windows-1251", "bg": "windows-1251",
    "sr": "windows-1251", "mk": "windows-1251", "el": "iso-8859-7", "tr": "windows-1254",
}
_DECLARED = re.compile(rb"\A\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_FEED_LANGUAGE = re.compile(rb"<(?:dc:)?language>\s*([A-Za-z]{2,3})|xml:lang=[\"']([A-Za-z]{2,3})")
_WORD = re.compile(r"[^\W\d_]{4,}")
_VOWELS = frozenset("aeiouyıöüâêîôûàèìòùáéíóúäëïÿ"
                    "аеёиоуыэюяіїє" "αεηιουωάέήίόύώϊϋΐΰ")
_ICELANDIC = frozenset("ðþ")
_BOMS = ((codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"))


def decode_feed(body: bytes, content_type: str, language: str | None = None) -> tuple[str, str, list[str]]:
    """The body as text, the encoding used (a Python codec name), and warnings.

    A BOM wins; then valid UTF-8 (legacy text is practically never valid
    UTF-8, while servers often declare latin-1 by default); then the declared
    encodings and the legacy ones likely for the language, ranked by how
    plausible the decoded words look, ties going to the declared ones.
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(name, "replace"), name, []
    declared = [e for e in (_declared(body), _charset(content_type)) if e]
    if b"\0" not in body[:4]:
        try:
            return body.decode("utf-8"), "utf-8", _mismatch(declared, "utf-8", body)
        except UnicodeDecodeError:
            pass
    best = _most_plausible(body, _candidates(body, declared, language))
    if best is None:
        return body.decode("utf-8", "replace"), "utf-8", ["no encoding fits; undecodable bytes replaced"]
    text, name = best
    return text, name, _mismatch(declared, name, body)


def _candidates(body: bytes, declared: list[str], language: str | None) -> list[str]:
    match = _FEED_LANGUAGE.search(body[:4096])
    hints = [language, (match.group(1) or match.group(2)).decode() if match else None]
    hinted = [LANGUAGE_ENCODINGS.get(h.split("-")[0].lower(), "") for h in hints if h]
    names = (_codec(e) for e in (*declared, *hinted, *LEGACY_ENCODINGS) if e)
    return list(dict.fromkeys(e for e in names if e))


def _most_plausible(body: bytes, candidates: list[str]) -> tuple[str, str] | None:
    best: tuple[float, str, str] | None = None
    for name in candidates:
        try:
            text = body.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        score = _plausibility(text[:65536])
        if best is None or score > best[0]:
            best = (score, text, name)
    return (best[1], best[2]) if best else None


def _plausibility(text: str) -> float:
    """Share of non-ASCII words that look like real words (-1 .. 1).

    Mis-decoded text gives words in two scripts ("Tьrkiye"), capitals inside
    words (Greek "απεργία" read as windows-1251 is "бресгЯб"), Latin words
    made almost wholly of accented letters ("Ïðèâåò"), Icelandic letters in
    Turkish ("dayanýþma"), or Greek/Cyrillic words with hardly a vowel.
    """
    good = bad = 0
    for word in _WORD.findall(text):
        if word.isascii():
            continue
        if _looks_real(word):
            good += 1
        else:
            bad += 1
    return (good - bad) / max(1, good + bad)


def _looks_real(word: str) -> bool:
    scripts = {unicodedata.name(ch, "?").split(" ")[0] for ch in word}
    if len(scripts) != 1 or any(a.islower() and b.isupper() for a, b in pairwise(word)):
        return False
    lower = word.lower()
    if scripts == {"LATIN"}:
        return sum(not ch.isascii() for ch in word) <= 0.6 * len(word) and not _ICELANDIC & set(lower)
    if "ς" in lower[:-1]:  # Greek final sigma inside a word
        return False
    return 0.2 <= sum(ch in _VOWELS for ch in lower) / len(word) <= 0.8


def _declared(body: bytes) -> str | None:
    match = _DECLARED.match(body[:512])
    return _codec(match.group(1).decode("ascii")) if match else None


def _charset(content_type: str) -> str | None:
    match = _CHARSET.search(content_type)
    return _codec(match.group(1)) if match else None


def _codec(name: str) -> str | None:
    """A canonical Python codec name, or None for an unknown or non-ASCII-compatible one."""
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        return None
    return None if canonical.startswith(("utf-16", "utf-32")) else canonical


def _mismatch(declared: list[str], used: str, body: bytes) -> list[str]:
    if body.isascii():
        return []
    return [f"declared {name}, decoded as {used}" for name in declared if name != used]
