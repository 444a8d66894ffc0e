"""Run every hostile case of tests/hostile_cases.py and print a table: what happened, time, peak memory.

    .venv/bin/python -m bench.hostile_table

HTTP cases are served by a local server on 127.0.0.1 and fetched with the
test settings (total deadline 0.6 s, read timeout 30 s, body limit 100 kB);
XML cases are parsed. Peak memory is tracemalloc's peak of Python
allocations during the case (the client's and parser's; the server's threads
allocate too, so HTTP peaks are upper bounds).
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from feeds.errors import ParseError
from feeds.fetch import fetch, make_client
from feeds.model import SourceState
from feeds.parse import parse_feed
from tests.hostile_cases import SECRET, SETTINGS, XmlCase, http_cases, xml_cases
from tests.localserver import LocalServer, Reply

NOW = datetime(2024, 5, 1, tzinfo=UTC)


def measure(run: Callable[[], str]) -> tuple[str, float, int]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        outcome = run()
    finally:
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, elapsed, peak


def http_rows() -> list[tuple[str, str, float, int]]:
    rows = []
    with LocalServer() as server, make_client(SETTINGS) as client:
        for case in http_cases():
            server.script(case.path, *case.replies)
            for path, replies in case.extra:
                server.script(path, *replies)

            def run(path: str = case.path, name: str = case.name) -> str:
                result = fetch(client, SourceState(name, server.url(path)), SETTINGS, NOW)
                return f"{result.status}: {result.error}"
            rows.append((f"http {case.name}", *measure(run)))
    return rows


def xml_rows() -> list[tuple[str, str, float, int]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder, LocalServer() as dtd:
        secret = Path(folder) / "secret.txt"
        secret.write_text(SECRET, "utf-8")
        dtd.script("/evil.dtd", Reply(200, body=b"<!ENTITY x 'leak'>"))
        cases = [*xml_cases(str(secret), dtd.url("/evil.dtd")), *_big_cases()]
        for case in cases:
            def run(body: bytes = case.body) -> str:
                try:
                    parsed = parse_feed(body, {}, "https://hostile.example/feed")
                except ParseError as exc:
                    return f"refused: {str(exc).split(' (from')[0]}"
                leaked = " LEAKED" if SECRET in repr(parsed) else ""
                return f"parsed: {len(parsed.entries)} entries{leaked}"
            rows.append((f"xml {case.name}", *measure(run)))
        requested = len(dtd.requests)
    rows.append(("xml (all) external DTD/entity URL requested", f"{requested} requests", 0.0, 0))
    return rows


def _big_cases() -> list[XmlCase]:
    items = "".join(f"<item><title>Item {n}</title><link>https://x.example/{n}</link></item>"
                    for n in range(20_000))
    huge = "word " * 400_000
    return [XmlCase("20000-entries", _channel(items), None),
            XmlCase("2MB-title", _channel(f"<item><title>{huge}</title><link>https://x.example/1</link></item>"),
                    None)]


def _channel(items: str) -> bytes:
    return f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


def main() -> None:
    rows = http_rows() + xml_rows()
    print("| case | what happened | time | peak memory |")
    print("| --- | --- | --- | --- |")
    for name, outcome, elapsed, peak in rows:
        outcome = outcome.replace("|", "/")
        outcome = outcome if len(outcome) <= 110 else outcome[:109] + "…"
        print(f"| {name} | {outcome} | {elapsed:.2f} s | {peak / 2**20:.1f} MiB |")


if __name__ == "__main__":
    main()
