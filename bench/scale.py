"""`python -m bench --scale`: partyfeeds at ten times the scale, a million stored items.

The stores are generated straight into SQLite through the store's API (bench/scalestore.py)
and kept in --workdir; each run works on copies. In order, each a fresh process
(bench/scaleruns.py), on the same copy of the big store:

1. ingest 1,000 new items (polls of 10, through deduplication) into a 10,000-item store and into
   the big one: the ratio of the two times, per run (new items each run);
2. the first publish of the big store into an empty folder (and, apart, of a 100,000-item one):
   when every head was live (`PublishReport.heads_live`) and when all was written;
3. one new item, then a publish: the heads and pages it touches;
4. `partyfeeds once` with --scale-sources sources on the benchmark's local server: the first
   brings their entries (the one-shot job's peak RSS), the next ones find all of them
   unchanged (304) and the seeds unchanged: the time of the command;
5. `partyfeeds serve` on the big store and its folder (bench/daemon_watch.py): peak RSS.

Beside them, as in the main suite: cold ingest and the daemon's backlog against `reader`, on
the main suite's corpus (--sources × --entries).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import yaml

from bench import corpus, report, scalestore
from bench.runs import ROOT, SITE, registry

Result = dict[str, Any]
Runs = list[Result]
MID_ITEMS = 100_000  # the first publish measured beside the big store's
SMALL_ITEMS = 10_000  # the store the big one's ingest is compared with
INCOMING = 1_000  # new items per ingest run
ENTRIES = 2  # entries per scale source: the first `once` brings them, the next find them unchanged


def scale_run(scenario: str, args: Result) -> Result:
    """One measurement in a fresh process (`python -m bench.scaleruns <scenario>`)."""
    done = subprocess.run([sys.executable, "-m", "bench.scaleruns", scenario], input=json.dumps(args),
                          capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode:
        raise RuntimeError(f"scale run {scenario} failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def repeat(scenario: str, runs: int, args: Callable[[int], Result]) -> Runs:
    results = []
    for number in range(runs):
        results.append(scale_run(scenario, args(number)))
        brief = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in results[-1].items())
        print(f"  scale {scenario} run {number + 1}/{runs}: {brief}", file=sys.stderr, flush=True)
    return results


def measure(args: argparse.Namespace, workdir: Path) -> list[report.Row]:
    """Every scale measurement; the rows of the table."""
    reg = registry()
    stores = {n: scalestore.ensure(workdir, reg, n, args.scale_sources)
              for n in (args.scale_small, args.scale_mid, args.scale_items)}
    scratch = workdir / "scale-run"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        return _measure(args, workdir, scratch, stores)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _measure(args: argparse.Namespace, workdir: Path, scratch: Path,
             stores: dict[int, Path]) -> list[report.Row]:
    big, small, mid = scratch / "big.sqlite", scratch / "small.sqlite", scratch / "mid.sqlite"
    _copy(stores[args.scale_items], big)
    _copy(stores[args.scale_small], small)
    sources = args.scale_sources
    growth = {name: repeat("ingest_growth", args.runs, lambda n, path=path: {
        "store": str(path), "run": n, "count": INCOMING, "sources": sources})
        for name, path in (("small", small), ("big", big))}
    _copy(stores[args.scale_mid], mid)
    mid_out = scratch / "mid-public"
    mid_publish = repeat("first_publish", 1, lambda n: {"store": str(mid), "out": str(mid_out)})
    shutil.rmtree(mid_out)
    mid.unlink()
    out = scratch / "public"
    big_publish = repeat("first_publish", 1, lambda n: {"store": str(big), "out": str(out)})
    one = repeat("one_new_item", args.runs, lambda n: {"store": str(big), "out": str(out), "run": 100 + n,
                                                       "sources": sources})
    oneshot, unchanged = _once(args, scratch, big, out)
    daemon = repeat("daemon", 1, lambda n: {"store": str(big), "out": str(out), "sources": 50,
                                            "cycles": args.daemon_seconds})
    disk = {n: path.stat().st_size / n for n, path in stores.items()}
    return scale_rows(growth, mid_publish, big_publish, one, oneshot, unchanged, daemon, disk,
                      args.scale_small)


def _copy(source: Path, target: Path) -> None:
    """Copy a store and flush the copy to disk: else the first fsync of a measured commit
    would write out gigabytes of the copy, not its own pages."""
    shutil.copy(source, target)
    with target.open("rb+") as file:
        os.fsync(file.fileno())


def _once(args: argparse.Namespace, scratch: Path, store: Path, out: Path) -> tuple[Runs, Runs]:
    """`partyfeeds once` with the scale sources: the first run (it stores their entries), then
    --runs runs with nothing changed."""
    from bench.__main__ import serving  # the main suite's server, in its own process

    gen = corpus.Generator(registry(), seed=5)
    docs = corpus.sources(gen, args.scale_sources, ENTRIES, args.hosts)
    feeds_dir = scratch / "feeds"
    feeds_dir.mkdir()
    for doc in docs:
        (feeds_dir / doc.path.lstrip("/")).write_bytes(doc.body)
    with serving(feeds_dir, args.hosts) as ports:
        config = scratch / "config.yaml"
        config.write_text(yaml.safe_dump(_config(docs, ports, store, out)), "utf-8")
        argv = ["once", "--config", str(config), "--log-level", "WARNING"]
        stats = f"http://127.0.0.1:{ports[0]}/_stats"
        first = repeat("command", 1, lambda n: {"argv": argv})
        again = []
        for _ in range(args.runs):
            before = _stats(stats)
            again += repeat("command", 1, lambda n: {"argv": argv})
            after = _stats(stats)
            again[-1].update(requests=after["requests"] - before["requests"],
                             not_modified=after["not_modified"] - before["not_modified"])
    return first, again


def _stats(url: str) -> dict[str, int]:
    with urlopen(url) as response:  # 127.0.0.1: the suite's own server
        return dict(json.load(response))


def _config(docs: list[corpus.SourceDoc], ports: list[int], store: Path, out: Path) -> Result:
    """A configuration for the scale sources, publishing as the suite's runs do (bench.runs.SITE)."""
    return {
        "site": {"title": SITE.title, "base_url": SITE.base_url, "author": {"name": SITE.author_name}},
        "storage": {"database": str(store)}, "output": {"directory": str(out)},
        "seeds": {"paths": [str(ROOT / "seeds")]},
        "registry": {name: str(ROOT / "registry" / f"{name}.yaml") for name in ("parties", "topics")},
        "fetch": {"allow_hosts": ["127.0.0.1"]},
        "sources": [{"id": d.id, "url": f"http://127.0.0.1:{ports[d.host]}{d.path}", "language": d.language,
                     **({"party": d.party} if d.party else {})} for d in docs],
    }


def scale_rows(growth: dict[str, Runs], mid: Runs, big: Runs, one: Runs, oneshot: Runs, unchanged: Runs,
               daemon: Runs, disk: dict[int, float], small: int) -> list[report.Row]:
    spread, verdict, Row = report.spread, report.verdict, report.Row
    items = big[0]["items"]
    rows = []
    wall, wall_text = spread(one, lambda r: r["wall"], 3)
    rows.append(Row(f"scale: one new item published, s ({items:,} items)", wall_text,
                    f"{spread(one, lambda r: r['written'], 0)[1]} files written", target="< 0.3 s",
                    met=verdict(wall < 0.3)))
    once, once_text = spread(unchanged, lambda r: r["wall"], 2)
    asked = f"{spread(unchanged, lambda r: r['requests'], 0)[1]} requests, " \
            f"{spread(unchanged, lambda r: r['not_modified'], 0)[1]} answered 304"
    rows.append(Row("scale: `once` with nothing changed, s (seeds unchanged)", once_text, asked,
                    target="< 2 s", met=verdict(once < 2)))
    paired = zip(growth["big"], growth["small"], strict=True)
    ratio, ratio_text = spread([{"ratio": b["wall"] / s["wall"]} for b, s in paired], lambda r: r["ratio"], 2)
    small_text = spread(growth["small"], lambda r: r["wall"], 2)[1]
    big_text = spread(growth["big"], lambda r: r["wall"], 2)[1]
    merged = growth["big"][0].get("merged", 0)
    rows.append(Row(f"scale: ingest {INCOMING:,} new items, {items:,} vs {small:,} stored (ratio)",
                    ratio_text, f"{big_text} s vs {small_text} s ({merged} merged)", target="≤ 1.5",
                    met=verdict(ratio <= 1.5)))
    paired = zip(growth["big"], growth["small"], strict=True)
    inside = [{"ratio": (b["wall"] - b["commits"]) / (s["wall"] - s["commits"])} for b, s in paired]
    rows.append(Row("  the same without the commits (deduplicating and storing)",
                    spread(inside, lambda r: r["ratio"], 2)[1],
                    f"commits {spread(growth['big'], lambda r: r['commits'], 2)[1]} s vs "
                    f"{spread(growth['small'], lambda r: r['commits'], 2)[1]} s"))
    shot, shot_text = spread(oneshot, lambda r: r["rss_mb"], 0)
    rows.append(Row(f"scale: one-shot `once` peak RSS, MB ({items:,} items, new entries, publish)", shot_text,
                    f"{oneshot[0]['wall']:.0f} s", target="< 200 MB", met=verdict(shot < 200)))
    peak, peak_text = spread(daemon, lambda r: r["rss_peak_kib"] / 1024, 0)
    polled = f"{daemon[0]['sources']} sources polled every second for {daemon[0]['cycles']} s"
    rows.append(Row(f"scale: daemon peak RSS, MB ({items:,} items, {polled})", peak_text,
                    f"update served after {daemon[0]['latency']:.1f} s", target="< 200 MB",
                    met=verdict(peak < 200)))
    rows.append(Row("scale: store on disk, bytes per item",
                    " / ".join(f"{per:,.0f} ({n:,})" for n, per in sorted(disk.items()))))
    for runs in (mid, big):
        live, whole = spread(runs, lambda r: r["heads_live"], 1)[1], spread(runs, lambda r: r["wall"], 1)[1]
        rows.append(Row(f"scale: first publish of {runs[0]['items']:,} items: heads live / all, s "
                        f"({runs[0]['files']:,} files)", f"{live} / {whole}",
                        f"peak RSS {spread(runs, lambda r: r['rss_mb'], 0)[1]} MB"))
    return rows
