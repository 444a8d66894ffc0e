"""`python -m bench`: generate the corpus, serve it on 127.0.0.1, run every measurement, print the table.

    .venv/bin/python -m bench                # the full suite (several minutes)
    .venv/bin/python -m bench --quick        # a small smoke run (seconds)
    .venv/bin/python -m bench --scale --workdir DIR   # a million stored items (bench/scale.py)

Every number is the median of --runs fresh processes, shown with its min–max:
the machine is shared, and the spread is how noisy it was.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import corpus, report, scale
from bench.runs import ROOT, registry

Result = dict[str, Any]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=1000, help="feeds served (default 1000)")
    parser.add_argument("--entries", type=int, default=10, help="entries per feed (default 10)")
    parser.add_argument("--hosts", type=int, default=50, help="server ports, one 'host' each (default 50)")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per measurement (default 5)")
    parser.add_argument("--items", type=int, default=100_000, help="stored items for publish/memory")
    parser.add_argument("--publish-runs", type=int, help="runs of the publish measurement (default --runs)")
    parser.add_argument("--dedupe", type=int, default=4000, help="planted entries of the dedupe-quality run "
                        "(default 4000; 0 skips it)")
    parser.add_argument("--dedupe-background", type=int, default=20000,
                        help="unrelated headlines ingested with them (default 20000)")
    parser.add_argument("--no-reader", action="store_true", help="skip the reader peer")
    parser.add_argument("--daemon-seconds", type=int, default=60, help="how long the daemon run polls")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run: checks that it works")
    parser.add_argument("--workdir", type=Path, help="keep the corpus and databases here")
    parser.add_argument("--scale", action="store_true", help="the scale suite (bench/scale.py) instead: "
                        "--scale-items stored items, --scale-sources sources; --runs defaults to 3")
    parser.add_argument("--scale-items", type=int, default=1_000_000, help="the big store's items "
                        "(default 1,000,000)")
    parser.add_argument("--scale-sources", type=int, default=5000, help="sources of `once` (default 5000)")
    args = parser.parse_args(argv)
    args.scale_mid, args.scale_small = scale.MID_ITEMS, scale.SMALL_ITEMS
    if args.quick:
        args.sources, args.entries, args.hosts, args.runs, args.items = 12, 4, 3, 1, 300
        args.dedupe, args.dedupe_background, args.daemon_seconds = 300, 600, 3
        args.scale_items, args.scale_mid, args.scale_small, args.scale_sources = 3000, 2000, 1000, 40
    given = argv if argv is not None else sys.argv
    if args.scale:  # dedupe over 100,000 headlines, unless told otherwise
        args.runs = args.runs if "--runs" in given or args.quick else 3
        args.dedupe = args.dedupe if "--dedupe" in given or args.quick else 20_000
        args.dedupe_background = args.dedupe_background if "--dedupe-background" in given or args.quick \
            else 80_000
    return args


def run(scenario: str, args: Result, module: str = "bench.runs") -> Result:
    """One measurement in a fresh process (`python -m <module> <scenario>`, args on stdin)."""
    done = subprocess.run([sys.executable, "-m", module, scenario], input=json.dumps(args),
                          capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode:
        raise RuntimeError(f"bench run {scenario} failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@contextmanager
def serving(feeds_dir: Path, hosts: int) -> Iterator[list[int]]:
    """The feed server in its own process; yields its ports."""
    server = subprocess.Popen([sys.executable, "-m", "bench.server", str(feeds_dir), str(hosts)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert server.stdout is not None
        yield list(json.loads(server.stdout.readline()))
    finally:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.close()
        server.wait(timeout=10)
        server.stdout.close()


def write_corpus(workdir: Path, args: argparse.Namespace) -> list[corpus.SourceDoc]:
    docs = corpus.sources(corpus.Generator(registry()), args.sources, args.entries, args.hosts)
    feeds_dir = workdir / "feeds"
    feeds_dir.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        (feeds_dir / doc.path.lstrip("/")).write_bytes(doc.body)
    return docs


def repeat(scenario: str, base: Result, runs: int, workdir: Path) -> list[Result]:
    results = []
    for number in range(runs):
        rundir = workdir / f"{scenario}-{number}"
        rundir.mkdir(parents=True, exist_ok=True)
        results.append(run(scenario, {**base, "workdir": str(rundir)}))
        print(f"  {scenario} run {number + 1}/{runs}: {_brief(results[-1])}", file=sys.stderr, flush=True)
    return results


def _brief(result: Result) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items())


def measure(args: argparse.Namespace, workdir: Path) -> list[report.Row]:
    docs = write_corpus(workdir, args)
    entries = sum(doc.entries for doc in docs)
    rows: list[report.Row] = []
    with serving(workdir / "feeds", args.hosts) as ports:
        sources = [{"id": d.id, "url": f"http://127.0.0.1:{ports[d.host]}{d.path}", "party": d.party,
                    "language": d.language} for d in docs]
        base = {"sources": sources, "entries": entries, "feeds_dir": str(workdir / "feeds"),
                "stats_url": f"http://127.0.0.1:{ports[0]}/_stats"}
        ours = repeat("ingest", base, args.runs, workdir)
        peer = [] if args.no_reader else repeat("reader", base, args.runs, workdir)
        floor = repeat("floor", base, args.runs, workdir)
        backlog = repeat("daemon_backlog", base, args.runs, workdir)
        rows += report.ingest_rows(ours, peer, floor)
        rows += report.backlog_rows(ours, backlog)
        if args.scale:
            return rows
        rows += report.steady_rows(ours, peer, len(sources))
        store = workdir / "big.sqlite"
        if not store.exists():
            run("build_store", {"path": str(store), "items": args.items})
        published = repeat("publish", {"store": str(store)}, args.publish_runs or args.runs, workdir)
        oneshot = repeat("oneshot", {**base, "store": str(store)}, 1, workdir)
        rows += report.publish_rows(published, oneshot)
        daemon = {"store": str(store), "sources": 50, "cycles": args.daemon_seconds}
        watched = repeat("daemon", daemon, 1, workdir)
        rows += report.daemon_rows(watched, args.items)
    return rows + measure_dedupe(args, workdir)


def measure_dedupe(args: argparse.Namespace, workdir: Path) -> list[report.Row]:
    """Deduplication on the ingest path (bench/dedupe_quality.py): --runs runs, one with --scale."""
    if not args.dedupe:
        return []
    corpus_size = {"entries": args.dedupe, "background": args.dedupe_background}
    return report.dedupe_rows(repeat("dedupe", corpus_size, 1 if args.scale else args.runs, workdir))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="partyfeeds-bench-") as temporary:
        workdir = args.workdir or Path(temporary)
        if args.scale:
            rows = [*scale.measure(args, workdir), *measure(args, workdir), *measure_dedupe(args, workdir)]
        else:
            rows = measure(args, workdir)
    stored = f"{args.scale_items:,} stored items, {args.scale_sources:,} sources" if args.scale \
        else f"{args.items:,} stored items"
    print(f"partyfeeds benchmark{' --scale' if args.scale else ''}: {args.sources} sources × {args.entries} "
          f"entries on {args.hosts} hosts (127.0.0.1), {stored}, {args.runs} runs each; "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"took {time.perf_counter() - started:.0f} s")
    print(report.table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
