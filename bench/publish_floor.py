"""A first publish against what it cannot go below: `python -m bench.publish_floor --store S`.

An experiment, not a feature. In rounds of fresh processes on a copy of a stored corpus (the
bench's 100,000-item store; built here when --store is not given): a first publish as shipped,
timed until its rendering starts (the histories and the plan, on one process) and to the end;
then the files it wrote, read back into memory, written into a fresh folder by two processes
with plain open/write: the floor of the writes alone on this disk. The part before rendering
plus that floor is what a publish would still take if rendering cost nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import runs
from bench.__main__ import run
from bench.corpus import T0
from feeds import pipeline
from feeds import publish as publish_module
from feeds.store import Store

WRITERS = runs.PROCESSES


def first_publish(args: runs.Result) -> runs.Result:
    """A first publish of a copy of the store, with the moment its rendering starts."""
    workdir = Path(args["workdir"])
    db = workdir / "publish.sqlite"
    shutil.copy(args["store"], db)
    marks: dict[str, float] = {}
    render = publish_module._render

    def timed_render(*call: Any) -> Any:
        marks["render_start"] = time.perf_counter()
        return render(*call)

    publish_module._render = timed_render  # type: ignore[assignment]
    with Store(db) as store:
        start = time.perf_counter()
        report = pipeline.publish(store, runs.registry(), runs.SITE, workdir / "public", now=T0,
                                  workers=runs.PROCESSES)
        end = time.perf_counter()
    return {"wall": end - start, "before_render": marks["render_start"] - start,
            "written": len(report.written)}


def _write_files(folder: str, files: Sequence[tuple[str, bytes]]) -> None:
    for relpath, data in files:
        with open(os.path.join(folder, relpath), "wb") as out:
            out.write(data)


def write_floor(args: runs.Result) -> runs.Result:
    """The published files written again from memory into a fresh folder, on WRITERS processes."""
    tree, folder = Path(args["tree"]), Path(args["workdir"]) / "written"
    files = sorted((str(path.relative_to(tree)), path.read_bytes())
                   for path in tree.rglob("*") if path.is_file())
    context = multiprocessing.get_context("fork")
    start = time.perf_counter()
    for relpath in {os.path.dirname(relpath) for relpath, _ in files}:
        (folder / relpath).mkdir(parents=True, exist_ok=True)
    writers = [context.Process(target=_write_files, args=(str(folder), files[n::WRITERS]))
               for n in range(WRITERS)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    wall = time.perf_counter() - start
    assert all(writer.exitcode == 0 for writer in writers)
    return {"wall": wall, "files": len(files), "mb": sum(len(data) for _, data in files) / 1e6}


def _spread(values: Sequence[float]) -> str:
    return f"{statistics.median(values):6.2f} ({min(values):.2f}–{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.publish_floor",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, help="a store built by `python -m bench` (its big.sqlite)")
    parser.add_argument("--items", type=int, default=100_000, help="items of the store built without --store")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    published: list[runs.Result] = []
    floors: list[runs.Result] = []
    with tempfile.TemporaryDirectory(prefix="partyfeeds-publish-floor-") as temporary:
        workdir = Path(temporary)
        store = args.store
        if store is None:
            store = workdir / "big.sqlite"
            run("build_store", {"path": str(store), "items": args.items})
        for number in range(args.rounds):
            rundir = workdir / f"round-{number}"
            rundir.mkdir()
            published.append(run("publish", {"store": str(store.resolve()), "workdir": str(rundir)},
                                 "bench.publish_floor"))
            floors.append(run("write", {"tree": str(rundir / "public"), "workdir": str(rundir)},
                              "bench.publish_floor"))
            print(f"  round {number + 1}: publish {published[-1]['wall']:.2f} s, before rendering "
                  f"{published[-1]['before_render']:.2f} s; writes alone {floors[-1]['wall']:.2f} s",
                  file=sys.stderr, flush=True)
    before = [r["before_render"] for r in published]
    rendering = [r["wall"] - r["before_render"] for r in published]
    floor = [f["wall"] for f in floors]
    print(f"first publish, {floors[0]['files']:,} files ({floors[0]['mb']:,.0f} MB), "
          f"{args.rounds} rounds (seconds: median, min–max)")
    print(f"  as shipped                              {_spread([r['wall'] for r in published])}")
    print(f"    before rendering (histories, plan)    {_spread(before)}")
    print(f"    rendering and writing                 {_spread(rendering)}")
    print(f"  the same files written from memory      {_spread(floor)}  ({WRITERS} processes)")
    least = [b + f for b, f in zip(before, floor, strict=True)]
    print(f"  before rendering + writes alone         {_spread(least)}  (the target: < 3 s)")
    return 0


if __name__ == "__main__":
    child = {"publish": first_publish, "write": write_floor}.get(sys.argv[1] if len(sys.argv) > 1 else "")
    if child is not None:
        print(json.dumps(child(json.loads(sys.stdin.read()))))
    else:
        sys.exit(main())
