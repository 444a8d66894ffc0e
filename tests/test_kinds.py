"""feeds.kinds: a source's kind chooses its fetcher and parser; a new kind is one entry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feeds import kinds, pipeline
from feeds.errors import ParseError
from feeds.fetch import FetchSettings, make_client
from feeds.model import SourceSpec
from feeds.parse import ParsedEntry, ParsedFeed
from feeds.store import Store
from feeds.tag import Tagger
from tests.localserver import LocalServer, Reply

pytestmark = pytest.mark.slow  # a local server

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
SETTINGS = FetchSettings(user_agent="partyfeeds-test", block_private=False)


def parse_lines(body: bytes, headers: Mapping[str, str], url: str, spec: SourceSpec) -> ParsedFeed:
    """A toy kind: one "title | path" per line."""
    rows = [line.split(" | ") for line in body.decode().splitlines() if line.strip()]
    if not rows or any(len(row) != 2 for row in rows):
        raise ParseError(f"not a list of 'title | path' lines from {url}")
    site = url.rsplit("/", 1)[0]
    entries = tuple(ParsedEntry(guid=None, link=site + path, title=title, title_is_html=False, summary=None,
                                content=None, published=NOW, updated=NOW, authors=(), categories=(),
                                language=spec.language, base=url) for title, path in rows)
    return ParsedFeed(url=url, version="lines", title=spec.title, link=url, language=spec.language,
                      encoding="utf-8", entries=entries)


def test_a_kind_added_by_one_entry_is_fetched_parsed_tagged_and_stored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tagger: Tagger) -> None:
    feed = kinds.KINDS["feed"]
    monkeypatch.setattr(kinds, "KINDS", {**kinds.KINDS, "lines": kinds.SourceKind(
        "lines", feed.fetch, parse_lines, "title | path lines")})
    with LocalServer() as server, make_client(SETTINGS) as client, Store(tmp_path / "s.sqlite") as store:
        server.script("/news.txt", Reply(body=b"KKE statement on the dockers' strike | /a\n"
                                              b"Teachers march in Athens | /b\n"))
        server.script("/broken.txt", Reply(body=b"no separator here\n"))
        specs = [SourceSpec("toy", server.url("/news.txt"), language="en", kind="lines"),
                 SourceSpec("toy-broken", server.url("/broken.txt"), kind="lines")]
        reports = pipeline.ingest_sources(store, tagger, client, specs, SETTINGS, NOW, force=True)
        stored = store.latest(10)
    assert [r.status for r in reports] == ["ok", "error"] and "title | path" in (reports[1].error or "")
    assert sorted(item.link or "" for item in stored) == [server.url("/a"), server.url("/b")]
    strike = next(item for item in stored if "strike" in item.title)
    assert strike.parties == ("kke",) and strike.language == "en"
    assert [source.source_id for source in strike.sources] == ["toy"]


def test_every_source_has_a_known_kind_and_feed_is_the_default() -> None:
    assert SourceSpec("a", "https://x.org/rss").kind == "feed"
    assert kinds.kind_of(SourceSpec("a", "https://x.org/rss")).name == "feed"
