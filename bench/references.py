"""Each fast path against its reference, measured as a user meets it: `python -m bench.references PAIR`.

    .venv/bin/python -m bench.references parser          # cold ingest of 1,000 sources × 10 entries
    .venv/bin/python -m bench.references atom --store S  # first publish of a stored corpus (100,000 items)
    .venv/bin/python -m bench.references json --store S

Each round runs the scenario of bench.runs twice, in fresh processes: as shipped, and with the
pair's fast path replaced by its reference (the name in PARTYFEEDS_BENCH_REFERENCE, which this
module reads when bench.runs starts and when the forkserver preloads it, so the parse and render
workers use the reference too):

- parser: fastparse declines every document, so feedparser parses them all;
- atom:   every Atom document is rendered by feedgen (render.render_atom) from the items,
          instead of atomtext's entries rendered once and spliced;
- json:   JSON Feed text is printed by `json.dumps(..., indent=1)` instead of jsonfeed.dump.

The published trees of the two variants are compared by digest: a reference must give the same
bytes. The HTTP pair is measured by bench.poll_cost and bench.tls_cost (their httpx variants).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

ENV = "PARTYFEEDS_BENCH_REFERENCE"
PAIRS = ("parser", "atom", "json")


def _parser() -> None:
    from feeds.parse import fastparse

    def decline(text: str, url: str) -> Any:
        raise fastparse.Unsupported("benchmark: the reference alone")

    fastparse.parse = decline


def _atom() -> None:
    from feeds.publish import formats
    from feeds.publish.render import render_atom

    def entry(item: Any, site: Any, labels: Any) -> Any:  # the item itself stands in for its Atom text
        return item

    def document(page: formats.Page) -> bytes:
        updated = datetime.fromisoformat(page.updated)
        return render_atom(page.spec, list(page.entries), page.site, page.labels, doc=page.doc,
                           icon=page.icon, updated_if_empty=updated)

    feedgen = formats.Format("atom", ".atom", formats.ATOM.media_type, entry, document)
    formats.FORMATS = tuple(feedgen if fmt is formats.ATOM else fmt for fmt in formats.FORMATS)


def _json() -> None:
    from feeds.publish import jsonfeed

    def dump(value: Any, depth: int = 0) -> str:
        return json.dumps(value, ensure_ascii=False, indent=1).replace("\n", "\n" + " " * depth)

    jsonfeed.dump = dump


SWAPS: dict[str, Callable[[], None]] = {"parser": _parser, "atom": _atom, "json": _json}
_installed: list[str] = []


def install_from_env() -> None:
    """Swap in the reference PARTYFEEDS_BENCH_REFERENCE names (once), here and in the workers."""
    name = os.environ.get(ENV, "")
    if not name or _installed:
        return
    SWAPS[name]()
    _installed.append(name)
    from feeds import forkserver

    if __name__ not in forkserver.PRELOAD:
        forkserver.PRELOAD.append(__name__)


install_from_env()  # in a worker's forkserver, importing this module is what swaps the reference in


# -- the driver --------------------------------------------------------------------------------


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _round(scenario: str, args: dict[str, Any], reference: str | None, rundir: Path) -> dict[str, Any]:
    from bench.__main__ import run

    rundir.mkdir(parents=True)
    if reference:
        os.environ[ENV] = reference
    try:
        return run(scenario, {**args, "workdir": str(rundir)})
    finally:
        os.environ.pop(ENV, None)


def _spread(values: Sequence[float], digits: int = 2) -> str:
    return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def parser_rounds(args: argparse.Namespace, workdir: Path) -> None:
    from bench import corpus
    from bench.__main__ import serving
    from bench.runs import registry

    docs = corpus.sources(corpus.Generator(registry()), args.sources, args.entries, args.hosts)
    feeds_dir = workdir / "feeds"
    feeds_dir.mkdir()
    for doc in docs:
        (feeds_dir / doc.path.lstrip("/")).write_bytes(doc.body)
    entries = sum(doc.entries for doc in docs)
    found: dict[str, list[dict[str, Any]]] = {"as shipped (fast path)": [], "feedparser alone": []}
    with serving(feeds_dir, args.hosts) as ports:
        sources = [{"id": d.id, "url": f"http://127.0.0.1:{ports[d.host]}{d.path}", "party": d.party,
                    "language": d.language} for d in docs]
        base = {"sources": sources, "entries": entries, "stats_url": f"http://127.0.0.1:{ports[0]}/_stats"}
        for number in range(args.runs):
            for (name, runs), reference in zip(found.items(), (None, "parser"), strict=True):
                runs.append(_round("ingest", base, reference, workdir / f"{number}-{reference or 'shipped'}"))
                print(f"  round {number + 1} {name}: cold {runs[-1]['cold_wall']:.2f} s wall, "
                      f"{runs[-1]['cold_cpu']:.2f} s CPU", file=sys.stderr, flush=True)
    print(f"cold ingest of {len(docs):,} sources ({entries:,} entries) on {args.hosts} hosts, "
          f"{args.runs} rounds (median, min–max); CPU counts the parse workers")
    for name, runs in found.items():
        stored = {run["stored"] for run in runs}
        print(f"  {name:24} wall {_spread([r['cold_wall'] for r in runs])} s   "
              f"CPU {_spread([r['cold_cpu'] for r in runs])} s   stored {sorted(stored)}")


def publish_rounds(args: argparse.Namespace, workdir: Path) -> None:
    from bench.__main__ import run

    store = args.store
    if store is None:
        store = workdir / "big.sqlite"
        run("build_store", {"path": str(store), "items": args.items})
    label = {"atom": "feedgen for every Atom document", "json": "json.dumps for JSON Feed text"}[args.pair]
    found: dict[str, list[dict[str, Any]]] = {"as shipped": [], label: []}
    digests: dict[str, set[str]] = {name: set() for name in found}
    for number in range(args.runs):
        for (name, runs), reference in zip(found.items(), (None, args.pair), strict=True):
            rundir = workdir / f"{number}-{reference or 'shipped'}"
            runs.append(_round("publish", {"store": str(Path(store).resolve())}, reference, rundir))
            digests[name].add(tree_digest(rundir / "public"))
            print(f"  round {number + 1} {name}: first publish {runs[-1]['all_wall']:.2f} s wall, "
                  f"{runs[-1]['all_cpu']:.2f} s CPU", file=sys.stderr, flush=True)
    items = found["as shipped"][0]["items"]
    print(f"publish of a {items:,}-item store into an empty folder, then after one item changed; "
          f"{args.runs} rounds (median, min–max); CPU counts the render workers")
    for name, runs in found.items():
        print(f"  {name:34} first: wall {_spread([r['all_wall'] for r in runs])} s, "
              f"CPU {_spread([r['all_cpu'] for r in runs])} s;  one item: wall "
              f"{_spread([r['one_wall'] for r in runs], 3)} s")
    same = len(set().union(*digests.values())) == 1
    print(f"  published trees {'identical' if same else 'DIFFER'} (sha256 of every file, both variants)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.references", description=__doc__.split("\n")[0])
    parser.add_argument("pair", choices=PAIRS)
    parser.add_argument("--runs", type=int, default=3, help="rounds; each runs both variants (default 3)")
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=10)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--store", type=Path, help="a store built by `python -m bench` (its big.sqlite)")
    parser.add_argument("--items", type=int, default=100_000, help="items of the store built without --store")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="partyfeeds-references-") as temporary:
        if args.pair == "parser":
            parser_rounds(args, Path(temporary))
        else:
            publish_rounds(args, Path(temporary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
