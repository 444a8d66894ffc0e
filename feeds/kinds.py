"""Source kinds: how a source of each `kind` is fetched and read into a ParsedFeed.

Every source has a kind (`feed` unless its configuration says otherwise). Ingest fetches it
with its kind's `fetch` and the prepare stage reads the body with its kind's `parse`; the rest
of the chain (normalise, tag, dedupe, store) is the same for every kind, and so are politeness,
conditional requests, limits and health. A new kind (a web page listing articles, a public
channel's preview) is one module giving those two functions and one entry in `KINDS`.

| kind | reads | its own keys |
| --- | --- | --- |
| `feed` | an RSS or Atom feed (feeds/parse/__init__.py) | none |
| `html` | a web page listing articles, with CSS selectors (feeds/parse/listing.py) | `select` |
| `telegram` | a public Telegram channel's web preview (feeds/parse/telegram.py) | `channel` |

A kind names the source keys only it takes (`settings`), checks them (`check`: the key and
what is wrong, for the configuration to report with its line), and may derive the source's URL
from them (`default_url`: a channel's preview).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from feeds.fetch import FetchResult, FetchSettings, HttpClient, fetch
from feeds.model import SourceSpec, SourceState
from feeds.parse import ParsedFeed, parse_feed
from feeds.parse.listing import check_select, parse_listing
from feeds.parse.telegram import check_channel, parse_channel, preview_url

Fetcher = Callable[[HttpClient, SourceState, FetchSettings, datetime], FetchResult]
# body, response headers, final URL, the source: the document as a ParsedFeed, or ParseError
Parser = Callable[[bytes, Mapping[str, str], str, SourceSpec], ParsedFeed]
# the source: its first problem as (key, message), the key under the source ("select.title"); or None
Checker = Callable[[SourceSpec], tuple[str, str] | None]


def _no_check(spec: SourceSpec) -> tuple[str, str] | None:
    return None


def _no_url(spec: SourceSpec) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class SourceKind:
    name: str
    fetch: Fetcher
    parse: Parser
    description: str
    settings: frozenset[str] = frozenset()  # the source keys only this kind takes
    check: Checker = _no_check
    default_url: Callable[[SourceSpec], str | None] = _no_url  # the URL when the source gives none


def _parse_feed(body: bytes, headers: Mapping[str, str], url: str, spec: SourceSpec) -> ParsedFeed:
    return parse_feed(body, headers, url, language=spec.language)


def _check_html(spec: SourceSpec) -> tuple[str, str] | None:
    if not spec.select:
        return "select", "required for a source of kind html: CSS selectors for item, title and link"
    problem = check_select(spec.select)
    return (f"select.{problem[0]}", problem[1]) if problem else None


def _check_telegram(spec: SourceSpec) -> tuple[str, str] | None:
    problem = check_channel(spec.channel)
    return ("channel", problem) if problem else None


def _telegram_url(spec: SourceSpec) -> str | None:
    return preview_url(spec.channel) if spec.channel and check_channel(spec.channel) is None else None


KINDS: Mapping[str, SourceKind] = {
    "feed": SourceKind("feed", fetch, _parse_feed, "an RSS or Atom feed"),
    "html": SourceKind("html", fetch, parse_listing, "a web page listing articles, read with CSS selectors",
                       frozenset({"select"}), _check_html),
    "telegram": SourceKind("telegram", fetch, parse_channel, "a public Telegram channel's web preview",
                           frozenset({"channel"}), _check_telegram, _telegram_url),
}


def kind_of(spec: SourceSpec) -> SourceKind:
    """The kind `spec` names; configuration refuses unknown kinds, so a KeyError here is a bug."""
    return KINDS[spec.kind]


def check(spec: SourceSpec) -> tuple[str, str] | None:
    """The first problem with the source's kind-specific settings, as (key, message); None if none."""
    kind = kind_of(spec)
    for other in KINDS.values():
        for key in sorted(other.settings - kind.settings):
            if getattr(spec, key):
                return key, f"only a source of kind {other.name} takes `{key}` (this one is {kind.name})"
    return kind.check(spec)
