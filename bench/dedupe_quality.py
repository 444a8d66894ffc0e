"""Deduplication quality of the decision ingest makes: `python -m bench.dedupe_quality [--quick]`.

The corpus (bench/dedupe_corpus.py) goes through `pipeline.ingest_items` a
poll at a time, as the daemon would hand it over: real tagging, identity keys,
LSH candidates and the same-story rules. Afterwards every entry's own id key
says which stored item it landed in; entries in one stored item are the pairs
ingest called duplicates. They are scored against the planted ground truth:
recall and precision over pairs, near-miss pairs merged (per kind), entries
lost. `python -m bench` runs this as its "dedupe" scenario (bench/runs.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

from bench import report
from bench.dedupe_corpus import NEAR_MISSES, VARIANTS, Entry, build, polls, true_pairs
from bench.runs import registry
from feeds.pipeline import ingest_items
from feeds.store import Store
from feeds.tag import Tagger

Result = dict[str, Any]
QUICK = {"entries": 300, "background": 600}


def measure(args: Result) -> Result:
    """Build the corpus, ingest it into a fresh store (`workdir`'s file, or memory), score it."""
    entries = build(registry(), args.get("entries", 4000), args.get("background", 20000), args.get("seed", 3))
    path = Path(args["workdir"]) / "dedupe.sqlite" if args.get("workdir") else ":memory:"
    with Store(path) as store:
        seconds = ingest(store, entries, args.get("seed", 3))
        landed = [store.find_by_keys([f"id:{entry.item.id}"]) for entry in entries]
        stored = store.count_items()
    result = score(entries, landed)
    result.update(stored=stored, ingest_wall=seconds, ms_per_entry=seconds * 1000 / len(entries))
    return result


def ingest(store: Store, entries: Sequence[Entry], seed: int) -> float:
    """Ingest the entries poll by poll; the wall seconds spent in `ingest_items` (the tagger's
    set-up, done once per process, is left out)."""
    tagger = Tagger(registry())
    spent = 0.0
    for now, batch in polls(entries, seed):
        started = time.perf_counter()
        ingest_items(store, tagger, [(entry.item, "") for entry in batch], now)
        spent += time.perf_counter() - started
    return spent


def score(entries: Sequence[Entry], landed: Sequence[str | None]) -> Result:
    """Planted pairs against the pairs ingest stored together, and what the mistakes were."""
    planted, found = true_pairs(entries), merged_pairs(landed)
    hits = planted & found
    wrong = [(entries[a], entries[b]) for a, b in sorted(found - planted)]
    near = Counter(_near_miss_kind(a, b) for a, b in wrong)
    near.pop("", None)
    return {
        "entries": len(entries), "planted": len(planted), "found": len(found), "hits": len(hits),
        "recall": len(hits) / max(1, len(planted)), "precision": len(hits) / max(1, len(found)),
        "near_miss_merged": sum(near.values()), "near_miss_by_kind": {k: near[k] for k in NEAR_MISSES},
        "near_miss_entries": dict(Counter(e.kind for e in entries if e.kind in NEAR_MISSES)),
        "missed_by_variant": _missed_by_variant(entries, planted - found),
        "lost": sum(stored is None for stored in landed),
    }


def merged_pairs(landed: Sequence[str | None]) -> set[tuple[int, int]]:
    """Index pairs (i < j) of entries that landed in one stored item (lost entries pair with none)."""
    by_item: dict[str, list[int]] = {}
    for index, stored in enumerate(landed):
        if stored is not None:
            by_item.setdefault(stored, []).append(index)
    return {pair for group in by_item.values() for pair in combinations(group, 2)}


def _near_miss_kind(a: Entry, b: Entry) -> str:
    """The near-miss kind a wrongly merged pair counts against ("" when neither is a near-miss)."""
    return a.kind if a.kind in NEAR_MISSES else b.kind if b.kind in NEAR_MISSES else ""


def _missed_by_variant(entries: Sequence[Entry], missed: set[tuple[int, int]]) -> dict[str, int]:
    """Missed planted pairs by how the copy was carried (a pair of two copies counts as the
    later one's variant)."""
    counts = Counter(entries[b].variant or entries[a].variant for a, b in missed)
    return {variant: counts[variant] for variant in VARIANTS}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.dedupe_quality",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=4000, help="planted entries (default 4000)")
    parser.add_argument("--background", type=int, default=20000, help="unrelated headlines (default 20000)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help=f"small sizes: {QUICK}")
    parser.add_argument("--workdir", type=Path, help="keep the store here (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.background = QUICK["entries"], QUICK["background"]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="partyfeeds-dedupe-") as temporary:
        workdir = args.workdir or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        result = measure({"entries": args.entries, "background": args.background, "seed": args.seed,
                          "workdir": str(workdir)})
    print(f"partyfeeds dedupe quality on the ingest path: {args.entries:,} planted entries, "
          f"{args.background:,} background, seed {args.seed}")
    print(report.table(report.dedupe_rows([result])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
