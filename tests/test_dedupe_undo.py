"""Explaining and undoing merges: the merge log line, `split`, `dedupe-why`, and upgrading old stores."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feeds import pipeline
from feeds.errors import DedupeError
from feeds.model import Item, SourceState, item_id
from feeds.store import Store
from feeds.tag import Tagger
from tests.factories import make_item
from tests.test_cli import partyfeeds
from tests.test_cli import project as project

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
OWN_TITLE = "KKE condemns the NATO war drills in the Aegean and the use of Souda base"
COPY_TITLE = "KKE condemned NATO war drills in the Aegean, use of Souda base"


def own_entry() -> Item:
    return make_item(OWN_TITLE, source="kke", party="kke", link="https://inter.kke.example/en/nato-drills/",
                     language="en", published=NOW, updated=NOW)


def agency_entry(title: str = COPY_TITLE, guid: str = "77") -> Item:
    link = f"https://agency.example/news/{guid}"
    return replace(make_item(title, source="agency", link=link, language="en", published=NOW, updated=NOW),
                   id=item_id(f"agency\x1f{guid}"))


def merged_story(store: Store, tagger: Tagger) -> tuple[Item, Item]:
    own, copy = own_entry(), agency_entry()
    report = pipeline.ingest_items(store, tagger, [(own, ""), (copy, "")], NOW)
    assert (report.new, report.merged) == (1, 1)
    return own, copy


def test_a_merge_by_title_is_logged_with_both_ids_and_the_rule(tagger: Tagger,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    with Store(":memory:") as store, caplog.at_level(logging.INFO, "feeds.dedupe.accept"):
        own, copy = merged_story(store, tagger)
    (line,) = [r.getMessage() for r in caplog.records if "dedupe merge" in r.getMessage()]
    assert f"item={copy.id} into={own.id} source=agency rule=similar" in line and "similar (" in line


def test_split_gives_the_source_its_own_entry_back_and_it_stays_apart(tagger: Tagger) -> None:
    with Store(":memory:") as store:
        own, copy = merged_story(store, tagger)
        done = pipeline.split(store, own.id, "agency", NOW + timedelta(hours=1))
        assert (done.kept.id, done.split_off.id, done.reread) == (own.id, copy.id, ())
        kept, split_off = store.get(own.id), store.get(copy.id)
        assert kept is not None and split_off is not None
        assert (kept.item.title, kept.item.source_ids) == (OWN_TITLE, frozenset({"kke"}))
        assert (split_off.item.title, split_off.item.source_ids) == (COPY_TITLE, frozenset({"agency"}))
        assert split_off.item.link == "https://agency.example/news/77"
        # The next polls bring both entries again: each finds its own item, nothing merges back.
        again = pipeline.ingest_items(store, tagger, [(own_entry(), ""), (agency_entry(), "")],
                                      NOW + timedelta(hours=2))
        assert (again.new, again.merged) == (0, 0)
        assert store.count_items() == 2
        assert store.splits() == {frozenset((own.id, copy.id))}


def test_splitting_off_the_first_source_gives_the_rest_a_new_id(tagger: Tagger) -> None:
    with Store(":memory:") as store:
        own, copy = merged_story(store, tagger)
        done = pipeline.split(store, own.id, "kke", NOW + timedelta(hours=1))
        assert (done.split_off.id, done.kept.id) == (own.id, copy.id)
        assert store.get(own.id).item.source_ids == {"kke"}  # type: ignore[union-attr]
        assert store.get(copy.id).item.title == COPY_TITLE  # type: ignore[union-attr]
        assert store.find_by_keys([f"id:{copy.id}"]) == copy.id
        assert store.find_by_keys([f"id:{own.id}"]) == own.id


def test_a_split_the_store_kept_no_entry_for_reads_the_sources_again(tagger: Tagger) -> None:
    with Store(":memory:") as store:
        own, _copy = merged_story(store, tagger)
        for source in ("kke", "agency"):
            store.save_source_state(SourceState(source, f"https://{source}.example/rss", etag='"v1"',
                                                body_hash="abc"))
        store._db.execute("DELETE FROM item_entries")  # as a store from before entries were kept
        store.save_guid_links("agency", {"77": "https://agency.example/news/77"})  # its last fetch
        done = pipeline.split(store, own.id, "agency", NOW)
        assert done.reread == ("agency", "kke")
        assert done.split_off.title_derived and done.split_off.link == "https://agency.example/news/77"
        assert store.source_state("agency").etag is None  # type: ignore[union-attr]
        # The agency's next poll fills its item in.
        pipeline.ingest_items(store, tagger, [(agency_entry(), "")], NOW + timedelta(hours=1))
        (found,) = [item for item in store.latest(10) if "agency" in item.source_ids]
        assert found.title == COPY_TITLE and not found.title_derived and found.source_ids == {"agency"}


def test_a_split_that_cannot_be_made_names_item_and_source(tagger: Tagger) -> None:
    with Store(":memory:") as store:
        own, _copy = merged_story(store, tagger)
        with pytest.raises(DedupeError, match="nobody is not one of its sources"):
            pipeline.split(store, own.id, "nobody", NOW)
        with pytest.raises(DedupeError, match="no stored item"):
            pipeline.split(store, "0" * 36, "kke", NOW)
        pipeline.split(store, own.id, "agency", NOW)
        with pytest.raises(DedupeError, match="has one source"):
            pipeline.split(store, own.id, "kke", NOW)


def wire_entry(day: int) -> Item:
    """A bulletin of a feed without guids: normalise identifies it by its link."""
    link = f"https://wire.example/{day}"
    title = f"Daily bulletin of strikes and workers' actions in Athens and Piraeus, {day} March"
    return replace(make_item(title, source="wire", link=link, language="en", published=NOW, updated=NOW),
                   id=item_id(f"wire\x1f{link}"))


def test_an_old_store_releases_entries_of_one_source_merged_by_title(tmp_path: Path, tagger: Tagger) -> None:
    """A store the old rules wrote: one source's two bulletins merged into one item by their titles."""
    path = tmp_path / "old.sqlite"
    first, second = wire_entry(12), wire_entry(13)
    merged = replace(first, title=second.title, link=second.link, sources=second.sources)
    with Store(path) as store, store.transaction():
        keys = [f"id:{first.id}", f"id:{second.id}", "link:https://wire.example/12", "link:https://wire.example/13"]
        store.save(merged, keys=keys, bands=[1, 2], revision="", first_seen=NOW)
        store.save_source_state(SourceState("wire", "https://wire.example/rss", etag='"v1"', body_hash="x"))
        store.set_meta("dedupe_rules", "1")
    with pipeline.open_store(path) as store:
        assert store.meta("dedupe_rules") == "2"
        assert store.find_by_keys([f"id:{second.id}", "link:https://wire.example/13"]) is None
        assert store.find_by_keys([f"id:{first.id}", "link:https://wire.example/12"]) == first.id
        assert store.source_state("wire").etag is None  # type: ignore[union-attr]  # read again
        assert len(store.bands_of(first.id)) == 16  # banded again from its title
        # The next poll brings both bulletins: two items.
        pipeline.ingest_items(store, tagger, [(first, ""), (second, "")], NOW + timedelta(hours=1))
        assert sorted(item.title for item in store.latest(10)) == [first.title, second.title]
    with pipeline.open_store(path) as store:  # once only
        assert store.meta("dedupe_rules") == "2" and store.count_items() == 2


def test_dedupe_why_explains_titles_and_stored_items(project: Path) -> None:
    done = partyfeeds("dedupe-why", "Podcast #12: rents and the housing crisis in Athens",
                      "Podcast #13: rents and the housing crisis in Athens", "--language", "en", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "same story: no\nrule: numbers\nreason: numbers differ ({12} vs {13})" in done.stdout
    same = partyfeeds("dedupe-why", COPY_TITLE, OWN_TITLE, "--party", "kke", "--published", "2024-03-01",
                      cwd=project)
    assert same.stdout.startswith("same story: yes\nrule: similar"), same.stdout
    assert "parties=kke" in same.stdout
    missing = partyfeeds("dedupe-why", "0" * 8 + "-0000-0000-0000-" + "0" * 12, "x", cwd=project)
    assert missing.returncode == 1 and "not stored" in missing.stderr


def test_split_from_the_command_line(project: Path) -> None:
    assert partyfeeds("once", cwd=project).returncode == 0
    done = partyfeeds("split", "urn:uuid:" + "0" * 8 + "-0000-0000-0000-" + "0" * 12, "kke", cwd=project)
    assert done.returncode == 1 and done.stderr.startswith("partyfeeds: error: no stored item")
