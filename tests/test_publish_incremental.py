"""A publish renders only the feeds whose inputs changed, with the same bytes as a full one."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tracemalloc
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from feeds import forkserver, pipeline
from feeds import publish as publish_module
from feeds import store as store_module
from feeds.model import SiteInfo
from feeds.publish import documents, write
from feeds.publish.compose import PublishOptions
from feeds.store import Store
from feeds.store.schema import MIGRATIONS
from feeds.tag.registry import Registry
from tests.test_archive import OPTIONS, T0, make, save

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out


def _site(tmp_path: Path) -> SiteInfo:
    return SiteInfo(title="incremental", base_url="https://example.org/", author_name="partyfeeds",
                    entries_per_feed=8)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_only_the_changed_feeds_are_rendered_and_the_bytes_match_a_fresh_publish(
        tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    store, site, out = Store(":memory:"), _site(tmp_path), tmp_path / "public"
    items = [make(n) for n in range(30)]
    save(store, items)
    pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    rendered: list[str] = []
    original = documents.files

    def spy(job: documents.Job, *args: Any, **kwargs: Any) -> tuple[bytes, bytes]:
        rendered.append(job.doc.path)
        return original(job, *args, **kwargs)

    monkeypatch.setattr(documents, "files", spy)
    assert pipeline.publish(store, registry, site, out, OPTIONS, now=T0).written == []
    assert rendered == []
    save(store, [make(31)])
    report = pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    assert "all.atom" in rendered and len(rendered) < 8
    fresh = Store(":memory:")
    save(fresh, [*items, make(31)])
    shutil.rmtree(tmp_path / "fresh", ignore_errors=True)
    pipeline.publish(fresh, registry, site, tmp_path / "fresh", OPTIONS, now=T0)
    assert _files(out) == _files(tmp_path / "fresh")
    assert "index.html" in report.written


def test_a_head_edited_by_hand_is_put_back(tmp_path: Path, registry: Registry) -> None:
    store, site, out = Store(":memory:"), _site(tmp_path), tmp_path / "public"
    save(store, [make(n) for n in range(5)])
    pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    before = (out / "all.atom").read_bytes()
    (out / "all.atom").write_bytes(b"<feed/>")
    assert "all.atom" in pipeline.publish(store, registry, site, out, OPTIONS, now=T0).written
    assert (out / "all.atom").read_bytes() == before


def test_a_revised_item_moves_the_watermark(tmp_path: Path, registry: Registry) -> None:
    store = Store(":memory:")
    save(store, [make(1)])
    first = store.change_mark()
    save(store, [replace(make(1), title="Item 1 (revised)", updated=T0 + timedelta(days=1))])
    assert store.change_mark() > first


Run = tuple[publish_module.PublishReport, dict[str, bytes]]


def _publish_with(tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch, module: Any,
                  name: str, values: tuple[int, ...]) -> list[Run]:
    """The same 40 items published once per value of `module.name`: each run's report and files."""
    site, items, runs = _site(tmp_path), [make(n) for n in range(40)], []
    for value in values:
        monkeypatch.setattr(module, name, value)
        with Store(tmp_path / f"{name}-{value}.sqlite") as store:
            save(store, items)
            report = pipeline.publish(store, registry, site, tmp_path / f"{name}-{value}", OPTIONS, now=T0,
                                      workers=2)
        runs.append((report, _files(tmp_path / f"{name}-{value}")))
    return runs


def test_documents_rendered_on_worker_processes_are_the_ones_rendered_in_process(
        tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = _publish_with(tmp_path, registry, monkeypatch, publish_module, "PARALLEL_JOBS", (10_000, 1))
    serial, parallel = runs
    assert all(any(path.startswith("archive/") for path in report.written) for report, _ in runs)
    assert serial[1] == parallel[1]


def test_items_read_off_one_cursor_render_as_items_read_by_id(
        tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    by_id, streamed = _publish_with(tmp_path, registry, monkeypatch, documents, "STREAM_MIN", (10_000, 1))
    assert by_id[1] == streamed[1]


def test_a_store_published_before_the_history_index_was_dropped_goes_on_publishing(
        tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    site, items = _site(tmp_path), [make(n) for n in range(30)]
    dropped = next(n for n, script in enumerate(MIGRATIONS)
                   if "DROP INDEX IF EXISTS feed_entries_by_item" in script)
    with Store(tmp_path / "old.sqlite") as store:
        save(store, items)
        pipeline.publish(store, registry, site, tmp_path / "old", OPTIONS, now=T0)
    with sqlite3.connect(tmp_path / "old.sqlite") as db:  # as the code before that migration left it
        db.execute("CREATE INDEX feed_entries_by_item ON feed_entries (item_id)")
        db.execute(f"PRAGMA user_version = {dropped}")
    # The migrations after it are in this store already (it was built by today's code): they
    # stand in as no-ops, so opening runs the index drop alone, through the store's own path.
    later = len(MIGRATIONS) - dropped - 1
    with monkeypatch.context() as patched:
        patched.setattr(store_module, "MIGRATIONS", (*MIGRATIONS[:dropped + 1], *["SELECT 1;"] * later))
        Store(tmp_path / "old.sqlite").close()
    with Store(tmp_path / "old.sqlite") as store:
        index = "SELECT 1 FROM sqlite_master WHERE name = 'feed_entries_by_item'"
        assert not store._db.execute(index).fetchall()
        assert store.schema_version == len(MIGRATIONS)
        store.check()
        save(store, [make(31), replace(make(3), title="Item 3, revised", updated=T0 + timedelta(days=1))])
        pipeline.publish(store, registry, site, tmp_path / "old", OPTIONS, now=T0)
    with Store(tmp_path / "fresh.sqlite") as fresh:
        save(fresh, items)
        pipeline.publish(fresh, registry, site, tmp_path / "fresh", OPTIONS, now=T0)
        save(fresh, [make(31), replace(make(3), title="Item 3, revised", updated=T0 + timedelta(days=1))])
        pipeline.publish(fresh, registry, site, tmp_path / "fresh", OPTIONS, now=T0)
    assert _files(tmp_path / "old") == _files(tmp_path / "fresh")


def test_a_publish_deletes_the_temporary_files_a_crashed_one_left(tmp_path: Path, registry: Registry) -> None:
    store, site, out = Store(":memory:"), _site(tmp_path), tmp_path / "public"
    save(store, [make(n) for n in range(5)])
    pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    leftover = out / "party" / ".kke.atom.x1y2.tmp"
    leftover.write_bytes(b"<feed")  # what a publish killed between writing and renaming leaves
    os.utime(leftover, (0, 0))

    pipeline.publish(store, registry, site, out, OPTIONS, now=T0)

    assert not leftover.exists()


def _first_publish_peak(tmp_path: Path, registry: Registry, items: int) -> int:
    """tracemalloc's peak over a first publish of `items` items (pages of 50, as configured by
    default), in bytes."""
    site = replace(_site(tmp_path), entries_per_feed=50)
    with Store(tmp_path / "s.sqlite") as store:
        save(store, [make(n) for n in range(items)])
        tracemalloc.start()
        try:
            pipeline.publish(store, registry, site, tmp_path / "public", PublishOptions(by_country=True),
                             now=T0)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_a_first_publish_holds_a_chunk_of_items_not_the_store(
        tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory is bounded by the documents rendered together (CHUNK_ENTRIES) and the files
    written together (BATCH_BYTES), both made small here, not by the items stored: four times
    the items add only what is kept per file written (its job, its path). Holding every
    item's id, its uses and its places cost ~280 bytes an item."""
    monkeypatch.setattr(documents, "CHUNK_ENTRIES", 500)
    monkeypatch.setattr(write, "BATCH_BYTES", 256 * 1024)
    small, large = (_first_publish_peak(tmp_path / str(n), registry, n) for n in (1000, 4000))
    assert (large - small) / 3000 < 150  # bytes per item added


def test_a_backlog_starts_the_render_workers_before_the_histories_and_a_few_changes_do_not(
        tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    extend = publish_module._extend_history

    def history(*args: Any) -> Any:
        events.append("history")
        return extend(*args)

    monkeypatch.setattr(forkserver, "start_in_background", lambda: events.append("forkserver"))
    monkeypatch.setattr(publish_module, "_extend_history", history)
    monkeypatch.setattr(publish_module, "EARLY_START_CHANGES", 30)
    site, out = _site(tmp_path), tmp_path / "public"
    with Store(tmp_path / "backlog.sqlite") as store:
        save(store, [make(n) for n in range(40)])  # 40 changes since the (absent) marks
        pipeline.publish(store, registry, site, out, OPTIONS, now=T0, workers=2)
        assert events[0] == "forkserver" and events.count("forkserver") == 1 and "history" in events
        events.clear()
        save(store, [make(n) for n in range(40, 45)])  # 5 changes since the last publish
        pipeline.publish(store, registry, site, out, OPTIONS, now=T0, workers=2)
        assert "forkserver" not in events and "history" in events


def test_render_workers_that_cannot_start_leave_the_rendering_to_this_process(
        tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def no_semaphores(*args: object, **kwargs: object) -> None:
        raise OSError(38, "Function not implemented")

    (serial,) = _publish_with(tmp_path / "serial", registry, monkeypatch, publish_module, "PARALLEL_JOBS",
                              (10_000,))
    monkeypatch.setattr(documents, "ProcessPoolExecutor", no_semaphores)
    with caplog.at_level("WARNING", logger="feeds.publish"):
        (fallback,) = _publish_with(tmp_path, registry, monkeypatch, publish_module, "PARALLEL_JOBS", (1,))
    assert fallback[1] == serial[1] and sorted(fallback[0].written) == sorted(serial[0].written)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "rendering in this process" in warnings[0] and "OSError" in warnings[0]


@pytest.mark.parametrize(("workers", "path"), [(1, "file"), (2, ":memory:")])
def test_a_publish_starts_no_process_unless_its_caller_allows_one_it_can_use(
        tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch, workers: int, path: str) -> None:
    """workers=1 (the library's default), or a database worker processes cannot open: the same
    large run renders in this process."""
    started: list[str] = []
    monkeypatch.setattr(forkserver, "start_in_background", lambda: started.append("forkserver"))
    monkeypatch.setattr(documents, "ProcessPoolExecutor", lambda *a, **k: started.append("pool"))
    monkeypatch.setattr(publish_module, "PARALLEL_JOBS", 1)
    monkeypatch.setattr(publish_module, "EARLY_START_CHANGES", 1)
    with Store(tmp_path / "db.sqlite" if path == "file" else path) as store:
        save(store, [make(n) for n in range(40)])
        report = pipeline.publish(store, registry, _site(tmp_path), tmp_path / "public", OPTIONS, now=T0,
                                  workers=workers)
    assert started == [] and any(path.startswith("archive/") for path in report.written)


@pytest.mark.parametrize("heads_first_pages", [1, 10_000])  # heads live first, or pages then heads
def test_every_link_a_head_puts_in_place_resolves_and_a_first_publish_makes_heads_live_first(
        tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch, heads_first_pages: int) -> None:
    """Whenever a head (Atom or JSON Feed) is put in place, the archive page it links to is there;
    a big run puts every head in place before any page, and the same bytes as a plain run."""
    monkeypatch.setattr(publish_module, "HEADS_FIRST_PAGES", heads_first_pages)
    site, out = _site(tmp_path), tmp_path / "public"
    placed: list[str] = []
    original = os.replace

    def checked(source: Any, target: Any) -> None:
        relpath = Path(target).relative_to(out).as_posix()
        if not relpath.startswith("archive/") and relpath.endswith((".atom", ".json")):
            text = Path(source).read_text("utf-8")
            for link in re.findall(r'rel="prev-archive" href="([^"]+)"|"next_url": "([^"]+)"', text):
                page = (link[0] or link[1]).removeprefix(site.base_url)
                assert (out / page).is_file(), f"{relpath} put in place linking to {page}, not there yet"
        placed.append(relpath)
        original(source, target)

    monkeypatch.setattr(write.os, "replace", checked)
    with Store(tmp_path / "s.sqlite") as store:
        save(store, [make(n) for n in range(60)])
        report = pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    pages = [n for n, path in enumerate(placed) if path.startswith("archive/")]
    heads = [n for n, path in enumerate(placed) if path.endswith(".atom") and "/" not in path]
    assert pages and heads and report.heads_live > 0
    if heads_first_pages == 1:  # every head live before the first page
        assert {placed[n] for n in heads if n < min(pages)} == {placed[n] for n in heads}
    else:
        assert max(pages) < min(heads)  # pages, then the heads that link to them
    assert sorted(report.written) == sorted(set(report.written))
    monkeypatch.setattr(write.os, "replace", original)
    plain = tmp_path / "plain"
    with Store(tmp_path / "s.sqlite") as store:
        pipeline.publish(store, registry, site, plain, OPTIONS, now=T0)
    assert _files(plain) == _files(out)
