"""Helping the operator write a source: a candidate tried without storing anything, a site's feeds found.

`try_source` fetches a source once and reads it as ingest reads it, storing nothing
(`partyfeeds try-source`); `discover` finds a site's feeds (`partyfeeds discover`).

    try_source: fetch (the source's kind) → parse → normalise → tag; nothing stored
    discover:   fetch the page → a feed itself? → its <link rel="alternate"> feeds (autodiscovery)
                → else the common paths (COMMON_PATHS, under the page's folder, then the site's root)
                → each candidate fetched and parsed as a feed; the same feed at two addresses once

Every request is the fetcher's own (feeds/fetch/): the address guard, the limits and the
User-Agent hold as for ingest. Requests go one at a time, so a site is never asked twice at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from feeds.errors import FetchError, ParseError
from feeds.fetch import FetchResult, FetchSettings, HttpClient, fetch
from feeds.kinds import kind_of
from feeds.model import Item, SourceSpec, SourceState
from feeds.parse import ParsedFeed, parse_feed
from feeds.parse.normalise import normalise_feed
from feeds.parse.pages import Page, read_page, select_all
from feeds.tag import Tagger, tag_item

# Where sites without autodiscovery links keep their feed (WordPress, Drupal, Hugo, Jekyll...).
COMMON_PATHS = ("feed", "rss", "rss.xml", "atom.xml", "index.xml")
# The media types of `<link rel="alternate">` that name a feed partyfeeds reads.
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml",
                        "application/rss", "application/atom", "application/xml", "text/xml"})


@dataclass(frozen=True, slots=True)
class Tried:
    """A source fetched once and read as ingest reads it: what it would bring."""

    spec: SourceSpec
    url: str  # where the body came from, after redirects
    parsed: ParsedFeed  # its title and warnings
    items: tuple[Item, ...]  # normalised and tagged, in the document's order


def try_source(client: HttpClient, spec: SourceSpec, settings: FetchSettings, tagger: Tagger,
               now: datetime) -> Tried:
    """Fetch `spec` once and prepare its items as ingest would; FetchError or ParseError if it
    cannot be. Nothing is stored, and no validator is sent: the whole body comes back."""
    kind = kind_of(spec)
    result = kind.fetch(client, SourceState(spec.id, spec.url), settings, now)
    body = _body(result)
    parsed = kind.parse(body, result.headers, result.final_url, spec)
    items = tuple(tag_item(tagger, item) for item in normalise_feed(parsed, spec, now))
    return Tried(spec, result.final_url, parsed, items)


@dataclass(frozen=True, slots=True)
class Found:
    """A feed found for a page."""

    url: str  # as the page or the common path gives it (a redirect is followed, not recorded)
    how: str  # "the address itself", "autodiscovery" or "common path"
    title: str | None
    language: str | None
    version: str  # feedparser's name: "rss20", "atom10", ...
    entries: int


@dataclass(frozen=True, slots=True)
class Discovery:
    page: str
    found: tuple[Found, ...]
    tried: tuple[tuple[str, str, str], ...]  # (URL, how it was found, why it is not a feed)


def discover(client: HttpClient, url: str, settings: FetchSettings, now: datetime) -> Discovery:
    """The feeds of the page at `url`: the page itself if it is one, its autodiscovery links,
    else the common paths. FetchError if the page cannot be fetched."""
    result = fetch(client, SourceState("discover", url), settings, now)
    body = _body(result)
    try:
        parsed = parse_feed(body, result.headers, result.final_url)
    except ParseError:
        pass
    else:
        return Discovery(url, (_found(url, "the address itself", parsed),), ())
    try:
        page = read_page(body, result.headers, result.final_url)
        linked = list(alternates(page))
    except ParseError:
        linked = []
    search = _Search(client, settings, now)
    for candidate in linked:
        search.check(candidate, "autodiscovery")
    if not search.found:
        for candidate in common_paths(result.final_url):
            search.check(candidate, "common path")
    return Discovery(url, tuple(search.found), tuple(search.tried))


def alternates(page: Page) -> Iterator[str]:
    """The feed URLs a page's `<link rel="alternate">` elements name, in page order, each once."""
    seen: set[str] = set()
    for link in select_all(page.root, "link[rel][href]"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        href = page.absolute(link.get("href"))
        if "alternate" in rel and kind in FEED_TYPES and href and href not in seen:
            seen.add(href)
            yield href


def common_paths(url: str) -> list[str]:
    """COMMON_PATHS under the page's folder (when it is not the root), then under the site's root."""
    parts = urlsplit(url)
    root = f"{parts.scheme}://{parts.netloc}/"
    folder = urljoin(url, ".")
    bases = [folder, root] if folder != root else [root]
    return list(dict.fromkeys(urljoin(base, path) for base in bases for path in COMMON_PATHS))


class _Search:
    """Candidates fetched one at a time; a feed already found at another address is not repeated."""

    def __init__(self, client: HttpClient, settings: FetchSettings, now: datetime) -> None:
        self.client, self.settings, self.now = client, settings, now
        self.found: list[Found] = []
        self.tried: list[tuple[str, str, str]] = []
        self._bodies: set[str] = set()

    def check(self, url: str, how: str) -> None:
        result = fetch(self.client, SourceState("discover", url), self.settings, self.now)
        try:
            body = _body(result)
            parsed = parse_feed(body, result.headers, result.final_url)
        except (FetchError, ParseError) as exc:
            self.tried.append((url, how, str(exc)))
            return
        if result.body_hash not in self._bodies:
            self._bodies.add(result.body_hash or url)
            self.found.append(_found(url, how, parsed))


def _found(url: str, how: str, parsed: ParsedFeed) -> Found:
    return Found(url, how, parsed.title, parsed.language, parsed.version, len(parsed.entries))


def _body(result: FetchResult) -> bytes:
    """The fetched body; FetchError with the fetcher's message if there is none."""
    if result.body is None:
        raise FetchError(result.error or f"no body (HTTP {result.http_status}) from {result.final_url}")
    return result.body
