"""What cold ingest could reach if storing cost less: `python -m bench.ingest_ceiling [--rounds R]`.

An experiment, not a feature. In rounds, each in fresh processes on the same corpus and server
as `python -m bench`: our cold ingest as shipped; the same with `Store.save_new` inserting only
the item and identity-key rows (what ingest itself reads back): the other rows are built as
always, but no sources, tags or near-duplicate bands are stored; and the `reader` peer. It
prints the medians (min–max) and each against the peer. The second is an upper bound for any
cheaper way of storing those rows (a writer thread, fewer band rows, bigger caches): it stores
none of them.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import runs
from bench.__main__ import run, serving, write_corpus
from feeds import store as store_module

VARIANTS = {"as shipped": "ingest", "items and keys only": "ceiling", "reader peer": "reader"}


# What the variant leaves out: every statement of `Store.save_new` but the items' and keys'.
SKIPPED = frozenset({store_module._SAVE_SOURCES, store_module._SAVE_TAGS, store_module._SAVE_BANDS,
                     store_module._SAVE_BAND_LIST})
_save_new = store_module.Store.save_new


class _Skipping:
    """A connection that drops the SKIPPED statements and passes everything else on."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def executemany(self, sql: str, rows: Iterable[Any]) -> Any:
        return None if sql in SKIPPED else self._db.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def _items_and_keys_only(self: store_module.Store, items: Sequence[store_module.NewItem],
                         first_seen: datetime) -> None:
    """`Store.save_new` itself, its rows all built, with only the items' and keys' inserted."""
    db = self._db
    self._db = _Skipping(db)  # type: ignore[assignment]
    try:
        _save_new(self, items, first_seen)
    finally:
        self._db = db


def ceiling(args: runs.Result) -> runs.Result:
    store_module.Store.save_new = _items_and_keys_only  # type: ignore[method-assign]
    return runs.ingest(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_ceiling",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=10)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--no-reader", action="store_true", help="skip the reader peer")
    args = parser.parse_args(argv)
    variants = {name: scenario for name, scenario in VARIANTS.items()
                if not (args.no_reader and scenario == "reader")}
    rates: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="partyfeeds-ceiling-") as temporary:
        workdir = Path(temporary)
        docs = write_corpus(workdir, args)
        entries = sum(doc.entries for doc in docs)
        with serving(workdir / "feeds", args.hosts) as ports:
            sources = [{"id": d.id, "url": f"http://127.0.0.1:{ports[d.host]}{d.path}", "party": d.party,
                        "language": d.language} for d in docs]
            base = {"sources": sources, "entries": entries, "stats_url": f"http://127.0.0.1:{ports[0]}/_stats"}
            for number in range(args.rounds):
                for name, scenario in variants.items():
                    rundir = workdir / f"{scenario}-{number}"
                    rundir.mkdir()
                    module = "bench.ingest_ceiling" if scenario == "ceiling" else "bench.runs"
                    result = run(scenario, {**base, "workdir": str(rundir)}, module)
                    rates[name].append(entries / result["cold_wall"])
                    print(f"  round {number + 1}: {name} {rates[name][-1]:,.0f} entries/s",
                          file=sys.stderr, flush=True)
    peer = statistics.median(rates.get("reader peer") or [float("nan")])
    print(f"cold ingest, {args.sources} sources × {args.entries} entries, {args.rounds} rounds "
          "(median, min–max)")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"  {name:20} {median:7,.0f} entries/s ({min(values):,.0f}–{max(values):,.0f})"
              f"  {median / peer:4.1f}× the peer")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["ceiling"]:
        print(json.dumps(ceiling(json.loads(sys.stdin.read()))))
    else:
        sys.exit(main())
