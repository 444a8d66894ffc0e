"""Normalise stage: ParsedFeed -> feeds.model.Item, one per usable entry.

Identity (the design note): Item.id = item_id(f"{source_id}\\x1f{key}") where
the key is the entry's guid, else its canonical link, else a hash of its
title and date.

The guid (RSS guid, Atom id) is taken as the document writes it: a relative
one is joined only to the document's own xml:base, never to the URL the feed
was fetched from (parse and fastparse give `ParsedEntry.guid` so; the entry's
link is still joined to that URL), so a source that moves to another URL
keeps its items' ids. An absolute guid is its own key whatever the base. A
store that holds an entry under another key of the same entry (its guid
joined to the feed's URL, say) finds it by its link, an identity key too
(feeds.dedupe.keys), so it is not stored twice.

Guids are only trusted when the feed uses them properly:

- within one fetch, one guid must not stand for two different links
  (CMS templates that print the same guid on every item);
- across fetches, the same link must keep its guid (feeds that mint a fresh
  guid on every request). The caller stores `guid_links(parsed)` after each
  fetch and passes it back as `previous_guids`.

A feed that fails either test is identified by links, for every entry of
the fetch, so that ids do not flip between schemes entry by entry.

Dates are UTC. A date that is missing, unreadable or implausible - before
EARLIEST_DATE, or more than MAX_AHEAD after the fetch - counts as not given:
the entry's other date stands in, else the fetch time `now`, its first-seen
time (the caller keeps the item, so it is not "new" again on the next fetch).
A date less than MAX_AHEAD ahead (a server clock or time zone slip) is taken as
`now`. Every date not taken as given is logged at DEBUG with the item. Parties
and topics are left empty: the tagger runs later.

Bounds, so that no entry can break a feed reader or swamp the store: titles
are cut at MAX_TITLE_CHARS, HTML bodies at MAX_HTML_CHARS before sanitising
(nh3 closes what the cut left open), links over MAX_LINK_CHARS are dropped,
and authors and categories are capped in number and length. How many
entries a fetch may bring is bounded in parse (xmlguard.MAX_ENTRIES).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urljoin, urlsplit

from feeds.model import Item, SourceRef, SourceSpec, item_id, require_utc
from feeds.parse import ParsedEntry, ParsedFeed
from feeds.parse.sanitize import FORBIDDEN_CHARS, html_to_text, looks_like_html, sanitize_html
from feeds.parse.urls import cached_canonical_url as _canonical
from feeds.parse.urls import is_plain_absolute

log = logging.getLogger(__name__)

# Share of re-seen links whose guid changed, above which guids are declared unstable.
UNSTABLE_GUID_SHARE = 0.5
UNTITLED_LENGTH = 80
UNTITLED = "Untitled"
MAX_TITLE_CHARS = 300
MAX_HTML_CHARS = 200_000
MAX_LINK_CHARS = 2048
MAX_NAMES, MAX_NAME_CHARS = 20, 200  # authors, and likewise categories
# No party feed predates the epoch: an earlier date is a zero or a parse slip, not a news date.
EARLIEST_DATE = datetime(1970, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(days=1)


def normalise_feed(
    parsed: ParsedFeed,
    spec: SourceSpec,
    now: datetime,
    previous_guids: Mapping[str, str] | None = None,
) -> list[Item]:
    """The feed's entries as Items, in feed order, one per identity."""
    now = require_utc(now)
    use_guids = guids_usable(parsed.entries, previous_guids or {})
    if not use_guids:
        log.debug("source=%s guids unusable: identifying entries by link", spec.id)
    source = source_ref(parsed, spec)
    items: dict[str, Item] = {}
    for entry in parsed.entries:
        key = identity_key(entry, use_guids)
        if key is None:
            continue
        item = _item(entry, parsed, spec, now, item_id(f"{spec.id}\x1f{key}"), source)
        items.setdefault(item.id, item)  # a repeated entry: the first (newest, usually) wins
    return list(items.values())


def source_ref(parsed: ParsedFeed, spec: SourceSpec) -> SourceRef:
    """How the feed's items credit it (each with its own link): by the configured title, else the
    feed's own, else the source id; its site is the feed's web site, else the feed itself."""
    title = spec.title or _cut(_plain(parsed.title or ""), MAX_TITLE_CHARS) or spec.id
    site = _link(parsed.link, parsed.url) or spec.url
    return SourceRef(spec.id, title=title, party=spec.party, kind="feed", site=site)


def guid_links(parsed: ParsedFeed) -> dict[str, str]:
    """guid -> canonical link for this fetch: store it, pass it back as `previous_guids`."""
    return {e.guid: _canonical(e.link) for e in parsed.entries if e.guid and e.link}


def guids_usable(entries: Sequence[ParsedEntry], previous_guids: Mapping[str, str]) -> bool:
    """Whether guids identify entries here: unique per link now, and stable since last time."""
    links_by_guid: dict[str, set[str]] = {}
    for entry in entries:
        if entry.guid and entry.link:
            links_by_guid.setdefault(entry.guid, set()).add(_canonical(entry.link))
    if any(len(links) > 1 for links in links_by_guid.values()):
        return False
    return not _guids_churn(entries, previous_guids)


def _guids_churn(entries: Sequence[ParsedEntry], previous_guids: Mapping[str, str]) -> bool:
    """Whether links seen last time mostly came back under new guids."""
    guid_by_link = {link: guid for guid, link in previous_guids.items()}
    if not guid_by_link:
        return False
    reseen = [e for e in entries if e.guid and e.link and _canonical(e.link) in guid_by_link]
    changed = [e for e in reseen if guid_by_link[_canonical(e.link or "")] != e.guid]
    return bool(reseen) and len(changed) > UNSTABLE_GUID_SHARE * len(reseen)


def identity_key(entry: ParsedEntry, use_guids: bool = True) -> str | None:
    """guid, else canonical link, else a hash of title and date, else a hash of the text and
    attached files; None for an entry with nothing in it."""
    if use_guids and entry.guid:
        return entry.guid if len(entry.guid) <= MAX_LINK_CHARS else _digest(entry.guid)
    if entry.link:
        return _canonical(entry.link)
    date = entry.published or entry.updated
    when = date.isoformat() if date else ""
    if entry.title:
        return _digest(f"{entry.title}\x1f{when}")
    if entry.summary or entry.content or entry.enclosures:
        parts = (entry.summary or "", entry.content or "", *entry.enclosures, when)
        return _digest("\x1f".join(("untitled", *parts)))
    return entry.guid  # guids were distrusted but are all there is


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def _item(
    entry: ParsedEntry, parsed: ParsedFeed, spec: SourceSpec, now: datetime, uid: str, source: SourceRef
) -> Item:
    link = _link(entry.link, parsed.url)
    enclosures = tuple(dict.fromkeys(url for href in entry.enclosures if (url := _link(href, entry.base))))
    published, updated = _dates(entry, now)
    if log.isEnabledFor(logging.DEBUG):
        _log_dates(entry, now, spec.id, uid, published, updated)
    content = sanitize_html((entry.content or "")[:MAX_HTML_CHARS], entry.base)
    summary = sanitize_html((entry.summary or "")[:MAX_HTML_CHARS], entry.base)
    if summary == content:  # feedparser copies content into an absent summary
        summary = "" if content else summary
    title, derived = _title(entry, summary or content, link or next(iter(enclosures), None))
    return Item(
        id=uid,
        title=title,
        title_derived=derived,
        enclosures=enclosures,
        link=link,
        summary=summary,
        content=content,
        published=published,
        updated=updated,
        language=entry.language or parsed.language or spec.language,
        authors=_names(entry.authors),
        sources=(replace(source, link=link),),
        categories=_names(entry.categories),
    )


def _dates(entry: ParsedEntry, now: datetime) -> tuple[datetime, datetime]:
    """(published, updated) in UTC: a date not given or implausible falls back to the other one,
    else to the fetch time (`now`); one slightly ahead is taken as `now`."""
    given_published, given_updated = _plausible(entry.published, now), _plausible(entry.updated, now)
    published = min(given_published or given_updated or now, now)
    updated = min(given_updated or published, now)
    return published, max(updated, published)


def _plausible(when: datetime | None, now: datetime) -> datetime | None:
    return when if when is not None and _implausible(when, now) is None else None


def _implausible(when: datetime, now: datetime) -> str | None:
    """Why `when` cannot be a date of an entry fetched at `now`; None if it can."""
    if when < EARLIEST_DATE:
        return f"before {EARLIEST_DATE.year}"
    if when > now + MAX_AHEAD:
        return f"more than {MAX_AHEAD.days} day after the fetch"
    return None


def _log_dates(entry: ParsedEntry, now: datetime, source_id: str, uid: str, published: datetime,
               updated: datetime) -> None:
    """Say which of the entry's dates were not taken as given, and what the item got instead."""
    problems = [f"{written} unreadable" for written in entry.unread_dates]
    problems += [f"{name}={when.isoformat()} {reason}"
                 for name, when in (("published", entry.published), ("updated", entry.updated))
                 if when is not None and (reason := _implausible(when, now) or _ahead(when, now))]
    if problems:
        log.debug("source=%s item=%s dates replaced (%s): published=%s updated=%s", source_id, uid,
                  "; ".join(problems), published.isoformat(), updated.isoformat())


def _ahead(when: datetime, now: datetime) -> str | None:
    return "ahead of the fetch" if when > now else None


def _names(values: Sequence[str]) -> tuple[str, ...]:
    """At most MAX_NAMES plain names, each cut to MAX_NAME_CHARS."""
    names = (_cut(_plain(value), MAX_NAME_CHARS) for value in values[:MAX_NAMES])
    return tuple(dict.fromkeys(name for name in names if name))


def _cut(text: str, limit: int) -> str:
    """`text` cut at a word boundary to at most `limit` characters, with an ellipsis if cut."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    return (head.rsplit(" ", 1)[0] if " " in head[limit // 2:] else head) + "…"


def _title(entry: ParsedEntry, html_body: str, link: str | None) -> tuple[str, bool]:
    """The entry's title, and whether it was derived: an untitled entry is named by its opening
    words, else by the last segment of its link (or of its attached file's)."""
    raw = (entry.title or "")[:MAX_HTML_CHARS]
    title = html_to_text(raw) if entry.title_is_html or looks_like_html(raw) else _plain(raw)
    if title:
        return _cut(title, MAX_TITLE_CHARS), False
    text = _cut(html_to_text(html_body), UNTITLED_LENGTH)
    return text or _link_name(link) or UNTITLED, True


def _link_name(link: str | None) -> str:
    """A link's last path segment as words: ".../2024/party-congress-opens.html" -> "party congress opens"."""
    if not link:
        return ""
    segments = [part for part in urlsplit(link).path.split("/") if part]
    name = unquote(segments[-1]) if segments else urlsplit(link).hostname or ""
    stem = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
    words = " ".join(stem.replace("-", " ").replace("_", " ").split())
    return _cut(_plain(words), UNTITLED_LENGTH)


def _plain(text: str) -> str:
    """Plain text: markup removed, characters XML forbids dropped, whitespace collapsed."""
    return html_to_text(text) if looks_like_html(text) else " ".join(FORBIDDEN_CHARS.sub("", text).split())


def _link(link: str | None, base: str) -> str | None:
    """An absolute http(s) link, or None."""
    link = FORBIDDEN_CHARS.sub("", link or "").strip()
    if not link or len(link) > MAX_LINK_CHARS:
        return None
    if is_plain_absolute(link):
        return link  # what urljoin would give, at a tenth of the cost
    try:
        absolute = urljoin(base, link)
    except ValueError:  # e.g. an invalid IPv6 host
        return None
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None
