"""The benchmark suite runs end to end at toy sizes (no timing is asserted anywhere)."""

from __future__ import annotations

import pytest

from bench import corpus, report, tls_cost
from bench.__main__ import main
from bench.runs import registry


def test_corpus_is_deterministic_and_plants_duplicates() -> None:
    first = corpus.sources(corpus.Generator(registry()), 8, 3, 2)
    again = corpus.sources(corpus.Generator(registry()), 8, 3, 2)
    assert [d.body for d in first] == [d.body for d in again]
    assert {d.content_type.split(";")[0] for d in first} == {"application/rss+xml", "application/atom+xml"}
    headlines = corpus.Generator(registry()).headlines(400)
    assert corpus.planted_pairs(headlines)
    assert len({h.language for h in headlines}) > 3


@pytest.mark.slow
def test_quick_benchmark_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--no-reader"]) == 0
    out = capsys.readouterr().out
    for measure in ("cold ingest", "steady state", "publish all feeds", "dedupe 300 titles", "floor"):
        assert measure in out


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
