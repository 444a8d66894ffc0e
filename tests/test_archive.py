"""RFC 5005 archives: the chain cut (pure), then whole publishes walked over HTTP like a client."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from feeds import pipeline
from feeds.model import Item, SiteInfo, SourceRef, atom_id, item_id
from feeds.publish import write
from feeds.publish.archive import chain, full_pages, page_path
from feeds.publish.compose import ComposedFeed, PublishOptions
from feeds.store import Store
from feeds.store.query import All, Term
from feeds.tag.registry import Registry
from scheduler.server import FeedServer
from tests.atomcheck import assert_valid_atom
from tests.feedwalk import FH_ARCHIVE, links, walk_atom, walk_json

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 1, 1, tzinfo=UTC)
PARTIES = ("kke", "tkp", "psl")
PAGE, HEAD = 5, 4
PALESTINE = ComposedFeed("kke-tkp-palestine", "KKE and TKP on Palestine", path="feeds/kke-tkp-palestine.atom",
                         query=All((Term("party", ("kke", "tkp")), Term("topic", ("palestine",)))))
OPTIONS = PublishOptions(archive_page_size=PAGE, by_country=True, composed=(PALESTINE,))


@pytest.mark.parametrize("total", [0, 1, 3, 4, 5, 8, 9, 10, 13, 14, 57])
def test_chain_covers_every_entry_once_and_the_head_keeps_head_min(total: int) -> None:
    documents = chain("party/kke.atom", total, PAGE, HEAD)
    head, pages = documents[0], documents[1:]
    covered = [n for doc in documents for n in range(doc.first, doc.last + 1)]
    assert sorted(covered) == list(range(1, total + 1)) and len(covered) == total
    size = head.last - head.first + 1
    assert size == total if total < HEAD + PAGE else HEAD <= size < HEAD + PAGE
    assert all(doc.last - doc.first + 1 == PAGE for doc in pages)  # every archive page is full
    assert len(pages) == full_pages(total, PAGE, HEAD)
    assert [doc.page for doc in pages] == list(range(len(pages), 0, -1))


def test_chain_links_point_along_the_chain() -> None:
    head, newest, *_, first = chain("party/kke.atom", 23, PAGE, HEAD)
    assert head.prev_archive == newest.path == page_path("party/kke.atom", 3) == "archive/party/kke/3.atom"
    assert newest.prev_archive == "archive/party/kke/2.atom" and first.prev_archive is None
    assert newest.next_archive == "archive/party/kke/4.atom"  # fixed now: the page never changes
    assert {doc.current for doc in (head, newest, first)} == {"party/kke.atom"}
    assert newest.json_path == "archive/party/kke/3.json" and not head.is_archive


# --- publish and walk ------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FeedServer]:
    with FeedServer(tmp_path / "public") as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


def make(n: int, **fields: object) -> Item:
    """Item n, n minutes after T0; parties and topics rotate so feeds overlap differently."""
    party = PARTIES[n % 3]
    values: dict[str, object] = {
        "id": item_id(f"archive-{n}"), "title": f"Item {n}", "link": f"https://example.org/{n}",
        "summary": f"Summary {n}", "content": "", "published": T0 + timedelta(minutes=n),
        "updated": T0 + timedelta(minutes=n), "sources": (SourceRef("agency", "Agency"),),
        "parties": (party,), "topics": ("palestine",) if n % 2 else ("elections",),
    }
    values.update(fields)
    return Item(**values)  # type: ignore[arg-type]


def save(store: Store, items: list[Item]) -> None:
    with store.transaction():
        for item in items:
            store.save(item, keys=[item.id], bands=[], revision="", first_seen=T0)


def site_for(server: FeedServer) -> SiteInfo:
    return SiteInfo(title="archive test", base_url=server.url, author_name="partyfeeds",
                    entries_per_feed=HEAD)


def expected(items: list[Item], selects: Callable[[Item], bool]) -> list[str]:
    """The ids a walk must return: every selected item once, newest (updated, id) first."""
    chosen = sorted((i for i in items if selects(i)), key=lambda i: (i.updated, i.id), reverse=True)
    return [atom_id(i.id) for i in chosen]


FEEDS: dict[str, Callable[[Item], bool]] = {
    "all.atom": lambda i: True,
    "party/kke.atom": lambda i: "kke" in i.parties,
    "party/psl.atom": lambda i: "psl" in i.parties,
    "topic/palestine.atom": lambda i: "palestine" in i.topics,
    "country/tr.atom": lambda i: "tkp" in i.parties,
    "feeds/kke-tkp-palestine.atom": lambda i: bool({"kke", "tkp"} & set(i.parties))
                                              and "palestine" in i.topics,
}


def test_walking_each_chain_gets_every_item_once_newest_first(server: FeedServer, client: httpx.Client,
                                                             registry: Registry) -> None:
    items = [make(n) for n in range(57)]
    store = Store(":memory:")
    save(store, items)
    pipeline.publish(store, registry, site_for(server), Path(server.site.output_dir), OPTIONS, now=T0)
    for path, selects in FEEDS.items():
        want = expected(items, selects)
        walk = walk_atom(client, server.url + path)
        assert walk.entry_ids == want, path
        assert len(walk.documents) == 1 + full_pages(len(want), PAGE, HEAD), path
        json_walk = walk_json(client, server.url + path.replace(".atom", ".json"))
        assert json_walk.entry_ids == want and len(json_walk.documents) == len(walk.documents), path


def test_full_pages_never_change_while_the_feed_grows_and_items_are_revised(
        server: FeedServer, client: httpx.Client, registry: Registry) -> None:
    out, site = Path(server.site.output_dir), site_for(server)
    items = [make(n) for n in range(30)]
    store = Store(":memory:")
    save(store, items)
    pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    pages = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "archive").rglob("*") if p.is_file()}
    assert len(pages) > 10
    # An archived item is revised (updated moves to the newest), and ten new items arrive.
    revised = replace(items[2], title="Item 2 (updated)", updated=T0 + timedelta(days=1))
    save(store, [revised, *(make(n) for n in range(30, 40))])
    report = pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in pages} == pages  # not even touched
    assert not [w for w in report.written if w in {str(p.relative_to(out)) for p in pages}]
    assert "archive/all/7.atom" in report.written  # 40 entries: 7 pages of 5, a head of 5
    walk = walk_atom(client, server.url + "all.atom")
    assert sorted(walk.entry_ids) == sorted(atom_id(make(n).id) for n in range(40))
    assert len(walk.entry_ids) == len(set(walk.entry_ids)) == 40  # the revised item once, in its page
    again = pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    assert again.written == [] and again.removed == []


def test_a_revised_item_still_in_the_head_shows_its_new_version(server: FeedServer, client: httpx.Client,
                                                                registry: Registry) -> None:
    out, site = Path(server.site.output_dir), site_for(server)
    items = [make(n) for n in range(12)]
    store = Store(":memory:")
    save(store, items)
    pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    save(store, [replace(items[-1], title="Item 11 (updated)", updated=T0 + timedelta(days=1))])
    report = pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    assert "all.atom" in report.written and not [w for w in report.written if w.startswith("archive/")]
    assert b"Item 11 (updated)" in (out / "all.atom").read_bytes()
    assert walk_atom(client, server.url + "all.atom").entry_ids == expected(
        [*items[:-1], replace(items[-1], updated=T0 + timedelta(days=1))], lambda i: True)


def test_archive_pages_link_forward_back_and_to_the_head(server: FeedServer, client: httpx.Client,
                                                         registry: Registry) -> None:
    store = Store(":memory:")
    save(store, [make(n) for n in range(23)])  # 3 pages, a head of 8
    pipeline.publish(store, registry, site_for(server), Path(server.site.output_dir), OPTIONS, now=T0)
    url = server.url + "archive/all/1.atom"
    seen = []
    while True:
        response = client.get(url)
        if response.status_code == 404:
            break
        seen.append(url)
        root = assert_valid_atom(response.content)
        assert root.find(FH_ARCHIVE) is not None
        found = links(root)
        assert found["current"] == server.url + "all.atom" and found["self"] == url
        url = found["next-archive"]
    assert seen == [server.url + f"archive/all/{n}.atom" for n in (1, 2, 3)]
    assert url == server.url + "archive/all/4.atom"  # named already, published when it is full


def test_a_changed_query_restarts_the_feeds_history(server: FeedServer, client: httpx.Client,
                                                    registry: Registry) -> None:
    out, site = Path(server.site.output_dir), site_for(server)
    items = [make(n) for n in range(40)]
    store = Store(":memory:")
    save(store, items)
    pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    only_kke = replace(PALESTINE, query=Term("party", ("kke",)))
    report = pipeline.publish(store, registry, site, out, replace(OPTIONS, composed=(only_kke,)), now=T0)
    walk = walk_atom(client, server.url + PALESTINE.path)
    assert walk.entry_ids == expected(items, lambda i: "kke" in i.parties)
    assert len(walk.documents) == 1 + full_pages(14, PAGE, HEAD)
    archive = out / "archive/feeds/kke-tkp-palestine"
    assert sorted(p.name for p in archive.iterdir()) == ["1.atom", "1.json", "2.atom", "2.json"]
    assert "archive/feeds/kke-tkp-palestine/1.atom" in report.written  # rewritten: new membership


def test_a_feed_without_archives_has_no_archive_links(server: FeedServer, client: httpx.Client,
                                                      registry: Registry) -> None:
    store = Store(":memory:")
    save(store, [make(n) for n in range(3)])
    pipeline.publish(store, registry, site_for(server), Path(server.site.output_dir), OPTIONS, now=T0)
    walk = walk_atom(client, server.url + "all.atom")
    assert walk.documents == [server.url + "all.atom"] and len(walk.entry_ids) == 3
    assert not (Path(server.site.output_dir) / "archive" / "all").exists()


def test_a_moved_site_rewrites_the_archive_pages_once(server: FeedServer, client: httpx.Client,
                                                      registry: Registry, tmp_path: Path) -> None:
    # First published for another address (a second local server that holds nothing), as when
    # a first run used the default site.base_url; then site.base_url names `server`.
    out, site = Path(server.site.output_dir), site_for(server)
    items = [make(n) for n in range(40)]
    store = Store(":memory:")
    save(store, items)
    with FeedServer(tmp_path / "elsewhere") as old:
        pipeline.publish(store, registry, replace(site, base_url=old.url), out, OPTIONS, now=T0)
        pages = [p for p in (out / "archive").rglob("*") if p.is_file()]
        assert pages and all(old.url.encode() in p.read_bytes() for p in pages)
        report = pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
        assert {str(p.relative_to(out)) for p in pages} <= set(report.written)
        assert not [p for p in pages if old.url.encode() in p.read_bytes()]
        for path, selects in FEEDS.items():  # the chains lead through `server` only
            walk = walk_atom(client, server.url + path)
            assert walk.entry_ids == expected(items, selects), path
            assert all(url.startswith(server.url) for url in walk.documents), path
    again = pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    assert again.written == []


def test_pages_of_a_store_from_before_base_urls_were_recorded_stay_as_they_are(
        server: FeedServer, registry: Registry) -> None:
    out, site = Path(server.site.output_dir), site_for(server)
    store = Store(":memory:")
    save(store, [make(n) for n in range(30)])
    pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    store._db.execute("UPDATE feed_marks SET pages_base = ''")  # as migrated: not known
    pages = {p: p.stat().st_mtime_ns for p in (out / "archive").rglob("*") if p.is_file()}
    assert pipeline.publish(store, registry, site, out, OPTIONS, now=T0).written == []
    assert {p: p.stat().st_mtime_ns for p in pages} == pages
    assert {store.feed_mark(feed).pages_base for feed in store.feed_logs()} == {site.base_url}


def _age(folders: Iterator[Path]) -> None:
    """Date folders an hour back, as if the publish that filled them was long ago."""
    for folder in folders:
        os.utime(folder, (time.time() - 3600, time.time() - 3600))


def test_an_untouched_archive_folder_is_not_listed_and_a_touched_one_is_put_right(
        tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder whose stamp is the one its feed's mark recorded holds just the pages the mark
    counts: a publish after a change lists none of them. A page deleted by hand or a stray
    file put there change the stamp: that folder is listed again, the page put back, the stray
    removed, and the files are those of a fresh publish."""
    out, site = tmp_path / "public", site_for_path()
    store = Store(":memory:")
    save(store, [make(n) for n in range(40)])
    pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    folders = [p for p in (out / "archive").rglob("*") if p.is_dir() and any(p.glob("*.atom"))]
    _age(iter(folders))  # a folder changed under SETTLED_SECONDS ago gets no stamp
    pipeline.publish(store, registry, site, out, OPTIONS, now=T0)  # lists them, stamps them
    assert all(store.feed_mark(feed).pages_stamp for feed in ("all", "party/kke"))
    listed: list[str] = []
    scandir = os.scandir

    def spy(path: str) -> Any:
        listed.append(Path(path).relative_to(out).as_posix())
        return scandir(path)

    monkeypatch.setattr(write.os, "scandir", spy)
    save(store, [make(40)])
    pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    feed_folders = {p.relative_to(out).as_posix() for p in folders}
    assert "archive/all" in feed_folders and not feed_folders & set(listed)
    (out / "archive/all/2.atom").unlink()
    (out / "archive/party/kke/99.json").write_text("{}")
    listed.clear()
    report = pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    assert "archive/all/2.atom" in report.written and report.removed == ["archive/party/kke/99.json"]
    # Listed: the two touched, and those the last publish added a page to (changed too lately
    # to be stamped); not the others.
    assert {"archive/all", "archive/party/kke"} <= set(listed) and "archive/party/psl" not in listed
    monkeypatch.undo()
    pipeline.publish(store, registry, site, tmp_path / "fresh", OPTIONS, now=T0)
    assert _tree(out) == _tree(tmp_path / "fresh")


def test_a_stray_folder_inside_an_archive_folder_is_listed_and_its_feed_files_removed(
        tmp_path: Path, registry: Registry) -> None:
    out, site = tmp_path / "public", site_for_path()
    store = Store(":memory:")
    save(store, [make(n) for n in range(30)])
    pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    _age(p for p in (out / "archive").rglob("*") if p.is_dir())
    pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    (out / "archive/all/extra").mkdir()
    (out / "archive/all/extra/1.atom").write_text("<feed/>")
    _age(iter([out / "archive/all"]))  # even with its old mtime back: it has a subfolder now
    report = pipeline.publish(store, registry, site, out, OPTIONS, now=T0)
    assert report.removed == ["archive/all/extra/1.atom"]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def site_for_path() -> SiteInfo:
    return SiteInfo(title="archive test", base_url="https://example.org/", author_name="partyfeeds",
                    entries_per_feed=HEAD)
