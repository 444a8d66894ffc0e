"""feeds.seedingest: an unchanged seed document is not read again; a changed one costs its changes."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from feeds import pipeline, seedingest
from feeds.parse import seeds
from feeds.store import Store
from feeds.tag import Tagger
from feeds.tag.registry import Registry

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "seeds" / "seed-headlines.txt", tmp_path / "seed-headlines.txt")
    (tmp_path / "more.yaml").write_text("- title: KKE statement on the port strike in Piraeus\n"
                                        "  published: 2024-02-01\n", "utf-8")
    return tmp_path


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many documents were read and items tagged."""
    calls = {"read": 0, "tagged": 0}
    read, tag = seeds.open_seed_file, seedingest.tag_item

    def read_counted(*args: object, **kwargs: object) -> seeds.SeedFile:
        calls["read"] += 1
        return read(*args, **kwargs)  # type: ignore[arg-type]

    def tag_counted(*args: object) -> object:
        calls["tagged"] += 1
        return tag(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(seedingest, "open_seed_file", read_counted)
    monkeypatch.setattr(seedingest, "tag_item", tag_counted)
    return calls


def test_an_unchanged_document_is_not_read_again(folder: Path, tagger: Tagger, now: datetime,
                                                 counted: dict[str, int]) -> None:
    with Store(folder / "s.sqlite") as store:
        first = pipeline.ingest_seeds(store, tagger, [folder], now)
        assert (first.new, counted["read"], counted["tagged"]) == (23, 2, 23)
        before = store.latest(100)
        again = pipeline.ingest_seeds(store, tagger, [folder], now + timedelta(days=1))
        assert (again.new, again.unchanged, counted["read"], counted["tagged"]) == (0, 0, 2, 23)
        # Touched, bytes the same: hashed, not read.
        os.utime(folder / "more.yaml", ns=(1, 1))
        pipeline.ingest_seeds(store, tagger, [folder], now + timedelta(days=2))
        assert counted["read"] == 2
        pipeline.ingest_seeds(store, tagger, [folder], now + timedelta(days=3))  # its new mtime was saved
        assert counted["read"] == 2 and store.latest(100) == before


def test_a_changed_document_costs_only_its_new_items(folder: Path, tagger: Tagger, now: datetime,
                                                     counted: dict[str, int]) -> None:
    with Store(folder / "s.sqlite") as store:
        pipeline.ingest_seeds(store, tagger, [folder], now)
        text = folder / "seed-headlines.txt"
        added = "TKP calls for a rally against the new labour law in Istanbul"
        text.write_text(added + "\n\n" + text.read_text("utf-8"), "utf-8")
        report = pipeline.ingest_seeds(store, tagger, [folder], now + timedelta(hours=1))
        assert (report.new, report.merged, report.revised) == (1, 0, 0)
        assert (counted["read"], counted["tagged"]) == (3, 24)  # one document read again, one item tagged
        new = next(item for item in store.latest(100) if item.title == added)
        assert new.parties == ("tkp",)
        # A revision marker is a change of its paragraph: that item alone, revised.
        text.write_text(text.read_text("utf-8").replace(added, added + " (updated)"), "utf-8")
        report = pipeline.ingest_seeds(store, tagger, [folder], now + timedelta(hours=2))
        assert (report.new, report.revised, counted["tagged"]) == (0, 1, 25)


def test_a_registry_change_reads_every_document_again(folder: Path, tagger: Tagger, registry: Registry,
                                                      now: datetime, counted: dict[str, int]) -> None:
    with Store(folder / "s.sqlite") as store:
        pipeline.ingest_seeds(store, tagger, [folder], now)
        changed = Tagger(Registry(parties=registry.parties, topics=dict(list(registry.topics.items())[1:]),
                                  countries=registry.countries, not_parties=registry.not_parties,
                                  expansions=registry.expansions, bylines=registry.bylines,
                                  item_types=registry.item_types, regions=registry.regions))
        pipeline.ingest_seeds(store, changed, [folder], now + timedelta(hours=1))
        assert (counted["read"], counted["tagged"]) == (4, 46)
        pipeline.ingest_seeds(store, tagger, [folder], now, language="en")  # another seed language
        assert counted["read"] == 6


def test_a_malformed_document_is_reported_on_every_run_until_fixed(folder: Path, tagger: Tagger,
                                                                   now: datetime) -> None:
    (folder / "broken.yaml").write_text("- title: [not, text]\n", "utf-8")
    with Store(folder / "s.sqlite") as store:
        for hours in (0, 1):
            report = pipeline.ingest_seeds(store, tagger, [folder], now + timedelta(hours=hours))
            assert len(report.errors) == 1 and "broken.yaml" in report.errors[0]
        (folder / "broken.yaml").write_text("- title: PCP statement on wages\n", "utf-8")
        report = pipeline.ingest_seeds(store, tagger, [folder], now + timedelta(hours=2))
        assert (report.errors, report.new) == ([], 1)


def test_a_document_is_tagged_and_stored_a_chunk_at_a_time(folder: Path, tagger: Tagger, now: datetime,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory holds a chunk or two of a document's items, not the document: each chunk is
    stored in its own transaction once the next is tagged (so the last, with the mark, is known)."""
    events: list[str] = []
    tag, accept = seedingest.tag_item, seedingest.accept_batch
    monkeypatch.setattr(seedingest, "SEED_ITEMS_PER_COMMIT", 5)
    monkeypatch.setattr(seedingest, "tag_item", lambda *args: events.append("tag") or tag(*args))
    monkeypatch.setattr(seedingest, "accept_batch", lambda store, chunk, now: events.append(
        f"store {len(chunk)}") or accept(store, chunk, now))
    (folder / "more.yaml").unlink()
    with Store(folder / "s.sqlite") as store:
        report = pipeline.ingest_seeds(store, tagger, [folder], now)
        assert report.new == 22 and store.seed_marks()
    stored = [event for event in events if event != "tag"]
    assert stored == ["store 5", "store 5", "store 5", "store 5", "store 2"]
    assert events[:16] == ["tag"] * 10 + ["store 5"] + ["tag"] * 5  # two chunks ahead of the store, no more


def test_a_document_malformed_near_its_end_stores_none_of_its_items(folder: Path, tagger: Tagger,
                                                                     now: datetime,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seedingest, "SEED_ITEMS_PER_COMMIT", 2)
    lines = "".join(f"- title: KKE statement number {n} on the strike in Piraeus\n" for n in range(9))
    (folder / "more.yaml").write_text(lines + "- title: KKE rally\n  parties: [no-such-party]\n", "utf-8")
    with Store(folder / "s.sqlite") as store:
        report = pipeline.ingest_seeds(store, tagger, [folder / "more.yaml"], now)
        assert len(report.errors) == 1 and "no-such-party" in report.errors[0]
        assert store.count_items() == 0 and not store.seed_marks()
