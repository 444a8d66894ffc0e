"""One measurement per process: `python -m bench.runs SCENARIO ARGS-JSON` prints one JSON line.

A fresh process per run keeps runs apart (no warm caches, no leftover
memory) and makes its peak RSS that run's own. CPU is the process's own
(every thread, plus child processes it waited for); the feed server runs in
another process and is not counted.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from bench.corpus import T0, Generator
from feeds import pipeline
from feeds.dedupe.keys import identity_keys
from feeds.dedupe.titles import title_bands
from feeds.fetch import FetchSettings, make_client
from feeds.model import Item, SiteInfo, SourceRef, SourceSpec, SourceState, item_id
from feeds.store import Store
from feeds.tag import Tagger
from feeds.tag.registry import Registry, load_registry

ROOT = Path(__file__).resolve().parent.parent
SITE = SiteInfo(title="partyfeeds bench", base_url="http://127.0.0.1:8080/", author_name="partyfeeds")
SETTINGS = FetchSettings(user_agent="partyfeeds-bench", allow_hosts=("127.0.0.1",))
PROCESSES = 2  # worker processes, as config.yaml's `processes`
Result = dict[str, Any]


def registry() -> Registry:
    return load_registry(ROOT / "registry" / "parties.yaml", ROOT / "registry" / "topics.yaml", [])


def cpu_seconds() -> float:
    """CPU of this process, of the child processes it has waited for, and of its live
    descendants with the children they waited for: the parse workers are children of
    multiprocessing's forkserver, which outlives them and reaps them."""
    import psutil

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    for process in psutil.Process().children(recursive=True):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:  # ended between the listing and the reading
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed(result: Result, name: str) -> Iterator[None]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    yield
    result[f"{name}_wall"] = time.perf_counter() - wall
    result[f"{name}_cpu"] = cpu_seconds() - cpu


def server_requests(stats_url: str) -> int:
    with urlopen(stats_url) as response:  # 127.0.0.1: our own server
        return int(json.load(response)["requests"])


def specs(args: Result) -> list[SourceSpec]:
    return [SourceSpec(id=s["id"], url=s["url"], party=s["party"], language=s["language"])
            for s in args["sources"]]


# -- scenarios -------------------------------------------------------------------------------------


def ingest(args: Result) -> Result:
    """Cold ingest of every source into an empty store (`once`'s engine: pipeline.ingest_sources,
    spelled out to keep its stage times), then one unchanged poll of them all."""
    result: Result = {"entries": args["entries"]}
    sources = specs(args)
    tagger = Tagger(registry())
    with Store(Path(args["workdir"]) / "ingest.sqlite") as store, make_client(SETTINGS) as client:
        now = T0 + timedelta(hours=1)
        with timed(result, "cold"):
            polls = pipeline.due_polls(store, sources, now, force=True)
            with pipeline.Ingest(store, pipeline.Setup(client, SETTINGS, tagger), parse_workers=PROCESSES,
                                 ordered=True, expected=len(polls)) as engine:
                reports = engine.run(polls, now)
        result.update(_stage_times(engine))
        result["errors"] = sum(r.status == "error" for r in reports)
        result["stored"] = store.count_items()
        result["cold_rss_mb"] = peak_rss_mb()
        before = server_requests(args["stats_url"])
        with timed(result, "steady"):
            later = now + timedelta(hours=1)
            reports = pipeline.ingest_sources(store, tagger, client, sources, SETTINGS, later, force=True,
                                              parse_workers=PROCESSES)
        result["steady_requests"] = server_requests(args["stats_url"]) - before
        result["steady_parsed"] = sum(r.status == "ok" for r in reports)
    return result


def daemon_backlog(args: Result) -> Result:
    """The daemon's ingest on the same corpus: every source handed at once to an engine set up as
    `serve` sets it up (unordered, the real clock, PROCESSES), as a daemon starting on an
    empty store does; timed until the last is stored."""
    from scheduler.daemon import utcnow

    result: Result = {"entries": args["entries"]}
    tagger = Tagger(registry())
    left, finished = [len(args["sources"])], threading.Event()

    def done(*_: object) -> None:  # the writer thread calls it, one poll at a time
        left[0] -= 1
        if not left[0]:
            finished.set()

    with Store(Path(args["workdir"]) / "daemon.sqlite") as store, make_client(SETTINGS) as client:
        engine = pipeline.Ingest(store, pipeline.Setup(client, SETTINGS, tagger), fetch_workers=8,
                                 parse_workers=PROCESSES, clock=utcnow)
        with timed(result, "cold"):
            for spec in specs(args):
                engine.poll(spec, SourceState(spec.id, spec.url), done)
            finished.wait()
        engine.close()
        result.update(_stage_times(engine))
        result["stored"] = store.count_items()
        result["cold_rss_mb"] = peak_rss_mb()
    return result


def _stage_times(engine: pipeline.Ingest) -> Result:
    stats = engine.stats
    return {"fetch_s": stats.fetch_seconds, "prepare_s": stats.prepare_seconds,
            "store_s": stats.store_seconds, "transactions": stats.transactions}


def reader_peer(args: Result) -> Result:
    """The `reader` library updating the same sources from the same server."""
    from reader import make_reader

    result: Result = {"entries": args["entries"]}
    with make_reader(str(Path(args["workdir"]) / "reader.sqlite")) as peer:
        for source in args["sources"]:
            peer.add_feed(source["url"])
        with timed(result, "cold"):
            peer.update_feeds(workers=args.get("workers", 8), scheduled=False)
        result["stored"] = peer.get_entry_counts().total
        result["cold_rss_mb"] = peak_rss_mb()
        before = server_requests(args["stats_url"])
        with timed(result, "steady"):
            peer.update_feeds(workers=args.get("workers", 8), scheduled=False)
        result["steady_requests"] = server_requests(args["stats_url"]) - before
    return result


def floor(args: Result) -> Result:
    """Raw lxml.etree.fromstring of the same bytes: what parsing can cost at the least."""
    from lxml import etree

    bodies = [path.read_bytes() for path in sorted(Path(args["feeds_dir"]).iterdir())]
    result: Result = {"entries": args["entries"]}
    with timed(result, "parse"):
        for body in bodies:
            etree.fromstring(body)
    return result


def build_store(args: Result) -> Result:
    """A store of `items` tagged items (the publish and memory runs copy it)."""
    gen = Generator(registry(), seed=11)
    result: Result = {}
    with Store(args["path"]) as store, timed(result, "build"), store.transaction():
        for story in gen.headlines(args["items"]):
            item = _item(story)
            store.save(item, keys=identity_keys(item), bands=_bands(item), revision="",
                       first_seen=item.published)
    with Store(args["path"]) as store:
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return result


def _item(story: Any) -> Item:
    uid = item_id(f"bench\x1f{story.link}")
    return Item(id=uid, title=story.title, link=story.link, summary=story.summary, content="",
                published=story.published, updated=story.published, language=story.language,
                sources=(SourceRef("bench", "Bench", story.link, story.party),),
                parties=(story.party,), topics=(story.topic,))


def _bands(item: Item) -> tuple[int, ...]:
    return title_bands([item.title])[0]


def publish(args: Result) -> Result:
    """Every feed from the big store into an empty folder; then again after one item changed."""
    workdir = Path(args["workdir"])
    db = workdir / "publish.sqlite"
    shutil.copy(args["store"], db)
    out = workdir / "public"
    reg, result = registry(), Result()
    with Store(db) as store:
        result["items"] = store.count_items()
        with timed(result, "all"):
            report = pipeline.publish(store, reg, SITE, out, now=T0, workers=PROCESSES)
        result["feeds"] = len(report.written)
        newest = store.latest(1)[0]
        changed = replace(newest, summary=newest.summary + " (corrected)", updated=T0 + timedelta(days=1))
        with store.transaction():
            store.save(changed, keys=identity_keys(changed), bands=(), revision="", first_seen=T0)
        with timed(result, "one"):
            report = pipeline.publish(store, reg, SITE, out, now=T0, workers=PROCESSES)
        result["one_written"] = len(report.written)
    result["rss_mb"] = peak_rss_mb()
    return result


def oneshot(args: Result) -> Result:
    """The one-shot job's peak RSS: ingest every source into the big store, then publish."""
    workdir = Path(args["workdir"])
    db = workdir / "oneshot.sqlite"
    shutil.copy(args["store"], db)
    tagger, reg = Tagger(registry()), registry()
    result: Result = {}
    with Store(db) as store, make_client(SETTINGS) as client:
        with timed(result, "run"):
            pipeline.ingest_sources(store, tagger, client, specs(args), SETTINGS, T0 + timedelta(hours=1),
                                    force=True, parse_workers=PROCESSES)
            pipeline.publish(store, reg, SITE, workdir / "public", now=T0, workers=PROCESSES)
        result["items"] = store.count_items()
    result["rss_mb"] = peak_rss_mb()
    return result


def daemon(args: Result) -> Result:
    """`partyfeeds serve` on a copy of the big store, polling local feeds every second."""
    from bench.daemon_watch import watch

    found = watch(args["sources"], 20, args["cycles"], Path(args["store"]))
    return {**found, "sources": args["sources"], "cycles": args["cycles"]}


def dedupe_quality(args: Result) -> Result:
    """Deduplication quality of ingest's own decision on a planted corpus (bench/dedupe_quality.py)."""
    from bench.dedupe_quality import measure  # it imports this module: `registry`

    return measure(args)


SCENARIOS: dict[str, Callable[[Result], Result]] = {
    "ingest": ingest, "reader": reader_peer, "floor": floor, "build_store": build_store,
    "publish": publish, "oneshot": oneshot, "dedupe": dedupe_quality, "daemon": daemon,
    "daemon_backlog": daemon_backlog,
}

if __name__ == "__main__":
    from bench import references

    references.install_from_env()  # PARTYFEEDS_BENCH_REFERENCE: a fast path swapped for its reference
    out = SCENARIOS[sys.argv[1]](json.loads(sys.stdin.read()))
    print(json.dumps(out))
