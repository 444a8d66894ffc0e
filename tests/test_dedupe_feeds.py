"""Nothing a source published disappears: real feed files through ingest and publish.

Each feed is polled as the daemon polls it (pipeline.ingest_result: parse, normalise, tag,
deduplicate, store), published, and its entries counted in all.atom.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from feeds import pipeline
from feeds.fetch import FetchResult
from feeds.model import SiteInfo, SourceSpec, SourceState
from feeds.store import Store
from feeds.tag import Tagger
from feeds.tag.registry import Registry
from tests.atomcheck import assert_valid_atom
from tests.factories import make_item

ROOT = Path(__file__).resolve().parent.parent
FEEDS = ROOT / "tests" / "data" / "feeds"
A = "{http://www.w3.org/2005/Atom}"
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
SITE = SiteInfo(title="t", base_url="http://127.0.0.1:8080/", author_name="t", entries_per_feed=100)


def poll(store: Store, tagger: Tagger, spec: SourceSpec, body: bytes,
         now: datetime = NOW) -> pipeline.SourceReport:
    result = FetchResult(spec.id, "ok", spec.url, spec.url, now, 200, body)
    state = store.source_state(spec.id) or SourceState(spec.id, spec.url)
    return pipeline.ingest_result(store, tagger, spec, state, result, now)


def published(store: Store, registry: Registry, out: Path) -> list[etree._Element]:
    pipeline.publish(store, registry, SITE, out, now=NOW)
    data = (out / "all.atom").read_bytes()
    assert_valid_atom(data)
    return etree.fromstring(data).findall(f"{A}entry")


def count_entries(path: Path) -> int:
    return len(re.findall(rb"<(?:item|entry)>", path.read_bytes()))


@pytest.mark.parametrize("name", ["podcast-episodes.rss", "daily-bulletins.atom", "generic-titles.rss"])
def test_every_entry_of_a_series_is_published(name: str, tmp_path: Path, tagger: Tagger,
                                              registry: Registry) -> None:
    with Store(":memory:") as store:
        spec = SourceSpec("series", "https://series.example/feed")
        report = poll(store, tagger, spec, (FEEDS / name).read_bytes())
        assert report.ingest.new == count_entries(FEEDS / name) and report.ingest.merged == 0
        entries = published(store, registry, tmp_path)
    assert len(entries) == count_entries(FEEDS / name)
    assert len({e.findtext(f"{A}id") for e in entries}) == len(entries)


def test_podcast_episodes_keep_their_audio(tmp_path: Path, tagger: Tagger, registry: Registry) -> None:
    with Store(":memory:") as store:
        poll(store, tagger, SourceSpec("podcast", "https://podcast.example/feed"),
             (FEEDS / "podcast-episodes.rss").read_bytes())
        entries = published(store, registry, tmp_path)
    audio = {link.get("href") for entry in entries for link in entry.findall(f"{A}link")
             if link.get("rel") == "enclosure"}
    assert audio == {f"https://podcast.party.example/audio/episode-{n}.mp3" for n in range(1, 13)}


def test_a_feed_growing_one_entry_per_poll_keeps_every_entry(tmp_path: Path, tagger: Tagger,
                                                             registry: Registry) -> None:
    items = re.findall(rb"  <item>.*?</item>\n", (FEEDS / "generic-titles.rss").read_bytes(), re.DOTALL)
    spec = SourceSpec("press", "https://press.example/feed")
    with Store(":memory:") as store:
        for polls in range(1, 11):  # newest first, as feeds list them: one more each poll
            body = (b"<rss version='2.0'><channel><title>Press</title>" + b"".join(items[-polls:])
                    + b"</channel></rss>")
            poll(store, tagger, spec, body, NOW + timedelta(minutes=polls))
        assert store.count_items() == 10
        assert len(published(store, registry, tmp_path)) == 10


def test_untitled_entries_are_items_named_by_their_text_or_link(tmp_path: Path, tagger: Tagger,
                                                                registry: Registry,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    with Store(":memory:") as store, caplog.at_level(logging.INFO, "feeds.ingest"):
        for source, name in (("notes", "untitled.atom"), ("notes-rss", "untitled.rss")):
            spec = SourceSpec(source, f"https://notes.example/{name}")
            poll(store, tagger, spec, (FEEDS / name).read_bytes())
        items = store.latest(100)
        entries = published(store, registry, tmp_path)
    assert len(items) == len(entries) == 5 + 3
    assert all(item.title_derived for item in items)
    titles = sorted(item.title for item in items)
    assert titles.count("Solidarity with the striking dock workers of Piraeus.") == 3
    assert {"general strike called", "theses of the cc", "speech"} <= set(titles)
    assert "source=notes status=ok new=5 merged=0 revised=0 unchanged=0 empty=1" in caplog.text
    assert "source=notes-rss status=ok new=3 merged=0 revised=0 unchanged=0 empty=1" in caplog.text


def test_untitled_entries_keep_their_ids_on_the_next_poll(tagger: Tagger) -> None:
    spec = SourceSpec("notes-rss", "https://notes.example/rss")
    with Store(":memory:") as store:
        poll(store, tagger, spec, (FEEDS / "untitled.rss").read_bytes())
        again = poll(store, tagger, spec, (FEEDS / "untitled.rss").read_bytes(), NOW + timedelta(hours=1))
        assert (again.ingest.new, again.ingest.unchanged) == (0, 3)


def story_feed(title: str, link: str, guid: str, party_site: bool) -> bytes:
    channel = "KKE" if party_site else "Agency"
    return (f"<rss version='2.0'><channel><title>{channel}</title><language>en</language>"
            f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>"
            f"<pubDate>Fri, 01 Mar 2024 09:00:00 GMT</pubDate></item></channel></rss>").encode()


@pytest.mark.parametrize("agency_link", [
    "https://inter.kke.example/en/articles/nato-drills/?utm_source=agency&fbclid=x1",  # the party's link
    "https://agency.example/news/2024/03/kke-nato-drills",  # its own link, a reworded title
])
def test_one_story_from_the_party_and_an_aggregator_is_one_entry_crediting_both(
        agency_link: str, tmp_path: Path, tagger: Tagger, registry: Registry) -> None:
    own = story_feed("KKE condemns the NATO war drills in the Aegean and the use of Souda base",
                     "https://inter.kke.example/en/articles/nato-drills/", "kke-1", True)
    copy = story_feed("KKE condemned NATO war drills in the Aegean, use of Souda base | 902.gr",
                      agency_link, "agency-77", False)
    with Store(":memory:") as store:
        poll(store, tagger, SourceSpec("kke", "https://inter.kke.example/rss", party="kke"), own)
        report = poll(store, tagger, SourceSpec("agency", "https://agency.example/rss"), copy)
        assert report.ingest.merged == 1
        (entry,) = published(store, registry, tmp_path)
    links = {(link.get("rel"), link.get("href")) for link in entry.findall(f"{A}link")}
    assert ("alternate", "https://inter.kke.example/en/articles/nato-drills/") in links
    if "agency.example" in agency_link:
        assert ("via", agency_link) in links
    content = entry.findtext(f"{A}content") or ""
    assert "KKE" in content and "Agency" in content  # both sources named


def site_feed(site: str, guid: str) -> bytes:
    """One of a site's feeds, all titled as the site is: the same story under the same link."""
    return (f"<rss version='2.0'><channel><title>Norm 2782</title><link>{site}</link>"
            "<item><title>Dock workers strike in Piraeus against the arms shipment</title>"
            f"<link>https://norm.example/2024/dock-strike</link><guid>{guid}</guid>"
            "<pubDate>Fri, 01 Mar 2024 09:00:00 GMT</pubDate></item></channel></rss>").encode()


@pytest.mark.parametrize("titles", [("Norm — news", "Norm — featured"), (None, None)])
def test_a_story_two_feeds_share_credits_each_once_with_a_via_link_to_the_other(
        titles: tuple[str | None, str | None], tmp_path: Path, tagger: Tagger, registry: Registry) -> None:
    news = SourceSpec("norm-news", "https://norm.example/feed/news", title=titles[0])
    featured = SourceSpec("norm-featured", "https://norm.example/feed/featured", title=titles[1])
    with Store(":memory:") as store:
        poll(store, tagger, news, site_feed("https://norm.example/news/", "n-1"))
        report = poll(store, tagger, featured, site_feed("https://norm.example/featured/", "f-1"))
        assert report.ingest.merged == 1
        (entry,) = published(store, registry, tmp_path)
    names = [name for name in titles if name] or ["Norm 2782"]  # configured titles, else the feed's, once
    reported = etree.fromstring(f"<div>{entry.findtext(f'{A}content')}</div>", etree.HTMLParser())
    body = reported.xpath("string()").strip()
    assert body.endswith(f"\nReported by: {', '.join(names)}") and body.count("Reported by") == 1
    links = [(link.get("rel"), link.get("href")) for link in entry.findall(f"{A}link")]
    assert links == [("alternate", "https://norm.example/2024/dock-strike"),
                     ("via", "https://norm.example/featured/")]
    assert entry.findtext(f"{A}source/{A}title") == names[0]
    twin = json.loads((tmp_path / "all.json").read_bytes())["items"][0]
    assert twin["content_html"] == entry.findtext(f"{A}content")
    assert twin["_partyfeeds"] == {"source": {"id": entry.findtext(f"{A}source/{A}id"), "title": names[0]},
                                   "via": ["https://norm.example/featured/"]}


def test_five_thousand_headlines_of_varied_vocabulary_stay_five_thousand(tagger: Tagger) -> None:
    titles = _varied_headlines(5000)
    wire = [make_item(title, source="wire", link=f"https://wire.example/{n}", language="en", published=NOW,
                      updated=NOW) for n, title in enumerate(titles)]
    other = [make_item(title, source="other", link=f"https://other.example/{n}", language="en",
                       published=NOW, updated=NOW) for n, title in enumerate(titles)]
    with Store(":memory:") as store:
        assert pipeline.ingest_items(store, tagger, [(item, "") for item in wire], NOW).new == 5000
        # A second wire carries the same headlines: each merges with its own copy, and only with it.
        assert pipeline.ingest_items(store, tagger, [(item, "") for item in other], NOW).merged == 5000
        assert store.count_items() == 5000
        for first, copy in zip(wire, other, strict=True):
            assert store.find_by_keys([f"id:{copy.id}"]) == first.id


def _varied_headlines(count: int) -> Sequence[str]:
    """Distinct headlines over a large invented vocabulary (seeded): each word used once."""
    rng = random.Random(17)
    letters = "abcdefghiklmnoprstuvyzαβγδεζηθκλμνξπρστφχψωабвгдежзиклмнопрстуфхцчшщ"
    words = list(dict.fromkeys("".join(rng.choices(letters, k=rng.randint(4, 9))) for _ in range(count * 7)))
    return [" ".join(words[n * 6:(n + 1) * 6]).capitalize() for n in range(count)]


def test_entries_without_dates_keep_their_feed_order_and_distinct_updated(tmp_path: Path, tagger: Tagger,
                                                                          registry: Registry) -> None:
    items = "".join(f"<item><title>Undated note number {n} on the strike</title>"
                    f"<link>https://notes.example/{n}</link></item>" for n in range(1, 4))
    body = f"<rss version='2.0'><channel><title>Notes</title>{items}</channel></rss>".encode()
    with Store(":memory:") as store:
        poll(store, tagger, SourceSpec("notes", "https://notes.example/rss"), body)
        entries = published(store, registry, tmp_path)
        # Polled again later: first-seen times stay.
        poll(store, tagger, SourceSpec("notes", "https://notes.example/rss"), body, NOW + timedelta(hours=1))
        again = published(store, registry, tmp_path / "again")
    updated = [entry.findtext(f"{A}updated") for entry in entries]
    assert len(set(updated)) == 3 and updated == sorted(updated, reverse=True)
    titles = [entry.findtext(f"{A}title") for entry in entries]
    assert titles == [f"Undated note number {n} on the strike" for n in range(1, 4)]
    assert [entry.findtext(f"{A}updated") for entry in again] == updated


def test_one_runs_undated_entries_of_several_feeds_never_share_an_instant() -> None:
    undated = pipeline.Undated(NOW)
    first = [make_item(f"note {n}", source="a", published=NOW, updated=NOW) for n in range(2)]
    second = [make_item(f"note {n}", source="b", published=NOW, updated=NOW) for n in range(2)]
    dated = make_item("dated", source="b", published=NOW - timedelta(days=1), updated=NOW - timedelta(days=1))
    stamped = undated.apart(first) + undated.apart([*second, dated])
    assert [item.updated for item in stamped] == [NOW - timedelta(microseconds=n) for n in (1, 2, 3, 4)] + [
        NOW - timedelta(days=1)]
