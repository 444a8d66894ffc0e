"""Normalisation: parsed fixture feeds -> feeds.model.Item."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.model import Item, SourceRef, SourceSpec, item_id
from feeds.parse import ParsedEntry, ParsedFeed, parse_feed
from feeds.parse.normalise import guid_links, guids_usable, identity_key, normalise_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)


def parsed(name: str, url: str = "https://src.example/feed") -> ParsedFeed:
    return parse_feed((FEEDS / name).read_bytes(), {}, url)


def items(name: str, spec: SourceSpec, url: str = "https://src.example/feed", **kw: object) -> list[Item]:
    return normalise_feed(parsed(name, url), spec, NOW, **kw)  # type: ignore[arg-type]


SOL = SourceSpec("sol", "https://sol.example.org.tr/feed", party=None, language="tr", title="soL")


def test_wordpress_items() -> None:
    first, second = items("wordpress-tr.rss", SOL, "https://sol.example.org.tr/feed")
    assert first.id == item_id("sol\x1fhttps://sol.example.org.tr/?p=123456")
    assert first.title == "İşçiler grevde: Şişecam’da üretim durdu"
    assert first.link == "https://sol.example.org.tr/haber/isciler-grevde-sisecamda-uretim-durdu-123456"
    assert first.published == first.updated == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    assert first.categories == ("Emek", "TKP") and first.authors == ("soL Haber",)
    assert first.language == "tr"
    assert first.parties == () and first.topics == ()
    assert first.sources == (  # credited by its configured title; its site is the feed's own link
        SourceRef("sol", title="soL", link=first.link, party=None, kind="feed", site="https://sol.example.org.tr"),
    )
    assert second.published == datetime(2024, 4, 30, 15, 0, tzinfo=UTC)
    assert second.content == "" and "asgari ücrete" in second.summary


def test_content_is_sanitised_with_absolute_urls() -> None:
    content = items("wordpress-tr.rss", SOL, "https://sol.example.org.tr/feed")[0].content
    for bad in ("<script", "window.evil", "<iframe", "youtube", "onclick", "onload", "javascript"):
        assert bad not in content
    assert 'src="https://sol.example.org.tr/wp-content/uploads/2024/05/grev.jpg"' in content
    assert 'href="https://sol.example.org.tr/etiket/tkp"' in content
    assert "<strong>Şişecam</strong>" in content


def test_atom_html_title_becomes_plain_text_and_dates_fall_back() -> None:
    kke = SourceSpec("kke-el", "https://kke.example.gr/el/feed.atom", party="kke")
    first, second = items("atom10-el.atom", kke, "https://kke.example.gr/el/feed.atom")
    assert second.title == "Ο Ριζοσπάστης στις 2 Μαΐου"
    assert second.published == second.updated == datetime(2024, 4, 30, 20, 0, tzinfo=UTC)
    assert first.published < first.updated
    assert first.language == "el" and first.sources[0].party == "kke"
    assert first.summary == "<p>Το ΚΚΕ χαιρετίζει τις απεργιακές συγκεντρώσεις.</p>"
    assert 'href="https://kke.example.gr/el/articles/foto/1.html"' in first.content
    assert first.categories == ("Ανακοινώσεις", "Εργατικό κίνημα")


def test_language_falls_back_to_the_source() -> None:
    spec = SourceSpec("kprf", "https://kprf.example.ru/rss", party="kprf", language="ru")
    assert {i.language for i in items("legacy-windows-1251-undeclared.rss", spec)} == {"ru"}
    unset = replace(spec, language=None)
    assert {i.language for i in items("legacy-windows-1251-undeclared.rss", unset)} == {None}


def test_a_source_is_credited_by_its_configured_title_else_the_feeds_else_its_id() -> None:
    feed = parsed("drupal-es.rss")
    spec = SourceSpec("pce", "https://pce.example.es/rss.xml", party="pce", title="PCE")
    unnamed = replace(spec, title=None)
    assert normalise_feed(feed, spec, NOW)[0].sources[0].title == "PCE"
    assert feed.title and normalise_feed(feed, unnamed, NOW)[0].sources[0].title == feed.title
    assert normalise_feed(replace(feed, title=None), unnamed, NOW)[0].sources[0].title == "pce"


def test_a_sources_site_is_the_feeds_web_site_else_the_feed() -> None:
    spec = SourceSpec("pce", "https://pce.example.es/rss.xml")
    feed = replace(parsed("drupal-es.rss"), link="/inicio")
    assert normalise_feed(feed, spec, NOW)[0].sources[0].site == "https://src.example/inicio"
    for unusable in (None, "javascript:alert(1)"):
        feed = replace(feed, link=unusable)
        assert normalise_feed(feed, spec, NOW)[0].sources[0].site == "https://pce.example.es/rss.xml"


PCPE = SourceSpec("pcpe", "https://pcpe.example.es/rss", party="pcpe", language="es")


def test_without_guids_ids_come_from_links_then_title_and_date() -> None:
    with_link, no_link, no_date = items("no-guids.rss", PCPE)
    assert with_link.id == item_id("pcpe\x1fhttps://pcpe.example.es/noticia-1")  # tracking stripped
    assert with_link.link == "https://pcpe.example.es/noticia-1?utm_source=rss"  # shown as given
    assert no_link.link is None and no_link.id != no_date.id
    assert no_date.published == no_date.updated == NOW  # first seen


def test_ids_do_not_depend_on_the_fetch_time() -> None:
    feed = parsed("no-guids.rss")
    later = normalise_feed(feed, PCPE, NOW + timedelta(days=3))
    assert [i.id for i in normalise_feed(feed, PCPE, NOW)] == [i.id for i in later]


def test_duplicate_guids_fall_back_to_links() -> None:
    spec = SourceSpec("partido", "https://partido.example.org/rss")
    result = items("duplicate-guids.rss", spec)
    assert [i.title for i in result] == ["Primera", "Segunda", "Tercera"]
    assert result[0].id == item_id("partido\x1fhttps://partido.example.org/primera")


def test_a_repeated_entry_gives_one_item() -> None:
    feed = parsed("drupal-es.rss")
    feed = replace(feed, entries=(feed.entries[0], feed.entries[0], feed.entries[1]))
    assert len(normalise_feed(feed, PCPE, NOW)) == 2


def renumbered(feed: ParsedFeed, prefix: str) -> ParsedFeed:
    return replace(feed, entries=tuple(replace(e, guid=f"{prefix}{n}") for n, e in enumerate(feed.entries)))


def test_guids_that_change_every_fetch_fall_back_to_links() -> None:
    spec = SourceSpec("pce", "https://pce.example.es/rss.xml")
    first = renumbered(parsed("drupal-es.rss"), "session-a-")
    second = renumbered(parsed("drupal-es.rss"), "session-b-")
    ids = [i.id for i in normalise_feed(second, spec, NOW, guid_links(first))]
    assert ids[0] == item_id("pce\x1fhttps://pce.example.es/el-pce-ante-el-1o-de-mayo")
    third = renumbered(parsed("drupal-es.rss"), "session-c-")
    assert [i.id for i in normalise_feed(third, spec, NOW, guid_links(second))] == ids


def test_stable_guids_are_kept() -> None:
    feed = parsed("drupal-es.rss")
    spec = SourceSpec("pce", "https://pce.example.es/rss.xml")
    result = normalise_feed(feed, spec, NOW, guid_links(feed))
    assert result[0].id == item_id("pce\x1f15321 at https://pce.example.es")


def test_guid_links_map_guids_to_canonical_links() -> None:
    assert guid_links(parsed("drupal-es.rss")) == {
        "15321 at https://pce.example.es": "https://pce.example.es/el-pce-ante-el-1o-de-mayo",
        "15318 at https://pce.example.es": "https://pce.example.es/solidaridad-con-palestina",
    }


def entry(**fields: object) -> ParsedEntry:
    base: dict[str, object] = {
        "guid": None, "link": None, "title": None, "title_is_html": False, "summary": None, "content": None,
        "published": None, "updated": None, "authors": (), "categories": (), "language": None,
        "base": "https://src.example/feed",
    }
    return ParsedEntry(**{**base, **fields})  # type: ignore[arg-type]


def feed_of(*entries: ParsedEntry) -> ParsedFeed:
    return ParsedFeed("https://src.example/feed", "rss20", "Src", None, None, "utf-8", entries)


def test_future_dates_are_clamped_to_the_fetch_time() -> None:
    future = NOW + timedelta(days=30)
    (item,) = normalise_feed(feed_of(entry(guid="g", title="t", published=future, updated=future)), PCPE, NOW)
    assert item.published == item.updated == NOW


@pytest.mark.parametrize("given", [datetime(1969, 12, 31, 23, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC),
                                   NOW + timedelta(days=1, seconds=1), datetime(9999, 12, 31, tzinfo=UTC)])
def test_an_implausible_date_is_replaced_by_the_fetch_time_and_logged(
        given: datetime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "feeds.parse.normalise")
    (item,) = normalise_feed(feed_of(entry(guid="g", title="t", published=given, updated=given)), PCPE, NOW)
    assert item.published == item.updated == NOW
    (line,) = [r.getMessage() for r in caplog.records if item.id in r.getMessage()]
    assert f"published={given.isoformat()}" in line and f"published={NOW.isoformat()}" in line


def test_an_implausible_date_gives_way_to_the_entrys_other_date() -> None:
    earlier = NOW - timedelta(hours=2)
    e = entry(guid="g", title="t", published=datetime(1960, 1, 1, tzinfo=UTC), updated=earlier)
    (item,) = normalise_feed(feed_of(e), PCPE, NOW)
    assert item.published == item.updated == NOW - timedelta(hours=2)


def test_a_date_slightly_ahead_is_taken_as_the_fetch_time_and_plausible_ones_as_given(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "feeds.parse.normalise")
    ahead, old = NOW + timedelta(hours=23), datetime(1970, 1, 1, tzinfo=UTC)
    first, second = normalise_feed(feed_of(entry(guid="a", title="a", published=ahead),
                                           entry(guid="b", title="b", published=old)), PCPE, NOW)
    assert first.published == NOW and second.published == old
    assert [r.getMessage() for r in caplog.records if second.id in r.getMessage()] == []


def test_an_unreadable_date_is_logged_as_written(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "feeds.parse.normalise")
    body = (b'<rss version="2.0"><channel><title>S</title><item><title>t</title><guid>g</guid>'
            b"<pubDate>10000-12-01T00:00:00Z</pubDate></item></channel></rss>")
    (item,) = normalise_feed(parse_feed(body, {}, "https://src.example/feed"), PCPE, NOW)
    assert item.published == item.updated == NOW
    (line,) = [r.getMessage() for r in caplog.records if item.id in r.getMessage()]
    assert "published='10000-12-01T00:00:00Z' unreadable" in line


def test_updated_is_never_before_published() -> None:
    e = entry(guid="g", title="t", published=NOW - timedelta(hours=1), updated=NOW - timedelta(hours=5))
    (item,) = normalise_feed(feed_of(e), PCPE, NOW)
    assert item.updated == item.published == NOW - timedelta(hours=1)


def test_empty_entries_are_skipped_and_untitled_ones_borrow_their_text() -> None:
    long_text = "<p>" + "palabra " * 30 + "</p>"
    result = normalise_feed(feed_of(entry(), entry(guid="g", summary=long_text)), PCPE, NOW)
    assert len(result) == 1
    assert result[0].title.startswith("palabra palabra") and result[0].title.endswith("…")
    assert len(result[0].title) <= 81


def test_links_are_absolute_http_only() -> None:
    entries = (entry(guid="a", title="a", link="/rel"), entry(guid="b", title="b", link="javascript:x()"))
    first, second = normalise_feed(feed_of(*entries), PCPE, NOW)
    assert first.link == "https://src.example/rel" and second.link is None


def test_identity_key_order() -> None:
    full = entry(guid="g", link="https://www.x.example/a/", title="t")
    assert identity_key(full) == "g"
    assert identity_key(full, use_guids=False) == "https://x.example/a"
    assert identity_key(entry(title="t")) == identity_key(entry(title="t"))
    assert identity_key(entry(title="t")) != identity_key(entry(title="t", published=NOW))
    assert identity_key(entry(guid="only", title=None), use_guids=False) == "only"
    assert identity_key(entry()) is None


def test_guids_usable() -> None:
    a = entry(guid="1", link="https://x.example/a")
    b = entry(guid="2", link="https://x.example/b")
    assert guids_usable([a, b], {})
    assert not guids_usable([a, replace(b, guid="1")], {})  # one guid, two links
    assert guids_usable([a, replace(a, link="https://www.x.example/a?utm_source=x")], {})  # same link
    assert not guids_usable([a, b], {"9": "https://x.example/a", "8": "https://x.example/b"})
    assert guids_usable([a, b], {"1": "https://x.example/a", "7": "https://x.example/old"})


@given(st.text(min_size=1), st.text(), st.datetimes(timezones=st.just(UTC)))
def test_item_ids_depend_only_on_source_and_identity(guid: str, title: str, when: datetime) -> None:
    e = entry(guid=guid, title=title or "t", summary="<p>x</p>", published=when)
    one = normalise_feed(feed_of(e), PCPE, NOW)
    edited = replace(e, title="other", summary="<p>y</p>")
    two = normalise_feed(feed_of(edited), PCPE, NOW + timedelta(days=1))
    if guid.strip():
        assert [i.id for i in one] == [i.id for i in two]
