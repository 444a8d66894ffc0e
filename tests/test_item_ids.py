"""Item ids depend on the source and the entry's guid or atom:id as the feed writes it, never on the
URL the feed was fetched from: a source that moves keeps its items' ids (feeds/parse/normalise.py).

A relative guid used to be joined to the fetch URL. Absolute guids, and relative ones under an
absolute xml:base, keep the ids they always had; the fast path and feedparser agree on each.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds import pipeline
from feeds.errors import ParseError
from feeds.fetch import FetchResult
from feeds.model import SourceSpec, SourceState, item_id
from feeds.parse import parse_feed
from feeds.parse.normalise import normalise_feed
from feeds.store import Store
from feeds.tag import Tagger
from feeds.tag.registry import load_registry
from tests.conftest import ROOT
from tests.test_fastparse import both_ways, feedparser_only, watching_fast_path

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
SPEC = SourceSpec("pcp", "https://www.pcp.example.pt/rss")
OLD_URL = "https://www.pcp.example.pt/rss"
NEW_URL = "https://feeds.pcp.example.net/portugal/noticias.xml"
FEEDS = Path(__file__).parent / "data" / "feeds"
# Outside the fast path: an element in a namespace it does not know.
UNKNOWN = '<x:extra xmlns:x="https://example.org/x">1</x:extra>'


def rss(guids: list[str], *, extra: str = "", links: bool = False) -> bytes:
    items = "".join(
        f"<item><title>Nota {n}</title>{f'<link>/pt/nota/{n}</link>' if links else ''}<guid>{guid}</guid>"
        f"<pubDate>Wed, 01 May 2024 10:0{n % 10}:00 GMT</pubDate>{extra}</item>"
        for n, guid in enumerate(guids))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>PCP</title>'
            f"<link>https://www.pcp.example.pt/</link>{items}</channel></rss>").encode()


def atom(ids: list[str], *, base: str = "") -> bytes:
    entries = "".join(f'<entry><title>Nota {n}</title><link href="/pt/nota/{n}"/><id>{entry_id}</id>'
                      f"<updated>2024-05-01T10:00:00Z</updated></entry>" for n, entry_id in enumerate(ids))
    xml_base = f' xml:base="{base}"' if base else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{xml_base}>'
            f"<title>PCP</title><id>urn:pcp</id><updated>2024-05-01T10:00:00Z</updated>{entries}</feed>").encode()


def ids(body: bytes, url: str) -> list[str]:
    return [item.id for item in normalise_feed(parse_feed(body, {}, url), SPEC, NOW, {})]


def both_paths(body: bytes, url: str) -> list[str]:
    """The ids, checking that the fast path (when it answers) and feedparser agree on them."""
    with watching_fast_path():
        default = ids(body, url)
    with feedparser_only():
        assert ids(body, url) == default
    return default


RELATIVE = ["/pt/nota/1", "nota/2", "?p=3", "../arquivo/4", "5", "//www.pcp.example.pt/pt/nota/6"]


@pytest.mark.parametrize("extra", ["", UNKNOWN], ids=["fast path", "feedparser"])
def test_relative_guids_give_the_same_ids_from_any_url(extra: str) -> None:
    body = rss(RELATIVE, extra=extra)
    assert both_paths(body, OLD_URL) == both_paths(body, NEW_URL) == both_paths(body, "http://127.0.0.1:8/x")
    assert ids(body, OLD_URL) == [item_id(f"pcp\x1f{guid}") for guid in RELATIVE]


def test_relative_atom_ids_give_the_same_ids_from_any_url() -> None:
    body = atom(["nota-1", "/pt/nota/2"])
    assert both_paths(body, OLD_URL) == both_paths(body, NEW_URL)


def test_links_are_still_joined_to_the_fetch_url() -> None:
    # A permalink guid stands for the entry's link: that one must be absolute, so it is joined.
    parsed = parse_feed(rss(["/pt/nota/1"]), {}, NEW_URL)
    assert parsed.entries[0].guid == "/pt/nota/1"
    assert parsed.entries[0].link == "https://feeds.pcp.example.net/pt/nota/1"


ABSOLUTE = ["https://www.pcp.example.pt/pt/nota/1", "https://www.pcp.example.pt/?p=1",
            "tag:pcp.example.pt,2024:1", "urn:uuid:0b7f7d2c-4f6e-4d62-9a51-2c5d9a0e1f3a"]


@pytest.mark.parametrize("extra", ["", UNKNOWN], ids=["fast path", "feedparser"])
@pytest.mark.parametrize("guid", ABSOLUTE)
def test_absolute_guids_keep_the_ids_they_always_had(guid: str, extra: str) -> None:
    body = rss([guid], extra=extra)
    assert both_paths(body, OLD_URL) == both_paths(body, NEW_URL) == [item_id(f"pcp\x1f{guid}")]


def test_a_relative_guid_under_an_absolute_xml_base_keeps_its_id() -> None:
    # Joined to the document's own base, as it always was: that is not the fetch URL.
    body = atom(["nota/1"], base="https://www.pcp.example.pt/pt/")
    assert both_paths(body, OLD_URL) == both_paths(body, NEW_URL) == [
        item_id("pcp\x1fhttps://www.pcp.example.pt/pt/nota/1")]


def test_guids_that_are_not_permalinks_were_never_joined() -> None:
    body = rss(["1"]).replace(b"<guid>", b'<guid isPermaLink="false">')
    assert both_paths(body, OLD_URL) == both_paths(body, NEW_URL) == [item_id("pcp\x1f1")]


def identified_by_guids(path: Path) -> bool:
    """A fixture feed whose every entry has a guid (the others' ids come from links)."""
    try:
        entries = parse_feed(path.read_bytes(), {}, "https://example.org/feed").entries
    except ParseError:
        return False
    return bool(entries) and all(entry.guid for entry in entries)


WITH_GUIDS = sorted(p.name for p in FEEDS.iterdir()
                    if not p.name.endswith(".json") and identified_by_guids(p))


@pytest.mark.parametrize("name", WITH_GUIDS)
def test_every_fixture_feed_has_the_same_ids_from_another_url(name: str) -> None:
    body = (FEEDS / name).read_bytes()
    assert both_paths(body, f"https://example.org/{name}") == both_paths(
        body, f"https://mirror.example.net/feeds/{name}")


GUID = r"(/|\.\./|\?|//host\.example/)?[a-z0-9]{1,6}(/[a-z0-9]{1,6})?"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.from_regex(GUID, fullmatch=True), min_size=1, max_size=4, unique=True),
       st.sampled_from([OLD_URL, NEW_URL, "http://127.0.0.1:8080/feed", "https://a.example/b/c/d/feed?x=1"]))
def test_ids_never_depend_on_the_fetch_url(guids: list[str], url: str) -> None:
    for extra in ("", UNKNOWN):
        body = rss(guids, extra=extra)
        assert both_paths(body, url) == both_paths(body, OLD_URL)


def test_feedparser_reads_a_document_twice_only_when_an_id_may_be_relative(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    parse = feedparser.parse

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["response_headers"].get("content-location"))
        return parse(*args, **kwargs)

    monkeypatch.setattr(feedparser, "parse", counted)
    parse_feed(rss(["https://www.pcp.example.pt/?p=1", "tag:pcp,2024:2"], extra=UNKNOWN), {}, NEW_URL)
    assert calls == [NEW_URL]
    calls.clear()
    parse_feed(rss(["/pt/nota/1"], extra=UNKNOWN), {}, NEW_URL)
    assert calls == [NEW_URL, None]


def test_a_store_from_before_keeps_its_items_when_guids_stop_being_joined() -> None:
    """A store whose items got their ids from guids joined to the feed's URL: the same entries,
    now identified by their guids as written, are the same items (found by their links)."""
    tagger = Tagger(load_registry(ROOT / "registry" / "parties.yaml", ROOT / "registry" / "topics.yaml"))
    relative = ["/pt/nota/1", "/pt/nota/2", "/pt/nota/3"]
    joined = [f"https://www.pcp.example.pt{guid}" for guid in relative]  # what the URL join gave
    with Store(":memory:") as store:
        def poll(body: bytes) -> pipeline.SourceReport:
            state = store.source_state(SPEC.id) or SourceState(SPEC.id, OLD_URL)
            result = FetchResult(SPEC.id, "ok", OLD_URL, OLD_URL, NOW, 200, body)
            return pipeline.ingest_result(store, tagger, SPEC, state, result, NOW)

        assert poll(rss(joined)).ingest.new == 3
        before = {item.id for item in store.latest(100)}
        assert before == {item_id(f"pcp\x1f{guid}") for guid in joined}
        for _ in range(2):  # the first fetch after, and one with the guid map it stored
            report = poll(rss(relative))
            assert report.ingest.new == 0 and report.ingest.unchanged == 3
            assert {item.id for item in store.latest(100)} == before


BASES = [None, "https://b.example/x/", "/rel/", "sub/", "mailto:a@b"]
GUID_PAIRS = [("1", "/p/2"), ("?q=5", "tag:x,2024:4"), ("HTTPS://Abs.example/3?", "//h.example/z")]


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_the_fast_path_gives_feedparsers_ids_under_any_xml_base(kind: str) -> None:
    """xml:base on the root and on entries, absolute or relative: feedparser without the document's
    URL keeps an entry's xml:base for the entries after it, and the fast path follows."""
    answered = []
    for root, first, last in itertools.product(BASES, repeat=3):
        for one, two in GUID_PAIRS:
            body = (xml_based_rss if kind == "rss" else xml_based_atom)(root, first, last, one, two)
            default, reference, fast = both_ways(body, NEW_URL)
            assert default == reference, (root, first, last, one, two)
            answered.append(fast)
    assert all(answered)


def xml_base(value: str | None) -> str:
    return f' xml:base="{value}"' if value else ""


def xml_based_rss(root: str | None, first: str | None, last: str | None, one: str, two: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"{xml_base(root)}><channel>'
            f"<title>t</title><item{xml_base(first)}><title>a</title><guid>{one}</guid></item>"
            f"<item><title>b</title><guid>x{two}</guid></item>"
            f"<item{xml_base(last)}><title>c</title><guid>{two}</guid></item></channel></rss>").encode()


def xml_based_atom(root: str | None, first: str | None, last: str | None, one: str, two: str) -> bytes:
    entry = "<entry{}><title>{}</title><id>{}</id><updated>2024-05-01T10:00:00Z</updated></entry>"
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{xml_base(root)}>'
            f"<title>t</title>{entry.format(xml_base(first), 'a', one)}{entry.format('', 'b', 'x' + two)}"
            f"{entry.format(xml_base(last), 'c', two)}</feed>").encode()
