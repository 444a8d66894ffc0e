"""End to end: the `partyfeeds` command as a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.atomcheck import assert_valid_atom

ROOT = Path(__file__).resolve().parent.parent
CHILE = "Protest in Berlin with members of the CPs of Greece (KKE), Chile (CCP) and Turkey (TKP)."


def partyfeeds(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120, env=env, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A config in a fresh folder that uses the shipped seeds and registry."""
    text = (ROOT / "config.yaml").read_text("utf-8")
    for name in ("seeds", "registry/parties.yaml", "registry/topics.yaml"):
        text = text.replace(f" {name}\n", f" {ROOT / name}\n")
    (tmp_path / "config.yaml").write_text(text, "utf-8")
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
    config.write_text(config.read_text("utf-8").replace(f" {ROOT / 'seeds'}\n", " seeds\n"), "utf-8")
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


def test_tag_reads_stdin_and_explains(project: Path) -> None:
    result = partyfeeds("tag", cwd=project, stdin="Η ανακοίνωση του ΚΚΕ για την Παλαιστίνη")
    assert result.returncode == 0, result.stderr
    assert "kke" in result.stdout and "palestine" in result.stdout
    assert "ΚΚΕ" in result.stdout
