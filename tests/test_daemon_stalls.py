"""The daemon never stalls: a slow host, a full re-render, a reload under fetches and a database
that stops taking writes, each with a real daemon (in this process), real sources and a real
server on 127.0.0.1. Nothing here asserts a speed: each test asserts that polls happened,
answers came and nothing was lost."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from feeds.store import Store
from scheduler.config import load_config
from scheduler.daemon import Daemon
from tests.localserver import LocalServer, Reply, any_overlap
from tests.test_daemon import write_config
from tests.test_ingest import rss

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

RSS = (("Content-Type", "application/rss+xml"),)


def wait_until(check: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def get(daemon: Daemon, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", daemon.server.port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def running() -> Iterator[list[Daemon]]:
    """Daemons a test starts; stopped and closed after it, whatever happened."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()


def start(folder: Path, sources: list[dict[str, object]], running: list[Daemon], **config: object) -> Daemon:
    (folder / "seeds").mkdir(exist_ok=True)
    write_config(folder, sources, seeds=config.pop("seeds", folder / "seeds"))  # type: ignore[arg-type]
    if config:
        path = folder / "config.yaml"
        document = yaml.safe_load(path.read_text("utf-8"))
        for section, values in config.items():
            document.setdefault(section, {}).update(values)
        path.write_text(yaml.safe_dump(document), "utf-8")
    daemon = Daemon(load_config(folder / "config.yaml"))
    running.append(daemon)
    daemon.start()
    return daemon


def test_a_slow_host_does_not_starve_a_fast_one(tmp_path: Path, running: list[Daemon],
                                               caplog: pytest.LogCaptureFixture) -> None:
    with LocalServer() as slow, LocalServer() as fast:
        sources: list[dict[str, object]] = []
        for n in range(8):  # 8 s of answers per round on the slow host, polled every 2 s
            slow.script(f"/s{n}.rss", Reply(200, rss(f"slow{n}"), RSS, delay=1.0))
            sources.append({"id": f"slow-{n}", "url": slow.url(f"/s{n}.rss"), "interval": 2})
        for n in range(2):
            fast.script(f"/f{n}.rss", Reply(200, rss(f"fast{n}"), RSS))
            sources.append({"id": f"fast-{n}", "url": fast.url(f"/f{n}.rss"), "interval": 2})
        with caplog.at_level(logging.WARNING):
            start(tmp_path, sources, running, fetch={"workers": 2})
            time.sleep(7)
        fast_polls = [len(fast.requests_for(f"/f{n}.rss")) for n in range(2)]
        slow_requests = slow.requests
    assert min(fast_polls) >= 3  # every 2 s, while the slow host has one request at a time
    assert not any_overlap(slow_requests)
    assert len(slow_requests) >= 5  # the slow host keeps being served too
    assert not [r for r in caplog.records if "maximum number of running instances" in r.getMessage()]


def test_healthz_answers_during_a_full_re_render(tmp_path: Path, running: list[Daemon]) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    lines = [f"Statement {n} of the Communist Party of Greece on the {n}th strike of the dockers"
             for n in range(3000)]
    (seeds / "many.txt").write_text("\n\n".join(lines), "utf-8")
    daemon = start(tmp_path, [], running, seeds=seeds)
    site = daemon.config.site
    daemon._view = replace(daemon._view, config=replace(daemon.config, site=replace(
        site, base_url="http://feeds.example.org/")))  # a site move: every page is rendered again
    answers: list[tuple[float, int]] = []
    publishing = threading.Thread(target=daemon.publish_now)
    publishing.start()
    while publishing.is_alive():
        asked = time.monotonic()
        status, _ = get(daemon, "/healthz")
        answers.append((asked, status))
        time.sleep(0.01)
    publishing.join()
    assert {status for _, status in answers} == {200}
    assert len(answers) >= 5  # answers kept coming while the publish ran
    assert b"http://feeds.example.org/" in (daemon.config.output_dir / "all.atom").read_bytes()


def test_a_reload_during_fetches_lets_them_finish_on_the_old_client(tmp_path: Path,
                                                                    running: list[Daemon]) -> None:
    with LocalServer() as server:
        server.script("/slow.rss", Reply(200, rss("slow"), RSS, delay=1.5), Reply(200, rss("slow"), RSS))
        daemon = start(tmp_path, [{"id": "slow", "url": server.url("/slow.rss"), "interval": 3600}], running)
        wait_until(lambda: daemon.engine.busy())  # its first poll, at start
        time.sleep(0.3)  # on the wire: the answer comes after 1.5 s
        config = tmp_path / "config.yaml"
        document = yaml.safe_load(config.read_text("utf-8"))
        document["site"]["contact_url"] = "https://reloaded.example/contact"  # a new User-Agent
        config.write_text(yaml.safe_dump(document), "utf-8")
        old_client = daemon.engine.setup.client
        daemon.reload()
        assert daemon.engine.setup.client is not old_client
        wait_until(lambda: not daemon.engine.busy())
        stored = daemon._read(lambda store: store.source_state("slow"))
        assert stored is not None and stored.error_count == 0 and stored.item_count == 2
        assert daemon.poll_source("slow")  # forced: the next poll goes out on the new client
        wait_until(lambda: len(server.requests_for("/slow.rss")) == 2)
        first, second = server.requests_for("/slow.rss")
    assert "reloaded.example" not in first.headers["user-agent"]
    assert "reloaded.example" in second.headers["user-agent"]


def refuse_writes(daemon: Daemon, refuse: bool) -> None:
    """Every connection of the daemon refuses writes, as a read-only database file does."""
    pragma = f"PRAGMA query_only = {'ON' if refuse else 'OFF'}"
    daemon.engine.call(lambda store: store._db.execute(pragma))
    with daemon._publish_lock:
        daemon._publisher._db.execute(pragma)


def test_a_database_that_stops_taking_writes_under_a_running_daemon(tmp_path: Path,
                                                                    running: list[Daemon]) -> None:
    with LocalServer() as server:
        server.script("/a.rss", Reply(200, rss("first"), RSS))
        daemon = start(tmp_path, [{"id": "a", "url": server.url("/a.rss"), "interval": 3600}], running)
        wait_until(lambda: b"https://first.example/1" in (daemon.config.output_dir / "all.atom").read_bytes())
        wait_until(lambda: not daemon.engine.busy())
        published = (daemon.config.output_dir / "all.atom").read_bytes()
        refuse_writes(daemon, True)
        server.script("/a.rss", Reply(200, rss("second", 3), RSS))
        assert daemon.poll_source("a")
        wait_until(lambda: get(daemon, "/healthz")[0] == 503)
        status, body = get(daemon, "/healthz")
        health = json.loads(body)
        assert status == 503 and health["status"] == "error"
        assert daemon.config.database in health["store"]["ingest"]
        health_atom = daemon.config.output_dir / "health.atom"
        wait_until(lambda: b"database (ingest) is failing" in health_atom.read_bytes())
        assert get(daemon, "/all.atom") == (200, published)  # what was published stays served
        refuse_writes(daemon, False)
        assert daemon.poll_source("a")
        all_atom = daemon.config.output_dir / "all.atom"
        wait_until(lambda: b"https://second.example/2" in all_atom.read_bytes())
        wait_until(lambda: get(daemon, "/healthz")[0] == 200)
        health_feed = health_atom.read_bytes()
    assert b"database (ingest) is failing" in health_feed and b"database (ingest) recovered" in health_feed
    with Store(daemon.config.database) as store:
        assert store.source_item_count("a") == 5  # the first feed's 2 items and the second's 3
