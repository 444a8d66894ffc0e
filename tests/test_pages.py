"""feeds.publish.pages: OPML and the HTML index, parsed back and checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import lxml.html
from lxml import etree

from feeds.model import FeedSpec, Item, SiteInfo, item_id
from feeds.publish.pages import FeedSummary, render_index, render_opml

SITE = SiteInfo(title="Party feeds", base_url="https://feeds.example.org/", author_name="partyfeeds")
HOSTILE = "<script>alert('x')</script> & \"quotes\""
GREEK = "Κομμουνιστικό Κόμμα Ελλάδας"
RUSSIAN = "Коммунистическая партия Российской Федерации"
TURKISH = "Türkiye Komünist Partisi: İşçi"

ALL = FeedSpec(path="all.atom", kind="all", key=None, title="All parties", subtitle="Every item")
KKE = FeedSpec(path="party/kke.atom", kind="party", key="kke", title=GREEK, subtitle="KKE",
               website="https://www.kke.gr/")
KPRF = FeedSpec(path="party/kprf.atom", kind="party", key="kprf", title=RUSSIAN, subtitle="")
TKP = FeedSpec(path="party/tkp.atom", kind="party", key="tkp", title=TURKISH, subtitle="TKP")
EVIL = FeedSpec(path="topic/evil.atom", kind="topic", key="evil", title=HOSTILE, subtitle=HOSTILE)
STRIKES = FeedSpec(path="topic/strikes.atom", kind="topic", key="strikes", title="Strikes", subtitle="")
SPECS = [STRIKES, KKE, ALL, EVIL, TKP, KPRF]
WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def url(spec: FeedSpec) -> str:
    return SITE.base_url + spec.path


# --- OPML ---------------------------------------------------------------------------------


def opml_outlines(data: bytes) -> list[etree._Element]:
    root = etree.fromstring(data)
    assert root.tag == "opml" and root.get("version") == "2.0"
    return root.findall("body/outline/outline")


def test_opml_lists_every_feed_with_an_absolute_xml_url() -> None:
    outlines = opml_outlines(render_opml(SPECS, SITE))
    assert sorted(o.get("xmlUrl", "") for o in outlines) == sorted(url(s) for s in SPECS)
    assert all(o.get("type") == "rss" and o.get("text") for o in outlines)
    kke = next(o for o in outlines if o.get("xmlUrl") == url(KKE))
    assert kke.get("text") == kke.get("title") == GREEK
    assert kke.get("htmlUrl") == "https://www.kke.gr/"


def test_opml_groups_all_parties_topics_sorted_by_title() -> None:
    root = etree.fromstring(render_opml(SPECS, SITE))
    assert root.findtext("head/title") == "Party feeds"
    groups = [(g.get("text"), [o.get("xmlUrl") for o in g]) for g in root.findall("body/outline")]
    assert groups == [
        ("All news", [url(ALL)]),
        ("Parties", [url(TKP), url(KKE), url(KPRF)]),  # by code point: Latin, Greek, Cyrillic
        ("Topics", [url(EVIL), url(STRIKES)]),
    ]


def test_opml_is_deterministic_whatever_the_input_order() -> None:
    assert render_opml(SPECS, SITE) == render_opml(list(reversed(SPECS)), SITE)


def test_opml_escapes_hostile_titles_and_keeps_utf8() -> None:
    data = render_opml(SPECS, SITE)
    assert b"<script>" not in data
    assert GREEK.encode() in data and RUSSIAN.encode() in data and TURKISH.encode() in data
    evil = next(o for o in opml_outlines(data) if o.get("xmlUrl") == url(EVIL))
    assert evil.get("text") == evil.get("description") == HOSTILE


def test_opml_drops_characters_xml_cannot_carry() -> None:
    spec = FeedSpec(path="topic/x.atom", kind="topic", key="x", title="Bad\x00\x1b title", subtitle="")
    (outline,) = opml_outlines(render_opml([spec], SITE))
    assert outline.get("text") == "Bad title"


# --- HTML ---------------------------------------------------------------------------------


def summaries() -> list[FeedSummary]:
    headlines = tuple((f"Headline {n}", f"https://www.kke.gr/{n}") for n in range(7))
    return [
        FeedSummary(ALL, 120, WHEN, headlines),
        FeedSummary(KKE, 1, WHEN, ((GREEK, "https://www.kke.gr/gr/"),)),
        FeedSummary(KPRF, 0, None, ()),
        FeedSummary(TKP, 2, WHEN, ((TURKISH, None), ("Bad link", "javascript:alert(1)"))),
        FeedSummary(EVIL, 3, WHEN, ((HOSTILE, "https://x.example/?a=1&b=\"2\""),)),
        FeedSummary(STRIKES, 0, None, ()),
    ]


def page(data: bytes | None = None) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring((data or render_index(summaries(), SITE)).decode("utf-8"))


def article(spec: FeedSpec) -> lxml.html.HtmlElement:
    (found,) = [a for a in page().iter("article") if a.findtext("h3") == spec.title]
    return found


def test_index_is_html5_with_lang_and_charset() -> None:
    data = render_index(summaries(), SITE)
    assert data.startswith(b"<!DOCTYPE html>\n")
    root = page(data)
    assert root.get("lang") == "en"
    assert root.xpath("//meta/@charset") == ["utf-8"]
    assert root.findtext("head/title") == "Party feeds"
    assert page(render_index(summaries(), SITE, lang="el")).get("lang") == "el"


def test_index_has_autodiscovery_for_every_feed() -> None:
    found = {(link.get("href"), link.get("title")) for link in
             page().xpath("//head/link[@rel='alternate'][@type='application/atom+xml']")}
    assert found == {(url(s), s.title) for s in SPECS}


def test_index_has_no_script_at_all() -> None:
    root = page()
    assert root.xpath("//script") == []
    assert not [name for el in root.iter() for name in el.attrib if name.startswith("on")]


def test_index_shows_count_update_headlines_and_subscribe_link() -> None:
    section = article(ALL)
    text = section.text_content()
    assert "120 items" in text and "last updated 2024-05-01 12:30 UTC" in text
    assert section.xpath(".//time/@datetime") == ["2024-05-01T12:30:00+00:00"]
    assert [a.text for a in section.xpath(".//li/a")] == [f"Headline {n}" for n in range(5)]  # at most five
    subscribe = section.xpath(".//a[@type='application/atom+xml']")
    assert [a.get("href") for a in subscribe] == [url(ALL)]


def test_index_wording_for_one_item_and_for_an_empty_feed() -> None:
    assert "1 item," in article(KKE).text_content()
    empty = article(KPRF).text_content()
    assert "0 items, not updated yet" in empty and "No items yet." in empty


def test_index_links_only_web_headlines() -> None:
    items = article(TKP).xpath(".//li")
    assert [li.text_content() for li in items] == [TURKISH, "Bad link"]
    assert article(TKP).xpath(".//li/a") == []  # no link for None nor for javascript:
    assert b"javascript:" not in render_index(summaries(), SITE)


def test_index_escapes_hostile_text_and_keeps_utf8() -> None:
    data = render_index(summaries(), SITE)
    assert b"<script>" not in data
    assert GREEK.encode() in data and RUSSIAN.encode() in data and TURKISH.encode() in data
    section = article(EVIL)
    (link,) = section.xpath(".//li/a")
    assert link.text == HOSTILE and link.get("href") == 'https://x.example/?a=1&b="2"'
    assert section.xpath("./p")[0].text == HOSTILE  # the subtitle
    assert HOSTILE in [link.get("title") for link in page().xpath("//head/link")]


def test_index_is_deterministic_whatever_the_input_order() -> None:
    assert render_index(summaries(), SITE) == render_index(list(reversed(summaries())), SITE)


def test_summary_from_items_uses_render_order_and_newest_date() -> None:
    items = [Item(id=item_id(f"s{n}"), title=f"T{n}", link=None, summary="", content="",
                  published=WHEN, updated=WHEN - timedelta(hours=n % 4)) for n in range(8)]
    summary = FeedSummary.from_items(ALL, items, item_count=8)
    assert summary.updated == WHEN and summary.item_count == 8
    expected = sorted(items, key=lambda i: (WHEN - i.updated, i.id))[:5]  # newest first, then id
    assert summary.latest == tuple((i.title, None) for i in expected)
    assert FeedSummary.from_items(ALL, [], 0).updated is None


# --- JSON Feed twins ----------------------------------------------------------------------


def json_url(spec: FeedSpec) -> str:
    return url(spec).removesuffix(".atom") + ".json"


def test_opml_outlines_carry_the_json_feed_twin_in_our_namespace() -> None:
    outlines = opml_outlines(render_opml(SPECS, SITE))
    twin = "{https://github.com/partyfeeds/partyfeeds/ns/opml}jsonFeedUrl"
    assert sorted(o.get(twin, "") for o in outlines) == sorted(json_url(s) for s in SPECS)
    assert len(outlines) == len(SPECS)  # one outline per feed: importing subscribes once


def test_index_offers_json_feed_for_every_feed_and_links_groups() -> None:
    found = {link.get("href") for link in page().xpath("//head/link[@type='application/feed+json']")}
    assert found == {json_url(s) for s in SPECS}
    subscribe = article(ALL).xpath(".//a[@type='application/feed+json']")
    assert [a.get("href") for a in subscribe] == [json_url(ALL)] and subscribe[0].text == "JSON Feed"
    anchors = page().xpath("//nav//a/@href")
    assert anchors and all(page().xpath(f"//section[@id='{a.lstrip('#')}']") for a in anchors)
