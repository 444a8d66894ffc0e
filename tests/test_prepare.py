"""The CPU half of ingest (feeds.prepare) gives the same results in worker processes as in-process."""

from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feeds import prepare as prep
from feeds.model import SourceSpec
from feeds.parse import parse_feed
from feeds.parse.normalise import guid_links, normalise_feed
from feeds.tag import Tagger, tag_item
from feeds.tag.registry import load_registry

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
ROOT = Path(__file__).parent.parent
TAGGER = Tagger(load_registry(ROOT / "registry" / "parties.yaml", ROOT / "registry" / "topics.yaml"))


def jobs() -> list[prep.Job]:
    found = sorted(p for p in FEEDS.iterdir() if p.is_file() and not p.name.endswith(".json"))
    spec = SourceSpec(id="fixture", url="https://example.org/feed", party=None, language=None)
    return [prep.Job(path.read_bytes(), {}, f"https://example.org/{path.name}", spec, NOW, {})
            for path in found]


def test_prepare_is_parse_then_normalise_then_tag() -> None:
    job = next(j for j in jobs() if j.url.endswith("drupal-es.rss"))
    parsed = parse_feed(job.body, job.headers, job.url)
    prepared = prep.prepare(job, TAGGER)
    normalised = normalise_feed(parsed, job.spec, NOW, {})
    assert list(prepared.items) == [tag_item(TAGGER, item) for item in normalised]
    assert any(item.parties for item in prepared.items)
    assert prepared.guid_links == guid_links(parsed)
    assert len(prepared.bands) == len(prepared.items)


def test_unusable_feeds_come_back_as_parse_errors() -> None:
    broken = next(j for j in jobs() if j.url.endswith("html-page.html"))
    prepared = prep.prepare(broken, TAGGER)
    assert prepared.parse_error and prepared.guid_links is None and prepared.items == ()


def test_worker_processes_give_the_same_results_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prep, "MIN_POOL_BATCH", 2)
    batch = jobs() * 3
    in_process = [prep.prepare(job, TAGGER) for job in batch]
    assert list(prep.prepare_all(batch, TAGGER, workers=2)) == in_process
    assert any(p.parse_error for p in in_process) and any(p.items for p in in_process)
    assert any(p.encoding_note for p in in_process)  # comes back from the workers, to be logged here


def test_page_sources_take_their_settings_to_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page source's selectors and channel travel with its job to a worker process."""
    monkeypatch.setattr(prep, "MIN_POOL_BATCH", 2)
    pages = FEEDS.parent / "pages"
    html = SourceSpec("site", "https://inter.kke.example/en/", party="kke", language="en", kind="html",
                      select=(("item", "article.post"), ("title", "h2 a"), ("link", "h2 a@href"),
                              ("date", "time.published"), ("summary", ".entry-summary")))
    telegram = SourceSpec("channel", "https://t.me/s/kke_example", kind="telegram", channel="kke_example")
    batch = [prep.Job((pages / name).read_bytes(), {}, spec.url, spec, NOW, {}) for name, spec in (
        ("wordpress-listing.html", html), ("telegram-preview.html", telegram),
        ("wordpress-redesigned.html", html))] * 2
    in_process = [prep.prepare(job, TAGGER) for job in batch]
    assert list(prep.prepare_all(batch, TAGGER, workers=2)) == in_process
    assert [len(p.items) for p in in_process[:3]] == [4, 6, 0]
    assert "'article.post' matches nothing" in (in_process[2].parse_error or "")


def test_small_batches_stay_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pool was started")

    monkeypatch.setattr(prep, "ProcessPoolExecutor", no_pool)
    batch = jobs()[:3]
    assert list(prep.prepare_all(batch, TAGGER, workers=2)) == [prep.prepare(job, TAGGER) for job in batch]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_stage_hands_each_job_to_its_callback(monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    monkeypatch.setattr(prep, "MIN_POOL_BATCH", 2)
    batch = jobs()[:3]
    got: dict[int, prep.Prepared | BaseException] = {}
    with prep.PrepareStage(workers) as stage:
        for n, job in enumerate(batch):
            stage.submit(job, TAGGER, lambda ready, n=n: got.__setitem__(n, ready))  # type: ignore[misc]
    assert got == {n: prep.prepare(job, TAGGER) for n, job in enumerate(batch)}


def test_a_new_tagger_gets_workers_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prep, "MIN_POOL_BATCH", 1)
    other = Tagger(load_registry(ROOT / "registry" / "parties.yaml", ROOT / "registry" / "topics.yaml"))
    job = next(j for j in jobs() if j.url.endswith("drupal-es.rss"))
    results = list(prep.prepare_all([job], TAGGER, workers=2))
    with prep.PrepareStage(2) as stage:
        futures = []
        for tagger in (TAGGER, other):
            future: Future[prep.Prepared] = Future()
            stage.submit(job, tagger, prep._resolver(future))
            futures.append(future)
        first_pool_tagger = stage._pool_tagger
        results += [f.result() for f in futures]
    assert first_pool_tagger is other  # the second job replaced the first pool
    assert results[0] == results[1] == results[2]


class _NoSemaphores:
    """A ProcessPoolExecutor where POSIX semaphores are missing (some containers)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise OSError(38, "Function not implemented")


class _DeadWorkers:
    """A ProcessPoolExecutor whose workers were killed (the OOM killer): every job fails."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.shut_down = False

    def submit(self, *args: object) -> Future[prep.Prepared]:
        future: Future[prep.Prepared] = Future()
        future.set_exception(BrokenProcessPool("A child process terminated abruptly"))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.shut_down = True


@pytest.mark.parametrize("pool", [_NoSemaphores, _DeadWorkers])
def test_workers_that_cannot_start_or_die_leave_the_jobs_to_this_process(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, pool: type) -> None:
    monkeypatch.setattr(prep, "MIN_POOL_BATCH", 2)
    monkeypatch.setattr(prep, "ProcessPoolExecutor", pool)
    batch = jobs() * 2
    with caplog.at_level("WARNING", logger="feeds.prepare"):
        prepared = list(prep.prepare_all(batch, TAGGER, workers=2))
    assert prepared == [prep.prepare(job, TAGGER) for job in batch]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "preparing feeds in this process" in warnings[0]
    assert ("OSError" if pool is _NoSemaphores else "BrokenProcessPool") in warnings[0]


def test_a_bug_in_a_worker_still_re_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    class Buggy(_DeadWorkers):
        def submit(self, *args: object) -> Future[prep.Prepared]:
            future: Future[prep.Prepared] = Future()
            future.set_exception(KeyError("a bug"))
            return future

    monkeypatch.setattr(prep, "MIN_POOL_BATCH", 2)
    monkeypatch.setattr(prep, "ProcessPoolExecutor", Buggy)
    with pytest.raises(KeyError, match="a bug"):
        list(prep.prepare_all(jobs() * 2, TAGGER, workers=2))
