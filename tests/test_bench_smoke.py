"""The benchmark suite runs end to end at toy sizes (no timing is asserted anywhere)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import (
    corpus,
    dedupe_corpus,
    dedupe_quality,
    ingest_ceiling,
    poll_cost,
    publish_floor,
    references,
    report,
    scalestore,
    tls_cost,
)
from bench import serving as serving_bench
from bench.__main__ import main
from bench.runs import registry
from feeds.dedupe.keys import identity_keys
from feeds.dedupe.titles import title_bands
from feeds.store import NewItem, Store
from tests.factories import T0, make_item


def test_corpus_is_deterministic_and_plants_duplicates() -> None:
    first = corpus.sources(corpus.Generator(registry()), 8, 3, 2)
    again = corpus.sources(corpus.Generator(registry()), 8, 3, 2)
    assert [d.body for d in first] == [d.body for d in again]
    assert {d.content_type.split(";")[0] for d in first} == {"application/rss+xml", "application/atom+xml"}
    headlines = corpus.Generator(registry()).headlines(400)
    assert corpus.planted_pairs(headlines)
    assert len({h.language for h in headlines}) > 3


def test_the_dedupe_corpus_is_deterministic_and_plants_copies_and_every_near_miss() -> None:
    first = dedupe_corpus.build(registry(), **dedupe_quality.QUICK)
    assert first == dedupe_corpus.build(registry(), **dedupe_quality.QUICK)
    assert len({entry.item.id for entry in first}) == len(first)
    assert dedupe_corpus.true_pairs(first)
    assert {entry.variant for entry in first} >= set(dedupe_corpus.VARIANTS)
    assert {entry.kind for entry in first} >= set(dedupe_corpus.NEAR_MISSES)
    assert {entry.item.language for entry in first} >= {"en", "el", "es", "ru", "tr", "de", "fr"}


def test_the_dedupe_corpus_arrives_as_polls_of_one_source_in_time_order() -> None:
    entries = dedupe_corpus.build(registry(), **dedupe_quality.QUICK)
    polls = dedupe_corpus.polls(entries)
    assert sorted(id(entry) for _, batch in polls for entry in batch) == sorted(map(id, entries))
    assert [at for at, _ in polls] == sorted(at for at, _ in polls)
    for at, batch in polls:
        assert len({entry.item.sources[0].source_id for entry in batch}) == 1 and len(batch) <= 50
        assert all(entry.item.published < at for entry in batch)


@pytest.mark.slow
def test_the_dedupe_quality_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert dedupe_quality.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for measure in ("dedupe on ingest: recall", "precision", "near-miss pairs merged", "entries lost",
                    *dedupe_corpus.NEAR_MISSES):
        assert measure in out


@pytest.mark.slow
def test_quick_benchmark_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--no-reader"]) == 0
    out = capsys.readouterr().out
    for measure in ("cold ingest", "steady state", "publish all feeds", "dedupe on ingest", "floor"):
        assert measure in out


def test_the_scale_stores_items_as_ingest_would_with_their_keys_bands_tags_and_sources(
        tmp_path: Path) -> None:
    path = tmp_path / "scale.sqlite"
    scalestore.build(path, registry(), 300, 70)
    with Store(path) as store:
        db = store._db
        counts = {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                  for table in ("items", "item_keys", "item_bands", "item_tags", "item_sources")}
        sources = {row[0] for row in db.execute("SELECT source_id FROM item_sources")}
    assert counts["items"] == counts["item_sources"] == 300 and counts["item_tags"] == 600
    assert counts["item_keys"] >= 600 and counts["item_bands"] > 300 * 8
    assert len(sources) > 20 and sources <= {f"bench-{n:05d}" for n in range(70)}


def test_the_stream_of_headlines_is_deterministic_and_copies_only_recent_stories() -> None:
    first = list(corpus.Generator(registry(), seed=4).stream(2000))
    assert first == list(corpus.Generator(registry(), seed=4).stream(2000))
    assert corpus.planted_pairs(first)
    seen, last = set(), None  # remembering one original: copies and rivals are of the last one
    for story in corpus.Generator(registry(), seed=4).stream(500, recent=1):
        if story.key in seen:
            assert last is not None and story.key == last.key  # a copy
        elif last is None or story.parts[1:] != last.parts[1:]:
            last = story  # an original (a rival is the last one's subject from another party)
        seen.add(story.key)


@pytest.mark.slow
def test_quick_scale_benchmark_prints_the_scale_rows(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--scale", "--quick", "--no-reader", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for measure in ("one new item published", "`once` with nothing changed", "ingest 1,000 new items",
                    "one-shot `once` peak RSS", "daemon peak RSS", "store on disk", "first publish of",
                    "cold ingest", "daemon backlog", "dedupe on ingest"):
        assert measure in out
    assert not (tmp_path / "scale-run").exists()  # its copies and folders are removed


def test_table_lines_up() -> None:
    rows = [report.Row("a", "1"), report.Row("longer measure", "2.50 (2.00–3.00)", met="yes")]
    lines = report.table(rows).splitlines()
    assert len({line.index("|") for line in lines if "|" in line}) == 1


def test_the_tls_cost_benchmark_resumes_sessions_in_one_variant_only(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert tls_cost.main(["--fetches", "3", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 of 3 handshakes resumed" in out.split("resumed sessions")[1].splitlines()[0]
    assert "0 of 3 handshakes resumed" in out.split("full handshakes")[1].splitlines()[0]
    assert "0 of 3 handshakes resumed" in out.split("httpx.Client")[1].splitlines()[0]


@pytest.mark.slow  # a server and a subprocess
def test_the_poll_cost_benchmark_runs_ours_and_the_httpx_reference(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert poll_cost.main(["--sources", "6", "--hosts", "2", "--polls", "1"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in poll_cost.VARIANTS)


@pytest.mark.slow  # subprocesses
@pytest.mark.parametrize("pair", ["parser", "atom", "json"])
def test_each_reference_runs_and_gives_the_same_result(pair: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert references.main([pair, "--runs", "1", "--sources", "6", "--entries", "3", "--hosts", "2",
                            "--items", "300"]) == 0
    out = capsys.readouterr().out
    if pair == "parser":
        stored = {line.split("stored")[1] for line in out.splitlines() if "stored" in line}
        assert len(stored) == 1  # both variants stored the same number of items
    else:
        assert "published trees identical" in out


@pytest.mark.slow  # a server and a subprocess
def test_the_serving_benchmark_prints_every_row_and_ours_fails_none(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert serving_bench.main(["--seconds", "0.1", "--readers", "1,4"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("GET")]
    assert [" ".join(row.split("|")[0].split()) for row in rows] == [
        f"{name} {readers}" for name in ("GET", "GET gzip", "GET → 304", "GET kept") for readers in (1, 4)]
    assert all(row.split("|")[1].split()[-1] == "0" for row in rows)  # ours: no failure


def test_the_ingest_ceiling_stores_items_and_keys_but_no_tags_sources_or_bands() -> None:
    item = make_item("KKE condemns the war drills in the Aegean", party="kke", parties=("kke",))
    with Store(":memory:") as store:
        new = NewItem(item, identity_keys(item), title_bands([item.title])[0], "")
        with store.transaction():
            ingest_ceiling._items_and_keys_only(store, [new], T0)
        db = store._db
        tables = ("items", "item_keys", "item_sources", "item_tags", "item_bands", "item_band_lists")
        counts = {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}
    assert counts == {"items": 1, "item_keys": len(new.keys), "item_sources": 0, "item_tags": 0,
                      "item_bands": 0, "item_band_lists": 0}


@pytest.mark.slow
def test_the_ingest_ceiling_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert ingest_ceiling.main(["--rounds", "1", "--sources", "6", "--entries", "3", "--hosts", "2",
                                "--no-reader"]) == 0
    out = capsys.readouterr().out
    assert "as shipped" in out and "items and keys only" in out


@pytest.mark.slow
def test_the_publish_floor_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert publish_floor.main(["--items", "200", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "before rendering (histories, plan)" in out and "the same files written from memory" in out
