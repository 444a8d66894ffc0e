"""Helping the operator write a source (feeds/probe.py): trying a source, finding a site's feeds.
On httpx.MockTransport: every request is answered here, none leaves the process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from feeds import probe
from feeds.errors import FetchError, ParseError
from feeds.fetch import FetchSettings, HttpClient, make_client
from feeds.model import SourceSpec
from feeds.tag import Tagger

DATA = Path(__file__).parent / "data"
NOW = datetime(2017, 12, 8, 9, tzinfo=UTC)
SETTINGS = FetchSettings(user_agent="partyfeeds-test")
RSS, ATOM, HTML = "application/rss+xml", "application/atom+xml", "text/html; charset=utf-8"


class _Stream(httpx.SyncByteStream):
    """A streamed body: fetch reads raw bytes, and httpx reads a `content=` response eagerly."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def __iter__(self) -> Iterator[bytes]:
        yield self._content


@contextmanager
def site(pages: dict[str, tuple[int, str, str]]) -> Iterator[tuple[HttpClient, list[str]]]:
    """A client whose requests `pages` answers, by path: (status, file under tests/data, type)."""
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        status, name, content_type = pages.get(request.url.path, (404, "", "text/plain"))
        if status in (301, 302):
            return httpx.Response(status, headers={"Location": name})
        body = (DATA / name).read_bytes() if name else b"not found"
        return httpx.Response(status, headers={"Content-Type": content_type}, stream=_Stream(body))

    with make_client(SETTINGS, transport=httpx.MockTransport(answer)) as client:
        yield client, asked


def test_autodiscovery_links_are_followed_and_checked() -> None:
    pages = {"/": (200, "pages/site-with-feeds.html", HTML), "/feed/": (200, "feeds/story-agency.rss", RSS),
             "/statements.atom": (200, "feeds/story-kke.atom", ATOM)}
    with site(pages) as (client, asked):
        found = probe.discover(client, "https://icp.example/", SETTINGS, NOW)
    assert [(f.url, f.how, f.version, f.entries) for f in found.found] == [
        ("https://icp.example/feed/", "autodiscovery", "rss20", 2),
        ("https://icp.example/statements.atom", "autodiscovery", "atom10", 2)]
    assert found.found[0].title == "International Communist Press" and found.found[0].language == "en"
    assert [url for url, _, _ in found.tried] == ["https://icp.example/comments/feed/"]  # a 404
    # the JSON Feed, the oEmbed and the hreflang alternates are not feeds partyfeeds reads
    assert asked == ["/", "/feed/", "/comments/feed/", "/statements.atom"]


def test_without_autodiscovery_the_common_paths_are_tried_each_feed_once() -> None:
    pages = {"/sol/": (200, "pages/site-without-feeds.html", HTML), "/feed": (301, "/rss.xml", ""),
             "/rss.xml": (200, "feeds/wordpress-tr.rss", RSS)}
    with site(pages) as (client, asked):
        found = probe.discover(client, "https://sol.example/sol/", SETTINGS, NOW)
    assert [(f.url, f.how, f.title) for f in found.found] == [
        ("https://sol.example/feed", "common path", "soL Haber Portalı")]  # /rss.xml is the same feed
    assert asked == ["/sol/", *(f"/sol/{p}" for p in probe.COMMON_PATHS), "/feed", "/rss.xml",
                     *(f"/{p}" for p in probe.COMMON_PATHS[1:])]


def test_an_address_that_is_a_feed_is_its_own_discovery() -> None:
    with site({"/rss": (200, "feeds/story-agency.rss", RSS)}) as (client, asked):
        found = probe.discover(client, "https://icp.example/rss", SETTINGS, NOW)
    assert [(f.url, f.how) for f in found.found] == [("https://icp.example/rss", "the address itself")]
    assert asked == ["/rss"]


def test_a_site_that_cannot_be_fetched_is_an_error() -> None:
    with site({}) as (client, _), pytest.raises(FetchError, match="HTTP 404"):
        probe.discover(client, "https://gone.example/", SETTINGS, NOW)


def test_trying_a_source_reads_and_tags_its_items(tagger: Tagger) -> None:
    select = (("item", "article.post"), ("title", "h2.entry-title a"), ("link", "h2.entry-title a@href"),
              ("date", "time.published"))
    spec = SourceSpec("try", "https://inter.kke.example/en/", language="en", kind="html", select=select)
    with site({"/en/": (200, "pages/wordpress-listing.html", HTML)}) as (client, _):
        tried = probe.try_source(client, spec, SETTINGS, tagger, NOW)
    jerusalem = tried.items[0]
    assert jerusalem.title.startswith("Statement of the KKE on the recognition of Jerusalem")
    assert jerusalem.parties == ("kke",) and "palestine" in jerusalem.topics
    assert len(tried.items) == 4 and tried.parsed.warnings


def test_trying_a_source_whose_page_changed_says_which_selector(tagger: Tagger) -> None:
    select = (("item", "article.post"), ("title", "h2 a"), ("link", "h2 a@href"))
    spec = SourceSpec("try", "https://inter.kke.example/en/", kind="html", select=select)
    with site({"/en/": (200, "pages/wordpress-redesigned.html", HTML)}) as (client, _), \
            pytest.raises(ParseError, match=r"'article\.post' matches nothing"):
        probe.try_source(client, spec, SETTINGS, tagger, NOW)


def test_common_paths_under_the_folder_then_the_root() -> None:
    assert probe.common_paths("https://x.example/") == [f"https://x.example/{p}" for p in probe.COMMON_PATHS]
    assert probe.common_paths("https://x.example/en/news.html")[:2] == ["https://x.example/en/feed",
                                                                       "https://x.example/en/rss"]
    assert len(probe.common_paths("https://x.example/en/news.html")) == 2 * len(probe.COMMON_PATHS)
