"""End to end: the `partyfeeds` command as a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.atomcheck import assert_valid_atom

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

ROOT = Path(__file__).resolve().parent.parent
A = "{http://www.w3.org/2005/Atom}"
CHILE = "Protest in Berlin with members of the CPs of Greece (KKE), Chile (CCP) and Turkey (TKP)."


def partyfeeds(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120, env=env, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The default config in a fresh folder, with the shipped seeds and registry and no
    network sources (tests never reach the internet)."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text("utf-8"))
    config["seeds"]["paths"] = [str(ROOT / "seeds")]
    config["registry"] = {"parties": str(ROOT / "registry" / "parties.yaml"),
                          "topics": str(ROOT / "registry" / "topics.yaml")}
    config["sources"] = []
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    return tmp_path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_once_publishes_valid_feeds_and_a_rerun_is_byte_identical(project: Path) -> None:
    first = partyfeeds("once", cwd=project)
    assert first.returncode == 0, first.stderr
    assert "seed=seed-headlines.txt status=ok items=22 new=22" in first.stderr
    public = project / "public"
    published = snapshot(public)
    for name in ("all.atom", "feeds.opml", "index.html", "party/kke.atom", "topic/palestine.atom"):
        assert name in published
    for name, (data, _) in published.items():
        if name.endswith(".atom"):
            assert_valid_atom(data)
    # No seed publisher is configured: the seeds are credited to the site.
    site_title = yaml.safe_load((project / "config.yaml").read_text("utf-8"))["site"]["title"]
    entries = assert_valid_atom(published["all.atom"][0]).iter(f"{A}entry")
    assert {e.findtext(f"{A}source/{A}title") for e in entries} == {site_title}
    second = partyfeeds("once", cwd=project)
    assert second.returncode == 0, second.stderr
    assert snapshot(public) == published  # same bytes, files not even rewritten
    assert (project / "state" / "partyfeeds.sqlite").is_file()


def test_publish_alone_uses_the_store(project: Path) -> None:
    assert partyfeeds("once", cwd=project).returncode == 0
    (project / "public" / "all.atom").unlink()
    result = partyfeeds("publish", "--config", str(project / "config.yaml"), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert_valid_atom((project / "public" / "all.atom").read_bytes())


def test_check_config_reports_file_key_and_line(project: Path) -> None:
    assert partyfeeds("check-config", cwd=project).returncode == 0
    config = project / "config.yaml"
    config.write_text(config.read_text("utf-8").replace("output:\n", "output:\n  entries: 5\n"), "utf-8")
    assert "entries: 5" in config.read_text("utf-8")
    result = partyfeeds("check-config", cwd=project)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"partyfeeds: error: {config}:")
    assert "output.entries: unknown key" in lines[0]


def test_malformed_seed_file_fails_the_run_but_publishes_the_rest(project: Path) -> None:
    seeds = project / "seeds"
    seeds.mkdir()
    (seeds / "good.txt").write_text("The Communist Party of Greece (KKE) on the strike.\n", "utf-8")
    (seeds / "bad.yaml").write_text("- title: x\n  colour: red\n", "utf-8")
    config = project / "config.yaml"
    config.write_text(config.read_text("utf-8").replace(f"- {ROOT / 'seeds'}\n", "- seeds\n"), "utf-8")
    result = partyfeeds("once", cwd=project)
    assert result.returncode == 1
    assert "bad.yaml:2: colour: unknown key" in result.stderr
    assert b"on the strike" in (project / "public" / "party" / "kke.atom").read_bytes()


def test_tag_json_resolves_abbreviations_by_context(project: Path) -> None:
    result = partyfeeds("tag", "--json", CHILE, cwd=project)
    assert result.returncode == 0, result.stderr
    tags = json.loads(result.stdout)
    assert set(tags) == {"parties", "topics", "evidence"}
    assert sorted(tags["parties"]) == ["kke", "pcch", "tkp"]
    assert tags["evidence"]["parties"]["pcch"]


def test_tag_says_which_rule_decided_with_the_language(project: Path) -> None:
    result = partyfeeds("tag", "--language", "pt", "O PCP apoia a greve", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "party  pcp: Portuguese Communist Party (PCP) <- PCP  [rule: language pt]" in result.stdout
    assert "rules" not in json.loads(partyfeeds("tag", "--json", "O PCP apoia a greve", cwd=project).stdout)


def test_tag_reads_stdin_and_explains(project: Path) -> None:
    result = partyfeeds("tag", cwd=project, stdin="Η ανακοίνωση του ΚΚΕ για την Παλαιστίνη")
    assert result.returncode == 0, result.stderr
    assert "kke" in result.stdout and "palestine" in result.stdout
    assert "ΚΚΕ" in result.stdout


def test_default_config_lists_real_party_feeds() -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text("utf-8"))
    urls = {source["url"] for source in config["sources"]}
    assert "https://www.902.gr/feed/recent" in urls and len(urls) >= 10
    result = partyfeeds("check-config", cwd=ROOT)
    assert result.returncode == 0
    assert "registry: ok (126 parties, " in result.stdout


def test_unknown_party_of_a_source_is_a_config_error(project: Path) -> None:
    config = project / "config.yaml"
    data = yaml.safe_load(config.read_text("utf-8"))
    data["sources"] = [{"id": "x", "url": "https://x.example/rss", "party": "kkee"}]
    config.write_text(yaml.safe_dump(data), "utf-8")
    result = partyfeeds("check-config", cwd=project)
    assert result.returncode == 1
    assert "source x: party: unknown party code 'kkee'" in result.stderr


OPML = """<?xml version="1.0"?>
<opml version="2.0"><head><title>my feeds</title></head><body>
  <outline text="Parties">
    <outline type="rss" text="902.gr" title="902 — KKE" xmlUrl="https://www.902.gr/feed/recent"
             htmlUrl="https://www.902.gr"/>
    <outline type="rss" text="Unsere Zeit" xmlUrl="https://www.unsere-zeit.de/feed/"/>
    <outline type="rss" text="Unsere Zeit again" xmlUrl="https://www.unsere-zeit.de/feed/"/>
    <outline type="rss" text="Not a feed" xmlUrl="javascript:alert(1)"/>
  </outline>
</body></opml>
"""


def test_import_opml_adds_new_sources_once(project: Path) -> None:
    (project / "subs.opml").write_text(OPML, "utf-8")
    result = partyfeeds("import-opml", "subs.opml", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "2 new sources" in result.stdout
    imported = yaml.safe_load((project / "sources.imported.yaml").read_text("utf-8"))["sources"]
    assert [(s["id"], s["url"], s.get("party")) for s in imported] == [
        ("902-kke", "https://www.902.gr/feed/recent", "kke"),
        ("unsere-zeit", "https://www.unsere-zeit.de/feed/", "dkp"),
    ]
    again = partyfeeds("import-opml", "subs.opml", cwd=project)
    assert again.returncode == 0 and "0 new sources" in again.stdout
    table = partyfeeds("sources", cwd=project)
    assert table.returncode == 0 and "902-kke" in table.stdout and "new" in table.stdout


def test_import_opml_rejects_a_non_opml_file(project: Path) -> None:
    (project / "bad.opml").write_text("<html><body>nope</body></html>", "utf-8")
    result = partyfeeds("import-opml", "bad.opml", cwd=project)
    assert result.returncode == 1
    assert "bad.opml: not an OPML file" in result.stderr


def test_a_database_failing_after_it_opened_is_one_line_and_exit_1(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An sqlite3 error mid-run (here a disk I/O error while storing the seeds) is a StoreError
    naming the database, not a traceback."""
    from feeds import seedingest
    from scheduler import cli

    def failing_disk(*args: object, **kwargs: object) -> list[object]:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(seedingest, "accept_batch", failing_disk)
    monkeypatch.setattr(cli.logs, "configure", lambda *args: None)  # keep pytest's log handlers
    monkeypatch.chdir(project)
    assert cli.main(["once"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("partyfeeds: error: ")
    assert lines[-1].endswith("OperationalError: disk I/O error")
    assert str(project / "state") in lines[-1] and "Traceback" not in "".join(lines)
