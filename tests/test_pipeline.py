"""The ingest and publish chains together, on the real seeds and registry."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from feeds import pipeline
from feeds.model import SiteInfo, SourceRef, SourceSpec, SourceState
from feeds.parse.seeds import read_seed_file
from feeds.store import Store
from feeds.tag import Tagger
from feeds.tag.registry import Registry
from tests.atomcheck import assert_valid_atom
from tests.factories import T0, make_item

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
A = "{http://www.w3.org/2005/Atom}"
SITE = SiteInfo(title="partyfeeds test", base_url="http://127.0.0.1:8080/", author_name="partyfeeds",
                entries_per_feed=50)
JERUSALEM_PARTIES = {"kke", "cpim", "tkp", "ppp_ps", "pcp_ps", "cpi_israel"}


@pytest.fixture
def store() -> Store:
    return Store(":memory:")


def test_seeds_become_22_entries_and_a_second_run_changes_nothing(store: Store, tagger: Tagger,
                                                                    now: datetime) -> None:
    first = pipeline.ingest_seeds(store, tagger, [SEEDS], now)
    assert (first.new, first.merged, first.errors) == (22, 0, [])
    before = {i.id: i for i in store.latest(100)}
    second = pipeline.ingest_seeds(store, tagger, [SEEDS], now + timedelta(days=3))
    assert (second.new, second.merged, second.revised, second.unchanged) == (0, 0, 0, 0)  # not read
    assert {i.id: i for i in store.latest(100)} == before  # first-seen dates kept


def test_seeds_publish_with_distinct_updated_values_in_document_order(
        tmp_path: Path, store: Store, tagger: Tagger, registry: Registry, now: datetime) -> None:
    pipeline.ingest_seeds(store, tagger, [SEEDS], now)
    out = tmp_path / "public"
    pipeline.publish(store, registry, replace(SITE, entries_per_feed=100), out, now=now)
    feed = assert_valid_atom((out / "all.atom").read_bytes())
    updated = [e.findtext(f"{A}updated") for e in feed.iter(f"{A}entry")]
    written = [seed.item.title for seed in read_seed_file(SEEDS / "seed-headlines.txt", now)]
    assert [e.findtext(f"{A}title") for e in feed.iter(f"{A}entry")] == written  # the first paragraph on top
    assert len(set(updated)) == len(updated) == 22
    # A later run keeps every date, so the order too.
    pipeline.ingest_seeds(store, tagger, [SEEDS], now + timedelta(days=3))
    assert [i.title for i in store.latest(100)] == written


def test_undated_seeds_of_several_documents_never_share_an_instant(
        tmp_path: Path, store: Store, tagger: Tagger, now: datetime) -> None:
    (tmp_path / "a.txt").write_text("KKE statement on the strike\n\nTKP congress opens\n", "utf-8")
    (tmp_path / "b.yaml").write_text("- title: PCP on the budget\n- title: PCE on housing\n", "utf-8")
    pipeline.ingest_seeds(store, tagger, [tmp_path], now)
    dates = {i.title: i.published for i in store.latest(10)}
    assert dates == {"KKE statement on the strike": now, "TKP congress opens": now - timedelta(seconds=1),
                     "PCP on the budget": now - timedelta(seconds=2),
                     "PCE on housing": now - timedelta(seconds=3)}


def test_seed_items_are_credited_to_the_given_publisher(tmp_path: Path, store: Store, tagger: Tagger,
                                                        registry: Registry, now: datetime) -> None:
    pipeline.ingest_seeds(store, tagger, [SEEDS], now, publisher="partyfeeds test")
    out = tmp_path / "public"
    pipeline.publish(store, registry, SITE, out, now=now)
    feed = assert_valid_atom((out / "all.atom").read_bytes())
    names = {e.findtext(f"{A}author/{A}name") for e in feed.iter(f"{A}entry")}
    sources = {e.findtext(f"{A}source/{A}title") for e in feed.iter(f"{A}entry")}
    assert names == sources == {"partyfeeds test"}
    assert b"seed-headlines" not in (out / "all.atom").read_bytes()


def test_seeds_stored_under_an_old_credit_are_renamed_without_moving_their_dates(
        tmp_path: Path, tagger: Tagger, now: datetime) -> None:
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        pipeline.ingest_seeds(store, tagger, [SEEDS], now)
        before = {i.id: (i.published, i.updated) for i in store.latest(100)}
    with sqlite3.connect(path) as db:  # as a store written when seeds credited their file
        db.execute("UPDATE item_sources SET title = 'Seed: seed-headlines.txt'")
    with Store(path) as store:
        report = pipeline.ingest_seeds(store, tagger, [SEEDS], now + timedelta(days=3), publisher="Editors")
        assert report.revised == 22 and report.new == report.merged == 0
        after = store.latest(100)
    assert {i.id: (i.published, i.updated) for i in after} == before
    assert {s.title for i in after for s in i.sources} == {"Editors"}


def test_jerusalem_statements_of_six_parties_stay_six_entries(store: Store, tagger: Tagger,
                                                              now: datetime) -> None:
    pipeline.ingest_seeds(store, tagger, [SEEDS], now)
    jerusalem = [i for i in store.latest(100) if "Jerusalem" in i.title]
    assert len(jerusalem) == 6
    assert set().union(*(i.parties for i in jerusalem)) >= JERUSALEM_PARTIES
    for code in JERUSALEM_PARTIES:
        assert any("Jerusalem" in i.title for i in store.latest(50, "party", code)), code


def test_revision_marker_updates_the_same_item(tmp_path: Path, store: Store, tagger: Tagger,
                                               now: datetime) -> None:
    seed = tmp_path / "news.txt"
    seed.write_text("The Communist Party of Greece (KKE) issued a statement on the strike.\n", "utf-8")
    pipeline.ingest_seeds(store, tagger, [seed], now)
    (original,) = store.latest(10)
    seed.write_text("The Communist Party of Greece (KKE) issued a statement on the strike. (UPDATED)\n",
                    "utf-8")
    report = pipeline.ingest_seeds(store, tagger, [seed], now + timedelta(hours=5))
    (revised,) = store.latest(10)
    assert report.revised == 1 and revised.id == original.id
    assert revised.published == original.published == now
    assert revised.updated == now + timedelta(hours=5)
    seed.write_text(seed.read_text("utf-8") + "\n", "utf-8")  # changed bytes, the same paragraph
    again = pipeline.ingest_seeds(store, tagger, [seed], now + timedelta(hours=9))
    assert (again.new, again.revised) == (0, 0) and store.latest(10) == [revised]


def test_malformed_seed_file_is_reported_and_others_still_ingested(tmp_path: Path, store: Store,
                                                                   tagger: Tagger, now: datetime) -> None:
    (tmp_path / "good.txt").write_text("KKE statement on Palestine\n", "utf-8")
    (tmp_path / "bad.yaml").write_text("- title: fine\n- title: [broken\n", "utf-8")
    report = pipeline.ingest_seeds(store, tagger, [tmp_path], now)
    assert report.new == 1 and len(report.errors) == 1
    assert "bad.yaml:3" in report.errors[0]


def test_same_story_from_two_sources_is_one_entry_crediting_both(store: Store, tagger: Tagger,
                                                                  now: datetime) -> None:
    agency = make_item("Communist Party of Greece (KKE) condemns the recognition of Jerusalem as "
                       "Israel's capital", source="agency",
                       link="https://agency.example/news/1?utm_source=rss")
    own = make_item("KKE condemned the recognition of Jerusalem as the capital of Israel",
                    source="kke-inter", link="https://inter.kke.gr/en/articles/jerusalem/", party="kke",
                    published=T0 + timedelta(hours=3), updated=T0 + timedelta(hours=3))
    report = pipeline.ingest_items(store, tagger, [(agency, ""), (own, "")], now)
    assert (report.new, report.merged) == (1, 1)
    (entry,) = store.latest(10)
    assert [s.source_id for s in entry.sources] == ["agency", "kke-inter"]
    assert entry.link == "https://inter.kke.gr/en/articles/jerusalem/"
    # The agency's copy again, under a new guid and an http link without tracking: still one entry.
    again = replace(agency, id="0" * 8 + agency.id[8:], link="http://agency.example/news/1",
                    sources=(SourceRef("agency", "Agency", "http://agency.example/news/1"),))
    assert pipeline.ingest_items(store, tagger, [(again, "")], now).new == 0
    assert store.count_items() == 1


def test_publish_writes_valid_feeds_and_nothing_on_a_rerun(tmp_path: Path, store: Store, tagger: Tagger,
                                                          registry: Registry, now: datetime) -> None:
    pipeline.ingest_seeds(store, tagger, [SEEDS], now)
    out = tmp_path / "public"
    report = pipeline.publish(store, registry, SITE, out, now=T0)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted(report.written)
    assert {"all.atom", "feeds.opml", "index.html", "party/kke.atom", "party/tkp.atom",
            "topic/palestine.atom"} <= set(files)
    for name in files:
        if name.endswith(".atom"):
            assert_valid_atom((out / name).read_bytes())
    rerun = pipeline.publish(store, registry, SITE, out, now=T0)
    assert rerun.written == [] and rerun.unchanged == len(files)


def test_party_feed_holds_exactly_that_partys_items(tmp_path: Path, store: Store, tagger: Tagger,
                                                    registry: Registry, now: datetime) -> None:
    pipeline.ingest_seeds(store, tagger, [SEEDS], now)
    out = tmp_path / "public"
    pipeline.publish(store, registry, SITE, out, now=T0)
    feed = etree.fromstring((out / "party" / "kke.atom").read_bytes())
    titles = [e.findtext(f"{A}title") for e in feed.iter(f"{A}entry")]
    expected = [i.title for i in store.latest(50, "party", "kke")]
    assert titles == expected and len(titles) >= 3
    assert feed.findtext(f"{A}title") == registry.party_label("kke")
    assert "Communist Party of Greece" in (feed.findtext(f"{A}title") or "")


def test_seed_language_applies_to_items_without_one(tmp_path: Path, store: Store, tagger: Tagger,
                                                    now: datetime) -> None:
    (tmp_path / "a.txt").write_text("KKE statement on the strike\n", "utf-8")
    (tmp_path / "b.yaml").write_text("- title: Ανακοίνωση του ΚΚΕ\n  language: el\n", "utf-8")
    pipeline.ingest_seeds(store, tagger, [tmp_path], now, language="en")
    assert sorted(i.language or "" for i in store.latest(10)) == ["el", "en"]


def test_unknown_explicit_party_in_a_seed_file_is_an_error_naming_file_and_line(
        tmp_path: Path, store: Store, tagger: Tagger, now: datetime) -> None:
    (tmp_path / "good.txt").write_text("KKE statement on the strike\n", "utf-8")
    (tmp_path / "typo.yaml").write_text("- title: fine\n  parties: [kke]\n- title: typo\n  parties: [kkee]\n",
                                        "utf-8")
    report = pipeline.ingest_seeds(store, tagger, [tmp_path], now)
    assert report.new == 1 and len(report.errors) == 1
    assert f"{tmp_path / 'typo.yaml'}:3: parties: unknown party 'kkee'" in report.errors[0]


def test_only_sources_never_fetched_are_expected_to_bring_a_body_to_prepare() -> None:
    """A cycle of sources fetched before (most answer 304) does not start the parse workers
    ahead of need; a first start, with sources never fetched, does."""
    specs = [SourceSpec(id=name, url=f"https://example.org/{name}") for name in "abc"]
    fresh = [SourceState(spec.id, spec.url) for spec in specs]
    fetched = [replace(state, last_success=T0, etag='"1"') for state in fresh]
    assert pipeline.expected_bodies(list(zip(specs, fresh, strict=True))) == 3
    assert pipeline.expected_bodies(list(zip(specs, [fresh[0], *fetched[1:]], strict=True))) == 1
    assert pipeline.expected_bodies(list(zip(specs, fetched, strict=True))) == 0
