"""feeds.publish.jsonfeed: JSON Feed 1.1 twins checked against the schema and their Atom twin."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.model import FeedSpec, Item, SiteInfo, SourceRef, item_id
from feeds.publish.archive import chain
from feeds.publish.entryparts import Labels
from feeds.publish.jsonfeed import plain_text, render_json
from feeds.publish.render import render_atom
from tests.atomcheck import assert_valid_atom
from tests.jsonfeedcheck import assert_valid_json_feed, json_feed_problems
from tests.test_atomtext import items as atomtext_items

A = "{http://www.w3.org/2005/Atom}"
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SITE = SiteInfo(title="Party feeds", base_url="https://feeds.example.org/", author_name="partyfeeds",
                author_uri="https://feeds.example.org/about", hub_url="https://hub.example.org/")
SPEC = FeedSpec("party/kke.atom", "party", "kke", "Communist Party of Greece (KKE)", "News of the KKE",
                website="https://www.kke.gr/")
LABELS = Labels(parties={"kke": "Communist Party of Greece (KKE)"})
HEAD, PAGE_2 = chain(SPEC.path, 13, 5, 3)[:2]


def make(n: int, **fields: Any) -> Item:
    values: dict[str, Any] = {
        "id": item_id(f"json-{n}"), "title": f"Headline {n}", "link": f"https://www.kke.gr/{n}",
        "summary": f"<p>Summary &amp; {n}</p>", "content": f"<p>Content {n}</p>", "published": WHEN,
        "updated": WHEN - timedelta(hours=n), "language": "el", "authors": ("Press office",),
        "sources": (SourceRef("kke", "KKE", f"https://www.kke.gr/{n}", "kke"),
                    SourceRef("902", "902.gr", f"https://www.902.gr/{n}")),
        "parties": ("kke",), "topics": ("strikes",), "categories": ("Greece",),
    }
    values.update(fields)
    return Item(**values)


ITEMS = [make(n) for n in range(4)] + [make(9, authors=(), sources=(), link=None, summary="", content="",
                                            language=None, parties=(), topics=(), categories=())]


def test_twin_holds_the_same_entries_tags_and_authors_as_the_atom_document() -> None:
    feed = assert_valid_json_feed(render_json(SPEC, ITEMS, SITE, HEAD))
    atom = assert_valid_atom(render_atom(SPEC, ITEMS, SITE, LABELS, doc=HEAD))
    entries = atom.findall(f"{A}entry")
    assert [i["id"] for i in feed["items"]] == [e.findtext(f"{A}id") for e in entries]
    assert [i["title"] for i in feed["items"]] == [e.findtext(f"{A}title") for e in entries]
    assert [i.get("tags", []) for i in feed["items"]] == [
        [c.get("term") for c in e.findall(f"{A}category")] for e in entries]
    assert [[a["name"] for a in i["authors"]] for i in feed["items"]] == [
        [a.findtext(f"{A}name") for a in e.findall(f"{A}author")] for e in entries]
    assert [i["content_html"] for i in feed["items"][:4]] == [e.findtext(f"{A}content") for e in entries[:4]]


def test_feed_fields_and_the_atom_document_links_its_twin() -> None:
    feed = assert_valid_json_feed(render_json(SPEC, ITEMS, SITE, HEAD, icon="https://www.kke.gr/icon.png"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == "https://feeds.example.org/party/kke.json"
    assert feed["home_page_url"] == "https://www.kke.gr/" and feed["icon"] == "https://www.kke.gr/icon.png"
    assert feed["hubs"] == [{"type": "WebSub", "url": "https://hub.example.org/"}]
    assert feed["authors"] == [{"name": "partyfeeds", "url": "https://feeds.example.org/about"}]
    atom = assert_valid_atom(render_atom(SPEC, ITEMS, SITE, LABELS, doc=HEAD))
    twin = [link.get("href") for link in atom.findall(f"{A}link")
            if link.get("type") == "application/feed+json"]
    assert twin == [feed["feed_url"]]


def test_next_url_walks_the_archive_chain_and_the_extension_carries_rfc5005_links() -> None:
    head = assert_valid_json_feed(render_json(SPEC, ITEMS, SITE, HEAD))
    page = assert_valid_json_feed(render_json(SPEC, ITEMS, SITE, PAGE_2))
    assert head["next_url"] == "https://feeds.example.org/archive/party/kke/2.json"
    assert page["next_url"] == "https://feeds.example.org/archive/party/kke/1.json"
    assert head["_partyfeeds"]["archive"] is False and page["_partyfeeds"]["archive"] is True
    assert page["_partyfeeds"]["current"] == "https://feeds.example.org/party/kke.json"
    assert page["_partyfeeds"]["page"] == 2 and page["feed_url"].endswith("/archive/party/kke/2.json")


def test_item_fields() -> None:
    feed = assert_valid_json_feed(render_json(SPEC, ITEMS, SITE, HEAD))
    first, bare = feed["items"][0], feed["items"][-1]
    assert first["url"] == "https://www.kke.gr/0" and first["summary"] == "Summary & 0"
    assert first["date_modified"] == "2024-05-01T12:00:00+00:00" and first["language"] == "el"
    assert 'Reported by: <a href="https://www.kke.gr/0" rel="noopener noreferrer nofollow">KKE</a>' in first[
        "content_html"]
    assert bare["content_html"] == "Headline 9" and "url" not in bare and "tags" not in bare
    assert bare["authors"] == [{"name": "partyfeeds"}]


def test_items_carry_their_atom_source_and_via_links() -> None:
    shared = make(1, sources=(SourceRef("kke", "KKE", "https://www.kke.gr/1", "kke", site="https://www.kke.gr/"),
                              SourceRef("902", "902.gr", "https://www.kke.gr/1", site="https://www.902.gr/")))
    feed = assert_valid_json_feed(render_json(SPEC, [make(0), shared, ITEMS[-1]], SITE, HEAD))
    atom = assert_valid_atom(render_atom(SPEC, [make(0), shared, ITEMS[-1]], SITE, LABELS, doc=HEAD))
    for item, entry in zip(feed["items"], atom.findall(f"{A}entry"), strict=True):
        source = entry.find(f"{A}source")
        vias = [link.get("href") for link in entry.findall(f"{A}link") if link.get("rel") == "via"]
        if source is None:
            assert "_partyfeeds" not in item
            continue
        assert item["_partyfeeds"]["source"] == {"id": source.findtext(f"{A}id"),
                                                 "title": source.findtext(f"{A}title")}
        assert item["_partyfeeds"].get("via", []) == vias
    assert [i["_partyfeeds"].get("via") for i in feed["items"][:2]] == [["https://www.902.gr/0"],
                                                                      ["https://www.902.gr/"]]


def test_same_input_same_bytes() -> None:
    assert render_json(SPEC, ITEMS, SITE, HEAD) == render_json(SPEC, list(reversed(ITEMS)), SITE, HEAD)


def test_hostile_and_non_latin_text_round_trips() -> None:
    item = make(0, title='<script>alert("x")</script> Κομμουνιστικό', summary="<b>İşçi</b>\x00")
    feed = assert_valid_json_feed(render_json(SPEC, [item], SITE, HEAD))
    assert feed["items"][0]["title"] == '<script>alert("x")</script> Κομμουνιστικό'  # JSON text, not HTML
    assert feed["items"][0]["summary"] == "İşçi"
    assert "Κομμουνιστικό".encode() in render_json(SPEC, [item], SITE, HEAD)


def test_plain_text_strips_tags_and_entities() -> None:
    assert plain_text("<p>a &amp; <b>b</b></p>\n<p>c</p>") == "a & b c"


# --- the checker catches broken documents ---------------------------------------------------------


def _doc() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(render_json(SPEC, ITEMS, SITE, HEAD))
    return data


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.pop("title"), "'title' is a required property"),
    (lambda d: d.update(version="https://jsonfeed.org/version/1"), "version"),
    (lambda d: d["items"][0].pop("id"), "'id' is a required property"),
    (lambda d: d["items"][0].update(id=7), "is not of type 'string'"),
    (lambda d: d["items"][0].pop("content_html"), "is not valid under any of the given schemas"),
    (lambda d: d["items"][0].update(date_modified="2024-05-01 12:00"), "date-time"),
    (lambda d: d.update(feed_url="/party/kke.json"), "uri"),
    (lambda d: d["items"][0].update(tagz=["x"]), "'tagz' does not match any of the regexes: '^_'"),
    (lambda d: d.update(hubs=[{"url": "https://hub.example.org/"}]), "'type' is a required property"),
    (lambda d: d["items"].append(d["items"][0]), "share the id"),
    (lambda d: d.update(next_url=d["feed_url"]), "next_url"),
])
def test_checker_catches_broken_documents(mutate: Callable[[dict[str, Any]], object], message: str) -> None:
    document = _doc()
    mutate(document)
    problems = json_feed_problems(json.dumps(document).encode())
    assert any(message in p for p in problems), problems


def test_checker_allows_extensions_and_rejects_non_json() -> None:
    document = _doc()
    document["items"][0]["_ext"] = {"anything": 1}
    assert json_feed_problems(json.dumps(document).encode()) == []
    assert json_feed_problems(b"\xff") and json_feed_problems(b"{")


def test_the_specifications_own_example_validates() -> None:
    """Guards the schema itself: the example of jsonfeed.org/version/1.1 is valid."""
    example = {"version": "https://jsonfeed.org/version/1.1", "title": "My Example Feed",
               "home_page_url": "https://example.org/", "feed_url": "https://example.org/feed.json",
               "items": [{"id": "2", "content_text": "This is a second item.",
                          "url": "https://example.org/second-item"},
                         {"id": "1", "content_html": "<p>Hello, world!</p>",
                          "url": "https://example.org/initial-post"}]}
    assert json_feed_problems(json.dumps(example).encode()) == []


def test_items_spliced_into_a_document_print_as_json_dumps_would() -> None:
    for items in (ITEMS, ITEMS[:1], []):
        data = render_json(SPEC, items, SITE, PAGE_2, icon="https://www.kke.gr/icon.png").decode("utf-8")
        assert data == json.dumps(json.loads(data), ensure_ascii=False, indent=1) + "\n"


@settings(max_examples=200)
@given(st.lists(atomtext_items(), max_size=4, unique_by=lambda item: item.id))
def test_generated_items_spliced_into_a_document_print_as_json_dumps_would(items: list[Item]) -> None:
    # Text with newlines, quotes, controls and characters JSON escapes: each item's text is
    # indented line by line, so a line break must never come from inside a string.
    data = render_json(SPEC, items, SITE, HEAD).decode("utf-8")
    assert data == json.dumps(json.loads(data), ensure_ascii=False, indent=1) + "\n"
