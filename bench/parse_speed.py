"""Parse + normalise speed per core on the bench corpus: feedparser alone vs the lxml fast path.

    .venv/bin/python -m bench.parse_speed                 # 300 sources x 10 entries, 5 rounds
    .venv/bin/python -m bench.parse_speed --sources 1000 --rounds 7

Entries per second are per CPU second of this process (`time.process_time`),
so other work on a shared machine moves them less than wall time would; each
figure is the median of the rounds, with the min-max in brackets. Both paths
run in one process, alternating round by round, and must give equal items.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.corpus import T0, Generator, SourceDoc, sources
from bench.runs import registry
from feeds.model import SourceSpec
from feeds.parse import ParsedFeed, fastparse, parse_feed
from feeds.parse.normalise import normalise_feed


@contextmanager
def feedparser_only() -> Iterator[None]:
    """The fast path declines everything, as before it existed."""
    def decline(text: str, url: str) -> Any:
        raise fastparse.Unsupported("benchmark: feedparser only")

    fast = fastparse.parse
    fastparse.parse = decline
    try:
        yield
    finally:
        fastparse.parse = fast


def spec(doc: SourceDoc) -> SourceSpec:
    return SourceSpec(id=doc.id, url=f"http://127.0.0.1{doc.path}", party=doc.party, language=doc.language)


def one_round(docs: list[SourceDoc]) -> tuple[float, float, list[Any]]:
    """CPU seconds to parse every doc, CPU seconds to normalise them, and the items."""
    specs = [spec(doc) for doc in docs]
    start = time.process_time()
    parsed: list[ParsedFeed] = [
        parse_feed(d.body, {"Content-Type": d.content_type}, s.url, language=s.language)
        for d, s in zip(docs, specs, strict=True)
    ]
    middle = time.process_time()
    items = [normalise_feed(p, s, T0, {}) for p, s in zip(parsed, specs, strict=True)]
    return middle - start, time.process_time() - middle, items


def rate(entries: int, seconds: list[float]) -> str:
    rates = sorted(entries / s for s in seconds)
    return f"{statistics.median(rates):>8,.0f} ({rates[0]:,.0f}–{rates[-1]:,.0f})"


def measure(docs: list[SourceDoc], rounds: int) -> dict[str, dict[str, list[float]]]:
    paths: dict[str, Callable[[], Any]] = {"feedparser": feedparser_only, "fast path": _nothing}
    times: dict[str, dict[str, list[float]]] = {p: {"parse": [], "normalise": [], "both": []} for p in paths}
    results = {}
    for _ in range(rounds):
        for path, context in paths.items():
            with context():
                parse_s, normalise_s, results[path] = one_round(docs)
            times[path]["parse"].append(parse_s)
            times[path]["normalise"].append(normalise_s)
            times[path]["both"].append(parse_s + normalise_s)
    if results["feedparser"] != results["fast path"]:
        raise SystemExit("the two paths gave different items: a bug in feeds/parse/fastparse.py")
    return times


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.parse_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=300)
    parser.add_argument("--entries", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    docs = sources(Generator(registry()), args.sources, args.entries, hosts=50)
    entries = sum(doc.entries for doc in docs)
    times = measure(docs, args.rounds)
    print(f"{entries:,} entries in {len(docs)} feeds, {args.rounds} rounds; entries per CPU second, "
          "median (min–max)")
    print(f"{'':12} {'parse':>24} {'normalise':>24} {'parse + normalise':>24}")
    for path, by_stage in times.items():
        cells = (f"{rate(entries, by_stage[stage]):>24}" for stage in ("parse", "normalise", "both"))
        print(f"{path:12} " + " ".join(cells))
    ratio = statistics.median(times["feedparser"]["both"]) / statistics.median(times["fast path"]["both"])
    print(f"fast path / feedparser, parse + normalise: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
