"""Crash safety: `partyfeeds once` killed with SIGKILL at random moments loses nothing.

Several rounds against local sources with many items; each round kills the
run at a random moment of its progress (seeded, so a failure can be replayed):
after a random number of the lines it logs as it goes (the seed file stored, the
sources stored, the publish written) and a random delay, so the kill lands in
the same stages on a fast machine and a slow one. After every
kill: each published file is complete, valid Atom; SQLite's integrity check
passes; the item count never goes down. A final clean run completes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.atomcheck import assert_valid_atom
from tests.localserver import LocalServer, Reply
from tests.test_cli import ROOT

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

SOURCES = 3
ROUNDS = 6
SEED = 20240501


def feed(source: int, count: int) -> bytes:
    words = ["strike", "harbour", "rally", "congress", "statement", "festival", "election", "union"]
    items = "".join(
        f"<item><title>{words[n % 8].title()} {source}-{n}: workers of plant {n * 7 + source} "
        f"{words[(n * 3 + source) % 8]} in town {n}</title><link>https://p{source}.example/a/{n}</link>"
        f"<guid>p{source}-{n}</guid><description>Item {n} of source {source}.</description></item>"
        for n in range(count))
    return f'<rss version="2.0"><channel><title>P{source}</title>{items}</channel></rss>'.encode()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    with LocalServer() as server:
        sources = []
        for source in range(SOURCES):
            # Every poll brings more items, so every round has new work to be killed in.
            replies = [Reply(200, body=feed(source, 60 * (r + 1))) for r in range(ROUNDS + 2)]
            server.script(f"/p{source}.rss", *replies)
            sources.append({"id": f"p{source}", "url": server.url(f"/p{source}.rss")})
        (tmp_path / "seeds").mkdir()
        (tmp_path / "config.yaml").write_text(f"""\
site: {{title: crash, base_url: "http://127.0.0.1:8080/", author: {{name: crash}}}}
storage: {{database: state/pf.sqlite}}
output: {{entries_per_feed: 500}}
seeds: {{paths: [{ROOT / "seeds"}]}}
registry: {{parties: {ROOT / "registry" / "parties.yaml"}, topics: {ROOT / "registry" / "topics.yaml"}}}
fetch: {{total_timeout: 5, allow_hosts: ["127.0.0.1"]}}
sources: {json.dumps(sources)}
""", "utf-8")
        yield tmp_path


def start_once(project: Path, log: int | None = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.Popen([sys.executable, "-m", "scheduler.cli", "once", "--log-level", "INFO"],
                            cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=log)


def kill_once_during(project: Path, lines: int, delay: float) -> bool:
    """Start `once`, let it log `lines` lines, wait `delay` s, SIGKILL it; False if it ended first."""
    process = start_once(project, log=subprocess.PIPE)
    assert process.stderr is not None
    with process.stderr:
        for _ in range(lines):
            if not process.stderr.readline():
                break  # it ended
        try:
            process.wait(delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            return process.wait() == -signal.SIGKILL
    return False


def item_count(database: Path) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = int(db.execute("SELECT count(*) FROM items").fetchone()[0])
    db.close()
    return count


def check_published(public: Path) -> None:
    for path in public.rglob("*"):
        assert not path.name.endswith(".tmp") or path.name.startswith("."), path
        if path.suffix == ".atom":
            assert_valid_atom(path.read_bytes())


# A run logs a line when the seed file is stored, one per source once the sources are stored
# (all three at one commit), then the publish's and its own. After n lines, how long the stage
# that follows lasts here, about (a slower machine only makes it longer): starting and storing
# the seeds ~0.5 s, fetching and storing the sources ~0.2 s, publishing ~0.02 s.
STAGE_SECONDS = (0.5, 0.2, 0.02, 0.02, 0.02)


def test_sigkill_at_random_moments_loses_nothing(project: Path) -> None:
    rng = random.Random(SEED)
    database, public = project / "state" / "pf.sqlite", project / "public"
    counts, kills = [0], 0
    for _ in range(ROUNDS):
        lines = rng.randrange(len(STAGE_SECONDS))
        kills += kill_once_during(project, lines, delay=rng.uniform(0.0, STAGE_SECONDS[lines]))
        check_published(public)
        counts.append(item_count(database))
        assert counts[-1] >= counts[-2], counts
    assert kills >= ROUNDS // 2, (kills, counts)  # most runs are cut short
    final = start_once(project)
    assert final.wait(120) == 0
    check_published(public)
    assert item_count(database) >= counts[-1] > 0  # rounds killed after the seeds' line kept them
    assert (public / "all.atom").is_file()


def start_serve(project: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.Popen([sys.executable, "-m", "scheduler.cli", "serve", "--log-level", "WARNING"],
                            cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_sigkill_of_the_daemon_loses_nothing(project: Path) -> None:
    config = project / "config.yaml"
    config.write_text(config.read_text("utf-8").replace('"url"', '"interval": 1, "url"') +
                      "server: {port: 0}\nschedule: {jitter: 0, publish_delay: 0.1, min_interval: 1}\n",
                      "utf-8")
    rng = random.Random(SEED + 1)
    database, public = project / "state" / "pf.sqlite", project / "public"
    counts = [0]
    for _ in range(4):
        process = start_serve(project)
        try:
            process.wait(rng.uniform(1.0, 3.0))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            assert process.wait() == -signal.SIGKILL
        else:
            pytest.fail(f"serve exited by itself with {process.returncode}")
        check_published(public)
        counts.append(item_count(database))
        assert counts[-1] >= counts[-2], counts
    assert counts[-1] > 0
    final = start_serve(project)
    try:
        final.wait(3)
    except subprocess.TimeoutExpired:
        final.send_signal(signal.SIGTERM)
    assert final.wait(20) == 0
    check_published(public)
    assert item_count(database) >= counts[-1]
