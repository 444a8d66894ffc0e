"""Hostile content: attack strings and absurd values never reach a published feed.

Every vector of tests/data/hostile/xss-vectors.txt goes into an entry's
title, escaped-HTML summary and CDATA content, in RSS and in Atom; the feeds
run through the real chain (fetch on a mock transport, parse, normalise, tag,
store, publish) and the PUBLISHED files are parsed back: entry HTML may hold
only allow-listed tags, attributes and URL schemes, titles are plain text.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import lxml.html
import pytest
from lxml import etree

from feeds import pipeline
from feeds.fetch import FetchSettings, make_client
from feeds.model import SiteInfo, SourceSpec
from feeds.parse.normalise import EARLIEST_DATE, MAX_TITLE_CHARS
from feeds.parse.sanitize import ATTRIBUTES, LINK_REL, TAGS, URL_SCHEMES
from feeds.store import Store
from feeds.tag import Tagger
from feeds.tag.registry import load_registry
from tests.atomcheck import assert_valid_atom

ROOT = Path(__file__).resolve().parent.parent
VECTORS = [line for line in (ROOT / "tests/data/hostile/xss-vectors.txt").read_text("utf-8").splitlines()
           if line.strip() and not line.startswith("# ")]
A = "{http://www.w3.org/2005/Atom}"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SITE = SiteInfo(title="hostile", base_url="http://127.0.0.1:8080/", author_name="t", entries_per_feed=1000)
SETTINGS = FetchSettings(user_agent="t", total_timeout=5)
SAME_GUID = ("Dockers strike in Piraeus", "Harvest festival opens in Lisbon")
URL_ATTRIBUTES = {"href", "src", "cite", "action", "formaction", "poster", "background", "longdesc", "srcset",
                  "xlink:href", "data", "codebase", "usemap", "lowsrc", "dynsrc"}


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def rss(entries: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Hostile</title>'
            f"{entries}</channel></rss>").encode()


def xss_rss() -> bytes:
    return rss("".join(
        f"<item><title>{html.escape(v)}</title><link>https://hostile.example/rss/{n}</link>"
        f"<guid>rss-{n}</guid><description>{html.escape(v)}</description>"
        f"<content:encoded>{cdata(v)}</content:encoded></item>" for n, v in enumerate(VECTORS)))


def xss_atom() -> bytes:
    entries = "".join(
        f'<entry><id>atom-{n}</id><title type="html">{html.escape(v)}</title>'
        f'<link href="https://hostile.example/atom/{n}"/><updated>2024-04-01T00:00:00Z</updated>'
        f'<summary type="html">{html.escape(v)}</summary><content type="html">{html.escape(v)}</content>'
        f"</entry>" for n, v in enumerate(VECTORS))
    return (f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Hostile</title>'
            f"<id>urn:x</id><updated>2024-04-01T00:00:00Z</updated>{entries}</feed>").encode()


def absurd_rss() -> bytes:
    dates = ["Mon, 01 Jan 0001 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "yesterday-ish",
             "0001-01-01T00:00:00Z", "", "Tue, 30 Apr 2024 10:00:00 GMT"]
    items = [f"<item><title>Dated {n} {'word ' * 20_000}</title><link>https://absurd.example/{n}</link>"
             f"<pubDate>{date}</pubDate></item>" for n, date in enumerate(dates)]
    items += [f"<item><title>{SAME_GUID[0]}</title><guid>dup</guid><link>https://absurd.example/a</link></item>",
              f"<item><title>{SAME_GUID[1]}</title><guid>dup</guid><link>https://absurd.example/b</link></item>",
              "<item><title>No id, no link</title></item>", "<item><description>Nothing but a body"
              "</description></item>", "<item></item>", f"<item><guid>{'g' * 100_000}</guid></item>"]
    return rss("".join(items))


def serve(feeds: dict[str, bytes]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        body = feeds[request.url.path]
        return httpx.Response(200, headers={"Content-Type": "application/xml"}, stream=httpx.ByteStream(body))
    return handler


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("public")
    registry = load_registry(ROOT / "registry" / "parties.yaml", ROOT / "registry" / "topics.yaml")
    feeds = {"/xss.rss": xss_rss(), "/xss.atom": xss_atom(), "/absurd.rss": absurd_rss()}
    specs = [SourceSpec(path.strip("/").replace(".", "-"), f"https://hostile.example{path}")
             for path in feeds]
    transport = httpx.MockTransport(serve(feeds))
    with Store(":memory:") as store, make_client(SETTINGS, transport=transport) as client:
        reports = pipeline.ingest_sources(store, Tagger(registry), client, specs, SETTINGS, NOW, force=True)
        assert [r.status for r in reports] == ["ok", "ok", "ok"], reports
        pipeline.publish(store, registry, SITE, out, now=NOW)
    yield out


def entries(path: Path) -> list[etree._Element]:
    return list(etree.parse(str(path)).getroot().iter(f"{A}entry"))


def check_html(fragment: str) -> None:
    for element in lxml.html.fragment_fromstring(fragment, create_parent="div").iter():
        if element.tag == "div" and element.getparent() is None:
            continue  # the wrapper
        assert isinstance(element.tag, str) and element.tag in TAGS, etree.tostring(element)
        allowed = ATTRIBUTES.get(element.tag, set()) | ATTRIBUTES["*"]
        allowed |= {"rel"} if element.tag == "a" else set()
        for name, value in element.attrib.items():
            assert name in allowed, (element.tag, name, value)
            if name in URL_ATTRIBUTES:
                assert urlsplit(value.strip()).scheme in URL_SCHEMES, (name, value)
            if name == "rel":
                assert value == LINK_REL


def test_the_corpus_is_large() -> None:
    assert len(VECTORS) >= 80


def test_published_entry_html_holds_only_the_allow_list(published: Path) -> None:
    checked = 0
    for feed in published.rglob("*.atom"):
        for entry in entries(feed):
            for body in (entry.find(f"{A}summary"), entry.find(f"{A}content")):
                if body is not None:
                    assert body.get("type") == "html"
                    check_html(body.text or "")
                    checked += 1
    assert checked >= len(VECTORS) // 2  # alike titles merge into one entry (dedupe), so not one per vector


def test_published_titles_are_plain_text_without_markup(published: Path) -> None:
    titles = [entry.find(f"{A}title") for entry in entries(published / "all.atom")]
    assert len(titles) >= len(VECTORS) // 2
    for title in titles:
        assert title is not None and title.get("type") in (None, "text")
        text = (title.text or "").lower()
        assert "<script" not in text and "onerror=" not in text and "<img" not in text, text


def test_the_index_page_carries_no_script(published: Path) -> None:
    page = lxml.html.parse(str(published / "index.html")).getroot()
    assert not page.xpath("//script | //iframe | //object | //embed | //form | //meta[@http-equiv]")
    for element in page.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), name
            assert "javascript:" not in value.lower().replace(" ", ""), value


def test_every_published_feed_is_valid_atom(published: Path) -> None:
    for feed in published.rglob("*.atom"):
        assert_valid_atom(feed.read_bytes())


def test_absurd_values_are_bounded(published: Path) -> None:
    absurd = [e for e in entries(published / "all.atom")
              if "absurd" in (e.findtext(f"{A}link") or "") + etree.tostring(e).decode()]
    assert absurd
    for entry in absurd:
        assert len(entry.findtext(f"{A}title") or "") <= MAX_TITLE_CHARS
        for name in ("updated", "published"):
            text = entry.findtext(f"{A}{name}")
            if text:
                when = datetime.fromisoformat(text)
                assert EARLIEST_DATE <= when <= NOW, text
    titles = {e.findtext(f"{A}title") for e in absurd}
    assert set(SAME_GUID) <= titles  # one guid on two links: two stories, not one
