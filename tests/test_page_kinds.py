"""The page source kinds: `html` (a listing read with CSS selectors) and `telegram` (a channel's
web preview). Saved pages in tests/data/pages/ beside their expected results; layout changes;
what normalise makes of their items."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feeds import kinds
from feeds.errors import ParseError
from feeds.model import SourceSpec
from feeds.parse import ParsedFeed
from feeds.parse.listing import check_select, parse_listing
from feeds.parse.normalise import normalise_feed
from feeds.parse.pages import selector
from feeds.parse.telegram import parse_channel
from feeds.parse.xmlguard import MAX_ENTRIES
from tests.test_parse import project

PAGES = Path(__file__).parent / "data" / "pages"
EXPECTED = sorted(PAGES.glob("*.expected.json"))
NOW = datetime(2017, 12, 8, 9, tzinfo=UTC)
WORDPRESS = (("item", "article.post"), ("title", "h2.entry-title a"), ("link", "h2.entry-title a@href"),
             ("date", "time.published"), ("summary", ".entry-summary"))


def spec_of(source: dict[str, Any], id: str = "page") -> SourceSpec:
    return SourceSpec(id, source["url"], language=source.get("language"), kind=source["kind"],
                      select=tuple(source.get("select", {}).items()), channel=source.get("channel"))


def parse(spec: SourceSpec, name: str, url: str | None = None, headers: dict[str, str] | None = None
          ) -> ParsedFeed:
    body = (PAGES / name).read_bytes()
    return kinds.kind_of(spec).parse(body, headers or {}, url or spec.url, spec)


def wordpress(name: str = "wordpress-listing.html", select: tuple[tuple[str, str], ...] = WORDPRESS
              ) -> ParsedFeed:
    spec = SourceSpec("wp", "https://inter.kke.example/en/category/articles/", language="en", kind="html",
                      select=select)
    return parse(spec, name)


@pytest.mark.parametrize("expected_path", EXPECTED, ids=lambda p: p.name.removesuffix(".expected.json"))
def test_saved_page_parses_as_expected(expected_path: Path) -> None:
    expected = json.loads(expected_path.read_text("utf-8"))
    parsed = parse(spec_of(expected["source"]), expected_path.name.removesuffix(".expected.json"),
                   headers=expected["headers"])
    assert project(parsed, list(expected["feed"])) == expected["feed"]
    assert len(parsed.entries) == len(expected["entries"])
    for entry, want in zip(parsed.entries, expected["entries"], strict=True):
        assert project(entry, list(want)) == want


def test_listing_items_are_normalised_like_feed_entries() -> None:
    spec = SourceSpec("wp", "https://inter.kke.example/en/category/articles/", language="en", kind="html",
                      select=WORDPRESS)
    items = {item.title: item for item in normalise_feed(parse(spec, "wordpress-listing.html"), spec, NOW)}
    jerusalem = items["Statement of the KKE on the recognition of Jerusalem as the capital of Israel"]
    assert jerusalem.link == "https://inter.kke.example/en/articles/Statement-on-Jerusalem/"
    assert "script" not in jerusalem.summary and "tracking" not in jerusalem.summary
    assert "onclick" not in jerusalem.summary
    assert "solidarity with the people of Palestine" in jerusalem.summary
    rally = items["Rally in Syntagma Square against the imperialist war"]
    # relative URLs in the summary resolve against the page; event handlers go
    assert 'src="https://inter.kke.example/wp-content/uploads/2017/12/rally-banner.jpg"' in rally.summary
    assert "onerror" not in rally.summary
    # an unreadable date ("Some time ago") falls back to the fetch time
    assert items["Solidarity with the dockers’ strike in Piraeus"].published == NOW
    assert jerusalem.published == datetime(2017, 12, 7, tzinfo=UTC)
    assert {item.language for item in items.values()} == {"en-US"}  # the page's own, as a feed's


def test_relative_links_resolve_against_the_page_and_its_base() -> None:
    select = (("item", "li"), ("title", "a"), ("link", "a@href"))
    spec = SourceSpec("s", "https://party.example/news/", kind="html", select=select)
    page = b"<ul><li><a href='2026/a.html'>A statement on the strike</a></li></ul>"
    assert parse_listing(page, {}, spec.url, spec).entries[0].link == "https://party.example/news/2026/a.html"
    based = b"<head><base href='https://cdn.party.example/en/'></head>" + page
    assert parse_listing(based, {}, spec.url, spec).entries[0].link == "https://cdn.party.example/en/2026/a.html"
    bad = b"<ul><li><a href='javascript:go()'>A</a></li><li><a href='/b'>B</a></li></ul>"
    assert [e.link for e in parse_listing(bad, {}, spec.url, spec).entries] == ["https://party.example/b"]


def test_an_attribute_of_the_item_itself_and_an_attribute_as_summary() -> None:
    select = (("item", "a.card"), ("title", "@title"), ("link", "@href"), ("summary", "img@alt"))
    spec = SourceSpec("s", "https://party.example/", kind="html", select=select)
    page = b"<a class=card href=/x title='The dockers strike'><img alt='Dockers &amp; <friends>'></a>"
    entry = parse_listing(page, {}, spec.url, spec).entries[0]
    assert (entry.title, entry.link) == ("The dockers strike", "https://party.example/x")
    assert entry.summary == "<p>Dockers &amp; &lt;friends&gt;</p>"


def test_a_page_whose_layout_changed_is_an_error_naming_the_selector() -> None:
    with pytest.raises(ParseError, match=r"item selector 'article\.post' matches nothing"):
        wordpress("wordpress-redesigned.html")
    moved = (("item", "li.wp-block-post"), *WORDPRESS[1:])
    with pytest.raises(ParseError, match=r"title selector 'h2\.entry-title a' matches nothing in any of the"):
        wordpress("wordpress-redesigned.html", moved)
    fixed = (("item", "li.wp-block-post"), ("title", "h3 a"), ("link", "h3 a@href"),
             ("date", "time@datetime"))
    parsed = wordpress("wordpress-redesigned.html", fixed)
    assert [e.published for e in parsed.entries] == [datetime(2017, 12, 7, 9, tzinfo=UTC),
                                                     datetime(2017, 12, 3, 17, 40, tzinfo=UTC)]


def test_empty_and_non_html_bodies_are_errors() -> None:
    spec = SourceSpec("s", "https://party.example/", kind="html", select=WORDPRESS)
    with pytest.raises(ParseError, match="empty body"):
        parse_listing(b"  \n", {}, spec.url, spec)
    with pytest.raises(ParseError, match="matches nothing"):
        parse_listing(b"\x00\x01 binary", {}, spec.url, spec)


def test_a_meta_charset_is_followed() -> None:
    spec = SourceSpec("s", "https://party.example/", kind="html", language="el",
                      select=(("item", "li"), ("title", "a"), ("link", "a@href")))
    title = "Απεργία στα λιμάνια"
    body = (f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-7"></head>'
            f'<body><ul><li><a href="/a">{title}</a></li></ul></body></html>').encode("iso-8859-7")
    parsed = parse_listing(body, {"Content-Type": "text/html"}, spec.url, spec)
    assert (parsed.entries[0].title, parsed.encoding, parsed.encoding_note) == (title, "iso8859-7", None)
    # the HTTP charset of a page is the page's own, and comes first
    parsed = parse_listing(body, {"Content-Type": "text/html; charset=windows-1253"}, spec.url, spec)
    assert parsed.encoding == "cp1253" and parsed.entries[0].title == title


def test_a_long_listing_keeps_its_first_items() -> None:
    rows = "".join(f"<li><a href='/{n}'>Item {n}</a></li>" for n in range(MAX_ENTRIES + 5))
    spec = SourceSpec("s", "https://party.example/", kind="html",
                      select=(("item", "li"), ("title", "a"), ("link", "a@href")))
    parsed = parse_listing(f"<ul>{rows}</ul>".encode(), {}, spec.url, spec)
    assert len(parsed.entries) == MAX_ENTRIES and parsed.entries[0].title == "Item 0"
    assert parsed.warnings == (f"kept the first {MAX_ENTRIES} of {MAX_ENTRIES + 5} items",)


@pytest.mark.parametrize(("select", "problem"), [
    (WORDPRESS, None),
    (WORDPRESS[:2], ("link", "required")),
    ((*WORDPRESS, ("author", ".by")), ("author", "unknown field")),
    ((("item", "div["), *WORDPRESS[1:]), ("item", "not a CSS selector")),
    ((("item", "a@href"), *WORDPRESS[1:]), ("item", "not an attribute")),
    ((*WORDPRESS[:4], ("summary", "p::text")), ("summary", "written after @")),
    ((*WORDPRESS[:4], ("summary", " ")), ("summary", "an empty selector")),
])
def test_selectors_are_checked(select: tuple[tuple[str, str], ...], problem: tuple[str, str] | None) -> None:
    found = check_select(select)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found[0] == problem[0] and problem[1] in found[1]


def test_a_field_selector_splits_off_its_attribute() -> None:
    assert (selector("h2 a@href").css, selector("h2 a@href").attribute) == ("h2 a", "href")
    assert (selector("@datetime").css, selector("@datetime").attribute) == ("", "datetime")
    assert selector('a[href$="@x"]').attribute is None
    assert selector("time@data-published").attribute == "data-published"


# --- telegram -----------------------------------------------------------------------------------------

TELEGRAM = SourceSpec("tg", "https://t.me/s/kke_example", party="kke", language="en", kind="telegram",
                      channel="kke_example")


def telegram_items() -> dict[str, Any]:
    parsed = parse(TELEGRAM, "telegram-preview.html", url="http://127.0.0.1:9/s/kke_example")
    return {item.link: item for item in normalise_feed(parsed, TELEGRAM, NOW)}


def test_telegram_messages_keep_their_permalinks_whatever_the_address_fetched() -> None:
    items = telegram_items()
    assert sorted(items) == [f"https://t.me/kke_example/{n}" for n in (1041, 1042, 1043, 1044, 1046, 1047)]
    assert "https://t.me/kke_example/1040" not in items  # "Channel photo updated": a service message


def test_telegram_text_photos_and_forwards() -> None:
    items = telegram_items()
    photo = items["https://t.me/kke_example/1042"]
    assert photo.content.startswith('<p><img src="https://cdn4.telesco.pe/file/rally-syntagma.jpg"')
    assert "Thousands of workers" in photo.content and "style" not in photo.content
    album = items["https://t.me/kke_example/1044"]
    assert album.title == "Photos" and album.content.count("<img") == 2
    assert "march-2.jpg" in album.content  # background-image:url("...") quoted with &quot;
    forwarded = items["https://t.me/kke_example/1043"]
    assert forwarded.content.startswith('<p>Forwarded from <a href="https://t.me/rizospastis_example/777"')
    assert forwarded.authors == ("Rizospastis",)
    linked = items["https://t.me/kke_example/1041"]
    assert 'href="https://inter.kke.example/en/articles/Regional-Meeting/"' in linked.content
    assert "onclick" not in linked.content and "confirm" not in linked.content


def test_a_telegram_reply_is_its_own_text_and_a_long_first_line_is_no_title() -> None:
    reply = telegram_items()["https://t.me/kke_example/1047"]
    assert reply.content.startswith("The statement was delivered")  # not the quoted message
    assert reply.title_derived and reply.title.startswith("The statement was delivered")
    assert reply.authors == ("Press Office",)


def test_a_page_without_messages_is_not_a_channel() -> None:
    with pytest.raises(ParseError, match=r"no messages \(div\.tgme_widget_message"):
        parse_channel(b"<html><body><div class='tgme_page'>If you have Telegram, you can contact"
                      b" @nobody right away.</div></body></html>", {}, TELEGRAM.url, TELEGRAM)


def test_telegram_views_do_not_change_the_items() -> None:
    body = (PAGES / "telegram-preview.html").read_bytes()
    again = body.replace(b">12.5K<", b">13.1K<").replace(b">2.3K<", b">2.4K<")
    assert again != body
    first = normalise_feed(parse_channel(body, {}, TELEGRAM.url, TELEGRAM), TELEGRAM, NOW)
    second = normalise_feed(parse_channel(again, {}, TELEGRAM.url, TELEGRAM), TELEGRAM, NOW)
    assert [(i.id, i.content_hash) for i in first] == [(i.id, i.content_hash) for i in second]
