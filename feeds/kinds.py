"""Source kinds: how a source of each `kind` is fetched and read into a ParsedFeed.

Every source has a kind (`feed` unless its configuration says otherwise). Ingest fetches it
with its kind's `fetch` and the prepare stage reads the body with its kind's `parse`; the rest
of the chain (normalise, tag, dedupe, store) is the same for every kind, and so are politeness,
conditional requests, limits and health. A new kind (a web page listing articles, a public
channel's preview) is one module giving those two functions and one entry in `KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from feeds.fetch import FetchResult, FetchSettings, HttpClient, fetch
from feeds.model import SourceSpec, SourceState
from feeds.parse import ParsedFeed, parse_feed

Fetcher = Callable[[HttpClient, SourceState, FetchSettings, datetime], FetchResult]
# body, response headers, final URL, the source: the document as a ParsedFeed, or ParseError
Parser = Callable[[bytes, Mapping[str, str], str, SourceSpec], ParsedFeed]


@dataclass(frozen=True, slots=True)
class SourceKind:
    name: str
    fetch: Fetcher
    parse: Parser
    description: str


def _parse_feed(body: bytes, headers: Mapping[str, str], url: str, spec: SourceSpec) -> ParsedFeed:
    return parse_feed(body, headers, url, language=spec.language)


KINDS: Mapping[str, SourceKind] = {
    "feed": SourceKind("feed", fetch, _parse_feed, "an RSS or Atom feed"),
}


def kind_of(spec: SourceSpec) -> SourceKind:
    """The kind `spec` names; configuration refuses unknown kinds, so a KeyError here is a bug."""
    return KINDS[spec.kind]
