"""`partyfeeds serve` as a real subprocess on a free loopback port, against local sources."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from scheduler import jobs
from scheduler.config import load_config
from scheduler.daemon import Daemon
from tests.atomcheck import assert_valid_atom
from tests.jsonfeedcheck import assert_valid_json_feed
from tests.localserver import LocalServer, Reply

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

ROOT = Path(__file__).resolve().parent.parent
STARTED = re.compile(r"serve status=started url=(http://127\.0\.0\.1:(\d+)/)")


def rss(*titles: str) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>https://party.example/{abs(hash(title))}</link>"
        f"<guid>{title}</guid>"
        f"<pubDate>Thu, 07 Dec 2017 1{n}:00:00 +0000</pubDate></item>"
        for n, title in enumerate(titles)
    )
    channel = f"<channel><title>Party</title>{items}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()


class Service:
    """A running `partyfeeds serve`, its log collected in the background."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        env = {**os.environ, "PYTHONWARNINGS": "error"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scheduler.cli", "serve"], cwd=folder, env=env,
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        match = self.wait_for(lambda: STARTED.search("".join(self.log)))
        self.port = int(match.group(2))

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)

    def wait_for(self, check: Callable[[], object], timeout: float = 20.0) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"timed out; service log:\n{''.join(self.log)}")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def terminate(self, timeout: float = 10) -> int:
        """SIGTERM, then the exit status; the log is complete afterwards."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        assert self.process.stderr is not None
        self.process.stderr.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.terminate()

    def served(self, path: str, text: str) -> bool:
        status, _, body = self.get(path)
        return status == 200 and text.encode() in body


@pytest.fixture
def sources() -> Iterator[LocalServer]:
    with LocalServer() as local:
        local.script("/a.rss", Reply(200, rss("KKE statement on the dock strike"), (("ETag", '"a1"'),)),
                     Reply(200, rss("KKE statement on the dock strike", "KKE rally in Athens tomorrow"),
                           (("ETag", '"a2"'),)))
        local.script("/b.rss", Reply(200, rss("TKP congress opens in Istanbul")))
        yield local


def write_config(folder: Path, sources: list[dict[str, object]], title: str = "daemon test",
                 output: str = "public", seeds: Path = ROOT / "seeds", seeds_check: int = 1) -> None:
    config = {
        "site": {"title": title, "base_url": "http://127.0.0.1:8080/", "author": {"name": "t"}},
        "storage": {"database": "state/pf.sqlite"},
        "output": {"directory": output},
        "seeds": {"paths": [str(seeds)]},
        "registry": {"parties": str(ROOT / "registry" / "parties.yaml"),
                     "topics": str(ROOT / "registry" / "topics.yaml")},
        "server": {"port": 0, "idle_timeout": 2},
        "schedule": {"jitter": 0, "publish_delay": 0.2, "seeds_check": seeds_check, "min_interval": 1},
        "fetch": {"total_timeout": 5, "allow_hosts": ["127.0.0.1"]},
        "sources": sources,
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config), "utf-8")


@pytest.fixture
def service(tmp_path: Path, sources: LocalServer) -> Iterator[Service]:
    write_config(tmp_path, [{"id": "a", "url": sources.url("/a.rss"), "party": "kke", "interval": 1}])
    running = Service(tmp_path)
    yield running
    running.kill()


def test_serves_polls_reloads_and_stops_cleanly(service: Service, sources: LocalServer,
                                                tmp_path: Path) -> None:
    # The seeds are published at start, served with the Atom type.
    status, headers, body = service.get("/party/kke.atom")
    assert status == 200 and headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert_valid_atom(body)

    # A new item at a source appears in the served feed on a later poll.
    service.wait_for(lambda: service.served("/party/kke.atom", "KKE rally in Athens tomorrow"))
    later = sources.requests_for("/a.rss")[1:]
    assert later and all(r.headers.get("if-none-match") for r in later)

    # A conditional GET of the served feed gets 304.
    _, headers, _ = service.get("/all.atom")
    status, _, body = service.get("/all.atom", {"If-None-Match": headers["etag"]})
    assert status == 304 and body == b""

    # SIGHUP with a broken config is refused; the service runs on.
    config = tmp_path / "config.yaml"
    good = config.read_text("utf-8")
    config.write_text(good.replace("sources:", "sourcez:"), "utf-8")
    service.process.send_signal(signal.SIGHUP)
    service.wait_for(lambda: "reload status=rejected" in "".join(service.log))
    assert service.get("/healthz")[0] == 200

    # SIGHUP adds a source without a restart.
    write_config(tmp_path, [{"id": "a", "url": sources.url("/a.rss"), "party": "kke", "interval": 1},
                            {"id": "b", "url": sources.url("/b.rss"), "interval": 1}])
    service.process.send_signal(signal.SIGHUP)
    service.wait_for(lambda: service.served("/party/tkp.atom", "TKP congress opens in Istanbul"))
    assert "reload status=ok added=1 removed=0 changed=0" in "".join(service.log)

    health = json.loads(service.get("/healthz")[2])
    assert health["status"] == "ok" and health["scheduler"] == "running"
    metrics = service.get("/metrics")[2].decode()
    assert re.search(r'partyfeeds_fetches_total\{source="a",status="ok"\} [1-9]', metrics)

    # SIGTERM: exit 0 within a few seconds, every published file complete and valid.
    started = time.monotonic()
    assert service.terminate() == 0
    assert time.monotonic() - started < 5
    assert "serve status=stopped" in "".join(service.log)
    for feed in (tmp_path / "public").rglob("*.atom"):
        assert_valid_atom(feed.read_bytes())


def test_a_reload_publishes_what_the_new_configuration_changes(tmp_path: Path, sources: LocalServer) -> None:
    # One source that never changes and is not due again: after the first publish, no item moves.
    quiet = [{"id": "b", "url": sources.url("/b.rss"), "interval": 3600}]
    write_config(tmp_path, quiet)
    service = Service(tmp_path)
    try:
        service.wait_for(lambda: service.served("/party/tkp.atom", "TKP congress opens in Istanbul"))
        write_config(tmp_path, quiet, title="daemon test, renamed")
        service.process.send_signal(signal.SIGHUP)
        service.wait_for(lambda: service.served("/all.atom", "<title>daemon test, renamed</title>"))
        assert len(sources.requests_for("/b.rss")) == 1
        # A new output folder waits for a restart: publishes go on where the server serves.
        write_config(tmp_path, quiet, title="daemon test, moved", output="elsewhere")
        service.process.send_signal(signal.SIGHUP)
        service.wait_for(lambda: service.served("/all.atom", "<title>daemon test, moved</title>"))
        assert "output.directory changed; takes effect after a restart" in "".join(service.log)
        assert not (tmp_path / "elsewhere").exists()
    finally:
        service.kill()


def test_a_reload_applies_a_new_seeds_check_interval(tmp_path: Path, sources: LocalServer) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    seed = seeds / "headlines.txt"
    seed.write_text("KKE statement on the dock strike in Piraeus.\n", "utf-8")
    quiet = [{"id": "b", "url": sources.url("/b.rss"), "interval": 3600}]
    write_config(tmp_path, quiet, seeds=seeds, seeds_check=3600)
    service = Service(tmp_path)
    try:
        service.wait_for(lambda: service.served("/all.atom", "dock strike in Piraeus"))
        write_config(tmp_path, quiet, seeds=seeds, seeds_check=1)
        service.process.send_signal(signal.SIGHUP)
        service.wait_for(lambda: "reload status=ok" in "".join(service.log))
        time.sleep(1.5)  # the reload's own look at the seeds is over; the next is the interval's
        seed.write_text("KKE statement on the dock strike in Piraeus.\n\nTKP congress opens in Ankara.\n",
                        "utf-8")
        service.wait_for(lambda: service.served("/all.atom", "TKP congress opens in Ankara"), timeout=10)
    finally:
        service.kill()


def test_failures_reach_the_health_feed(tmp_path: Path, sources: LocalServer) -> None:
    sources.script("/down.rss", Reply(503, b"down", (("Retry-After", "1"),)), Reply(200, rss("Back again")))
    write_config(tmp_path, [{"id": "down", "url": sources.url("/down.rss"), "interval": 1}])
    service = Service(tmp_path)
    try:
        service.wait_for(lambda: service.served("/health.atom", "down recovered"))
        status, _, body = service.get("/health.atom")
        assert status == 200 and b"down is failing" in body
        assert_valid_atom(body)
        status, headers, twin = service.get("/health.json")
        assert status == 200 and headers["content-type"].startswith("application/feed+json")
        titles = [item["title"] for item in assert_valid_json_feed(twin)["items"]]
        assert "down recovered" in titles and "down is failing" in titles
        health = json.loads(service.get("/healthz")[2])
        assert health["failing_sources"] == {}
    finally:
        assert service.terminate() == 0


def test_restart_resumes_each_source_at_its_stored_time(tmp_path: Path, sources: LocalServer) -> None:
    write_config(tmp_path, [{"id": "b", "url": sources.url("/b.rss"), "interval": 3600}])
    first = Service(tmp_path)
    first.wait_for(lambda: sources.requests_for("/b.rss"))
    first.wait_for(lambda: first.served("/all.atom", "TKP congress"))
    assert first.terminate() == 0
    second = Service(tmp_path)
    try:
        time.sleep(2)
        assert len(sources.requests_for("/b.rss")) == 1  # not due for an hour: not fetched again
    finally:
        assert second.terminate() == 0


def test_readiness_and_stopping_are_reported_to_systemd(tmp_path: Path, sources: LocalServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(20)
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        write_config(tmp_path, [])
        service = Service(tmp_path)
        try:
            assert listener.recv(64) == b"READY=1"
        finally:
            assert service.terminate() == 0
        assert listener.recv(64) == b"STOPPING=1"


def test_a_publish_requested_while_one_runs_is_not_lost(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishing slower than publish_delay: every request is still served by a publish."""
    write_config(tmp_path, [])
    runs: list[float] = []

    def slow_publish(*args: object) -> object:
        runs.append(time.monotonic())
        time.sleep(0.6)  # longer than publish_delay (0.2 s)
        return type("Report", (), {"written": []})()

    monkeypatch.setattr(jobs, "publish", slow_publish)
    daemon = Daemon(load_config(tmp_path / "config.yaml"))
    daemon.scheduler.start()
    try:
        daemon.request_publish()
        deadline = time.monotonic() + 5
        while not runs and time.monotonic() < deadline:
            time.sleep(0.01)
        daemon.request_publish()  # arrives while the first publish runs
        time.sleep(2)
        daemon.request_publish()  # and one long after both
        deadline = time.monotonic() + 5
        while len(runs) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        daemon.scheduler.shutdown(wait=True)
        daemon.close()
    assert len(runs) == 3


def test_settings_fixed_at_start_wait_for_a_restart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_config(tmp_path, [])
    config = load_config(tmp_path / "config.yaml")
    daemon = Daemon(config)
    try:
        moved = replace(config, output_dir=tmp_path / "elsewhere", database=str(tmp_path / "other.sqlite"))
        with caplog.at_level("WARNING", logger="scheduler.daemon"):
            assert daemon._keep_fixed(replace(moved, fetch_workers=config.fetch_workers + 1)) == replace(
                config, fetch_workers=config.fetch_workers + 1)
        assert [r.getMessage().split(";")[0] for r in caplog.records] == [
            "reload: storage.database or output.directory changed",
            "reload: server.host, server.port, server.idle_timeout, server.max_connections, "
            "server.backlog or fetch.workers changed"]
        caplog.clear()
        retitled = replace(config, site=replace(config.site, title="renamed"))
        assert daemon._keep_fixed(retitled) == retitled and not caplog.records
    finally:
        daemon.close()


def test_health_answers_while_the_store_is_held_and_reports_failing_sources(tmp_path: Path,
                                                                           sources: LocalServer) -> None:
    """A liveness probe must not wait for a publish or an ingest, which hold the store for seconds."""
    sources.script("/down.rss", Reply(500, b"down"))
    write_config(tmp_path, [{"id": "down", "url": sources.url("/down.rss"), "interval": 3600}])
    daemon = Daemon(load_config(tmp_path / "config.yaml"))
    try:
        assert daemon.poll_source("down")
        deadline = time.monotonic() + 10
        while daemon.engine.busy() and time.monotonic() < deadline:
            time.sleep(0.01)
        held, release = threading.Event(), threading.Event()

        def hold_the_store() -> None:  # a publish running, and another process writing
            with daemon._publish_lock, sqlite3.connect(daemon.config.database) as other:
                other.execute("BEGIN EXCLUSIVE")
                held.set()
                release.wait(10)
                other.rollback()

        holder = threading.Thread(target=hold_the_store)
        holder.start()
        held.wait(5)
        answer: list[object] = []
        asker = threading.Thread(target=lambda: answer.append(daemon.health()))
        asker.start()
        asker.join(5)  # generous: it must not need the store at all
        answered = not asker.is_alive()
        release.set()
        holder.join()
        asker.join()
        assert answered
        (health,) = answer
        assert isinstance(health, dict) and list(health["failing_sources"]) == ["down"]
    finally:
        daemon.close()


def test_sigterm_exits_at_once_while_a_fetch_hangs(tmp_path: Path, sources: LocalServer) -> None:
    """A source that sends its headers and then nothing holds a fetch thread in a read; the
    daemon still exits 0 within a few seconds of SIGTERM, long before the fetch would time out."""
    sources.script("/hang.rss", Reply(200, rss("never arrives"), body_delay=60))
    write_config(tmp_path, [{"id": "b", "url": sources.url("/b.rss"), "interval": 3600},
                            {"id": "hang", "url": sources.url("/hang.rss"), "interval": 3600}])
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text("utf-8").replace("total_timeout: 5", "total_timeout: 60"), "utf-8")
    service = Service(tmp_path)
    try:
        service.wait_for(lambda: service.served("/party/tkp.atom", "TKP congress opens in Istanbul"))
        assert "source=hang" not in "".join(service.log)  # its fetch is still waiting for the body
        started = time.monotonic()
        assert service.terminate() == 0
        assert time.monotonic() - started < 5
        assert "serve status=stopped" in "".join(service.log)
    finally:
        service.kill()
