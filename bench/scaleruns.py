"""The scale suite's measurements, one per process: `python -m bench.scaleruns SCENARIO` (args
as JSON on standard input) prints one JSON line, as bench/runs.py does for the main suite.

Each works on a store the suite prepared (bench/scale.py): a copy of a generated one
(bench/scalestore.py), changed in place from one measurement to the next.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import scalestore
from bench.corpus import T0, Generator
from bench.runs import PROCESSES, SITE, cpu_seconds, peak_rss_mb, registry
from feeds import pipeline
from feeds.dedupe.accept import accept_batch
from feeds.model import Item
from feeds.store import Store

Result = dict[str, Any]
POLL = 10  # incoming items per transaction: one feed's new entries


def incoming(run: int, count: int, sources: int) -> list[Item]:
    """`count` new headlines of the last 20 days, as the store's own are made (copies and
    rivals among them), under links no stored item has (`run` tells runs apart)."""
    gen = Generator(registry(), seed=1000 + run)
    by_party = scalestore.party_sources(gen.parties, sources)
    return [scalestore.to_item(story, by_party, prefix=f"run{run}-") for story in gen.stream(count)]


def ingest_growth(args: Result) -> Result:
    """Deduplicate and store `count` new items (tagged already) into the store, POLL a
    transaction, as the writer stores a feed's new entries; the seconds that took."""
    items = incoming(args["run"], args["count"], args["sources"])
    outcomes: Counter[str] = Counter()
    now = T0 + timedelta(hours=1)
    commits = 0.0  # of it in COMMIT: the pages written to the WAL, and the checkpoints
    with Store(args["store"]) as store:
        stored = store.count_items()
        started = time.perf_counter()
        for start in range(0, len(items), POLL):
            with store.transaction():
                outcomes.update(accept_batch(store, [(item, "") for item in items[start:start + POLL]], now))
                committing = time.perf_counter()
            commits += time.perf_counter() - committing
        wall = time.perf_counter() - started
    return {"stored": stored, "wall": wall, "commits": commits, "count": len(items), **outcomes,
            "rss_mb": peak_rss_mb()}


def first_publish(args: Result) -> Result:
    """Every feed of the store into an empty folder: heads live and all done."""
    reg = registry()
    with Store(args["store"]) as store:
        items = store.count_items()
        started = time.perf_counter()
        report = pipeline.publish(store, reg, SITE, Path(args["out"]), now=T0, workers=PROCESSES)
        wall = time.perf_counter() - started
    return {"items": items, "wall": wall, "heads_live": report.heads_live, "files": len(report.written),
            "rss_mb": peak_rss_mb()}


def one_new_item(args: Result) -> Result:
    """One new item stored (through deduplication), then a publish of a published store: the
    heads and pages it touches."""
    item, reg = incoming(args["run"], 1, args["sources"])[0], registry()
    with Store(args["store"]) as store:
        with store.transaction():
            outcome = accept_batch(store, [(item, "")], T0 + timedelta(hours=1))
        started = time.perf_counter()
        report = pipeline.publish(store, reg, SITE, Path(args["out"]), now=T0, workers=PROCESSES)
        wall = time.perf_counter() - started
    return {"wall": wall, "written": len(report.written), "outcome": outcome[0], "rss_mb": peak_rss_mb()}


def command(args: Result) -> Result:
    """`partyfeeds <argv>` in this process (scheduler.cli.main): its wall and CPU time from the
    call (the process's and its workers', bench.runs.cpu_seconds), and the process's peak RSS."""
    from scheduler import cli

    started, cpu = time.perf_counter(), cpu_seconds()
    status = cli.main(args["argv"])
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {"status": status, "wall": wall, "cpu": cpu, "rss_mb": peak_rss_mb()}


def daemon(args: Result) -> Result:
    """`partyfeeds serve` on the store and its published folder (bench/daemon_watch.py)."""
    from bench.daemon_watch import watch

    found = watch(args["sources"], 20, args["cycles"], Path(args["store"]), in_place=Path(args["out"]))
    return {**found, "sources": args["sources"], "cycles": args["cycles"]}


SCENARIOS: dict[str, Callable[[Result], Result]] = {
    "ingest_growth": ingest_growth, "first_publish": first_publish, "one_new_item": one_new_item,
    "command": command, "daemon": daemon,
}


def main(argv: Sequence[str]) -> None:
    out = SCENARIOS[argv[0]](json.loads(sys.stdin.read()))
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
