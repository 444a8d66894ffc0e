"""index.html in a real headless browser (Debian's chromium): every subscribe link resolves to a valid feed.

The published folder is served by scheduler.server.FeedServer on 127.0.0.1; chromium loads
the page (`--dump-dom`: the DOM after parsing, no driver package) and every subscribe and
autodiscovery link is then fetched with httpx and validated (Atom: tests/atomcheck, JSON
Feed: the 1.1 schema, OPML: every outline's feeds). Without chromium it skips, with its
reason, except where PARTYFEEDS_REQUIRE_BROWSER is set: .ci/run sets it and installs chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import lxml.html
import pytest
from lxml import etree

from feeds import pipeline
from feeds.model import SiteInfo
from feeds.store import Store
from feeds.tag import Tagger
from feeds.tag.registry import load_registry
from scheduler.config import load_config
from scheduler.server import FeedServer
from tests.atomcheck import assert_valid_atom
from tests.jsonfeedcheck import assert_valid_json_feed

ROOT = Path(__file__).resolve().parent.parent
ATOM, JSON_FEED, OPML = "application/atom+xml", "application/feed+json", "text/x-opml"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")
OPML_JSON = "{https://github.com/partyfeeds/partyfeeds/ns/opml}jsonFeedUrl"

pytestmark = pytest.mark.slow


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("PARTYFEEDS_REQUIRE_BROWSER"):  # set by .ci/run: CI must run this test
            pytest.fail("chromium is not installed (.ci/run installs it: apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium); CI runs this test")
    return found


def dump_dom(url: str) -> lxml.html.HtmlElement:
    with tempfile.TemporaryDirectory(prefix="partyfeeds-chromium-") as profile:
        command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and "<html" in result.stdout, result.stderr[-2000:]
    return lxml.html.document_fromstring(result.stdout)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeedServer]:
    out = tmp_path_factory.mktemp("browser") / "public"
    config = load_config(ROOT / "config.yaml")
    registry = load_registry(config.parties_path, config.topics_path)
    with FeedServer(out) as server:
        site = SiteInfo(title="partyfeeds browser test", base_url=server.url, author_name="partyfeeds",
                        entries_per_feed=5)
        store = Store(":memory:")
        now = datetime.fromisoformat("2026-11-28T12:00Z")
        pipeline.ingest_seeds(store, Tagger(registry), [ROOT / "seeds"], now)
        pipeline.publish(store, registry, site, out, config.feeds.options, now=now)
        yield server


@pytest.fixture(scope="module")
def page(served: FeedServer) -> lxml.html.HtmlElement:
    return dump_dom(served.url + "index.html")


def test_every_feed_is_listed_with_count_update_headlines_and_both_subscribe_links(
        served: FeedServer, page: lxml.html.HtmlElement) -> None:
    heads = sorted(p.relative_to(served.site.output_dir).as_posix()
                   for p in Path(served.site.output_dir).rglob("*.atom")
                   if "archive" not in p.parts and p.name != "health.atom")
    articles = page.xpath("//main//article")
    assert len(articles) == len(heads) > 40
    for article in articles:
        text = article.text_content()
        assert article.findtext("h3") and (" item," in text or " items," in text), text
        assert article.xpath(".//time/@datetime") or "not updated yet" in text
        assert len(article.xpath(".//li")) <= 5
        assert len(article.xpath(f".//a[@type='{ATOM}']")) == 1
        assert len(article.xpath(f".//a[@type='{JSON_FEED}']")) == 1
    hrefs = page.xpath(f"//main//a[@type='{ATOM}']/@href")
    subscribed = sorted(href.removeprefix(served.url) for href in hrefs)
    assert subscribed == heads
    assert page.xpath("//script") == [] and page.get("lang") == "en"


def test_every_subscribe_and_autodiscovery_link_resolves_to_a_valid_feed(
        served: FeedServer, page: lxml.html.HtmlElement) -> None:
    links = {(a.get("type"), a.get("href")) for a in page.xpath("//a[@type] | //head/link[@rel='alternate']")}
    kinds = {kind for kind, _ in links}
    assert kinds == {ATOM, JSON_FEED, OPML}
    with httpx.Client(timeout=10) as client:
        for kind, href in sorted(links):
            response = client.get(href)
            assert response.status_code == 200, href
            assert response.headers["content-type"].startswith(kind), href
            if kind == ATOM:
                assert_valid_atom(response.content)
            elif kind == JSON_FEED:
                assert_valid_json_feed(response.content)
            else:
                check_opml(client, response.content, {h for k, h in links if k == ATOM})


def check_opml(client: httpx.Client, data: bytes, atom_links: set[str]) -> None:
    outlines = etree.fromstring(data).findall("body/outline/outline")
    assert {o.get("xmlUrl") for o in outlines} == atom_links
    for outline in outlines:
        response = client.get(outline.get(OPML_JSON, ""))
        assert response.status_code == 200
        assert assert_valid_json_feed(response.content)["title"] == outline.get("title")
