"""The ingest engine (feeds/ingest.py) and its host queues (feeds/fetch/hosts.py), against real
servers on 127.0.0.1: one request at a time per host, no thread held by a slow host, stored
in order when asked, and a new client swapped in under fetches in flight."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feeds.errors import StoreError
from feeds.fetch import FetchSettings, HostQueues, HttpClient, make_client
from feeds.ingest import Ingest, Setup
from feeds.model import SourceSpec, SourceState
from feeds.reports import SourceReport
from feeds.store import Store
from feeds.tag import Tagger
from tests.localserver import LocalServer, Reply, any_overlap

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
SETTINGS = FetchSettings(user_agent="partyfeeds-test", connect_timeout=5, read_timeout=5, total_timeout=10,
                         block_private=False)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite") as opened:
        yield opened


VOCABULARY = ("harbour", "miners", "teachers", "farmers", "nurses", "railway", "students", "builders",
              "drivers", "dockers", "pensioners", "tenants", "rents", "wages", "hospital", "schools",
              "water", "energy", "prices", "housing", "factory", "port", "strike", "march", "congress",
              "budget", "privatisation", "solidarity")


def title(source: str, n: int) -> str:
    """Six words of their own: the sources' items are not one story to deduplication."""
    return " ".join(random.Random(f"{source}-{n}").sample(VOCABULARY, 6))


def rss(source: str, count: int = 2) -> bytes:
    items = "".join(f"<item><title>{title(source, n)}</title>"
                    f"<link>https://{source}.example/{n}</link><guid>{source}-{n}</guid>"
                    f"<pubDate>Thu, 07 Dec 2017 1{n}:00:00 +0000</pubDate></item>" for n in range(count))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{source}</title>{items}' \
           f'</channel></rss>'.encode()


@pytest.fixture
def servers() -> Iterator[tuple[LocalServer, LocalServer]]:
    with LocalServer() as slow, LocalServer() as fast:
        yield slow, fast


class Finished:
    """The `done` callbacks of an engine's polls, in the order they came."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.reports: dict[str, SourceReport] = {}
        self.errors: list[BaseException] = []
        self._lock = threading.Condition()

    def __call__(self, report: SourceReport | None, state: SourceState | None,
                 error: BaseException | None) -> None:
        with self._lock:
            if report is not None:
                self.order.append(report.source_id)
                self.reports[report.source_id] = report
            if error is not None:
                self.errors.append(error)
            self._lock.notify_all()

    def wait_for(self, count: int, timeout: float = 30) -> None:
        with self._lock:
            ended = self._lock.wait_for(lambda: len(self.order) + len(self.errors) >= count, timeout)
            assert ended, self.order


def specs_on(server: LocalServer, prefix: str, count: int, delay: float = 0.0) -> list[SourceSpec]:
    """`count` sources of two items each on `server`, answering after `delay` seconds."""
    specs = []
    for n in range(count):
        path = f"/{prefix}-{n}.rss"
        server.script(path, Reply(200, rss(f"{prefix}{n}"), (("Content-Type", "application/rss+xml"),),
                                  delay=delay))
        specs.append(SourceSpec(f"{prefix}-{n}", server.url(path)))
    return specs


def test_host_queues_never_run_two_tasks_of_a_host_at_once_and_a_stuck_host_holds_one_thread() -> None:
    release = threading.Event()
    running: dict[str, int] = {"stuck": 0, "free": 0}
    most = {"stuck": 0, "free": 0}
    done: list[str] = []
    guard = threading.Lock()

    def task(host: str) -> None:
        with guard:
            running[host] += 1
            most[host] = max(most[host], running[host])
        if host == "stuck":
            release.wait(10)
        with guard:
            running[host] -= 1
            done.append(host)

    with HostQueues(2) as hosts:
        for _ in range(3):
            hosts.submit("stuck", lambda: task("stuck"))
        for _ in range(20):
            hosts.submit("free", lambda: task("free"))
        deadline = time.monotonic() + 10
        while done.count("free") < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        free_done_while_stuck = done.count("free")
        release.set()
        while done.count("stuck") < 3 and time.monotonic() < deadline + 10:
            time.sleep(0.01)
    assert free_done_while_stuck == 20  # all of the free host's tasks ran on the other thread
    assert done.count("stuck") == 3
    assert most == {"stuck": 1, "free": 1}


def test_a_slow_host_delays_only_its_own_sources(store: Store, tagger: Tagger,
                                                 servers: tuple[LocalServer, LocalServer]) -> None:
    slow, fast = servers
    slow_specs = specs_on(slow, "slow", 4, delay=0.5)
    fast_specs = specs_on(fast, "fast", 6)
    finished = Finished()
    setup = Setup(make_client(SETTINGS), SETTINGS, tagger)
    with Ingest(store, setup, fetch_workers=2, owns_client=True) as engine:
        for spec in [*slow_specs, *fast_specs]:  # the slow host's sources first
            assert engine.poll(spec, SourceState(spec.id, spec.url), finished, now=NOW)
        assert not engine.poll(slow_specs[0], SourceState(slow_specs[0].id, slow_specs[0].url), finished,
                               now=NOW)  # still on its way: not queued twice
        finished.wait_for(10)
    slow_done = [finished.order.index(spec.id) for spec in slow_specs]
    fast_done = [finished.order.index(spec.id) for spec in fast_specs]
    assert max(fast_done) < sorted(slow_done)[1]  # every fast source before the slow host's second
    assert not any_overlap(slow.requests)  # one request at a time per host
    assert all(report.ingest.new == 2 for report in finished.reports.values())
    assert store.source_item_count("fast-0") == 2 and store.source_item_count("slow-3") == 2


def test_an_ordered_engine_stores_in_the_order_given(store: Store, tagger: Tagger,
                                                     servers: tuple[LocalServer, LocalServer]) -> None:
    slow, fast = servers
    late = specs_on(slow, "late", 1, delay=0.3)
    early = specs_on(fast, "early", 3)
    finished = Finished()
    sources = [(spec, SourceState(spec.id, spec.url)) for spec in [*late, *early]]
    setup = Setup(make_client(SETTINGS), SETTINGS, tagger)
    with Ingest(store, setup, ordered=True, owns_client=True) as engine:
        for spec, state in sources:
            engine.poll(spec, state, finished, now=NOW)
        finished.wait_for(4)
        assert finished.order == ["late-0", "early-0", "early-1", "early-2"]
        reports = engine.run([(spec, store.source_state(spec.id) or state) for spec, state in sources],
                             NOW.replace(hour=13))
    assert [report.source_id for report in reports] == [spec.id for spec, _ in sources]


class Watched(HttpClient):
    """A real client that remembers whether it was closed."""

    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


def watched(settings: FetchSettings) -> Watched:
    client = make_client(settings)
    mine = Watched(client.transport, client.headers)
    return mine


def test_a_new_client_is_swapped_in_while_a_fetch_is_on_the_wire(
        store: Store, tagger: Tagger, servers: tuple[LocalServer, LocalServer]) -> None:
    slow, _fast = servers
    (spec,) = specs_on(slow, "slow", 1, delay=1.5)
    old, new = watched(SETTINGS), watched(SETTINGS)
    finished = Finished()
    with Ingest(store, Setup(old, SETTINGS, tagger), owns_client=True) as engine:
        engine.poll(spec, SourceState(spec.id, spec.url), finished, now=NOW)
        time.sleep(0.3)  # the request is on the wire: the server answers after 1.5 s
        engine.configure(Setup(new, SETTINGS, tagger), owns_client=True)
        assert not old.closed  # its fetch is still running
        finished.wait_for(1)
        assert finished.reports["slow-0"].status == "ok" and finished.reports["slow-0"].ingest.new == 2
        assert old.closed and not new.closed
        assert engine.setup.client is new
    assert new.closed


def test_a_failed_commit_leaves_the_source_as_it_was_and_the_next_one_recovers(
        store: Store, tagger: Tagger, servers: tuple[LocalServer, LocalServer]) -> None:
    _slow, fast = servers
    (spec,) = specs_on(fast, "fast", 1)
    errors: list[StoreError | None] = []
    finished = Finished()
    with Ingest(store, Setup(make_client(SETTINGS), SETTINGS, tagger), owns_client=True,
                on_store_error=errors.append) as engine:
        engine.call(lambda store: store._db.execute("PRAGMA query_only = ON"))  # writes now fail
        engine.poll(spec, SourceState(spec.id, spec.url), finished, now=NOW)
        finished.wait_for(1)
        assert isinstance(finished.errors[0], StoreError) and store.path in str(finished.errors[0])
        assert store.source_state(spec.id) is None and store.source_item_count(spec.id) == 0
        engine.call(lambda store: store._db.execute("PRAGMA query_only = OFF"))
        engine.poll(spec, SourceState(spec.id, spec.url), finished, now=NOW)
        finished.wait_for(2)
    assert [type(e).__name__ if e else None for e in errors] == ["StoreError", None]
    assert finished.reports["fast-0"].ingest.new == 2


def test_closing_drops_queued_fetches_and_stores_nothing_half_done(
        store: Store, tagger: Tagger, servers: tuple[LocalServer, LocalServer]) -> None:
    slow, _fast = servers
    specs = specs_on(slow, "slow", 3, delay=0.3)
    engine = Ingest(store, Setup(make_client(SETTINGS), SETTINGS, tagger), owns_client=True)
    for spec in specs:
        engine.poll(spec, SourceState(spec.id, spec.url), now=NOW)
    assert engine.close(grace=5)
    assert len(slow.requests) <= 1  # the queued two were never asked for
    assert not engine.poll(specs[0], SourceState(specs[0].id, specs[0].url), now=NOW)
    stored = [spec.id for spec in specs if store.source_state(spec.id) is not None]
    assert stored in ([], ["slow-0"])


@pytest.mark.parametrize("ordered", [True, False])
def test_more_bodies_than_the_prepare_window_are_all_stored(
        store: Store, tagger: Tagger, servers: tuple[LocalServer, LocalServer],
        monkeypatch: pytest.MonkeyPatch, ordered: bool) -> None:
    from feeds import ingest

    monkeypatch.setattr(ingest, "PREPARE_WINDOW", 2)  # most bodies wait for room after a commit
    _slow, fast = servers
    specs = specs_on(fast, "fast", 9)
    setup = Setup(make_client(SETTINGS), SETTINGS, tagger)
    with Ingest(store, setup, ordered=ordered, owns_client=True) as engine:
        reports = engine.run([(spec, SourceState(spec.id, spec.url)) for spec in specs], NOW)
    assert [report.ingest.new for report in reports] == [2] * 9
