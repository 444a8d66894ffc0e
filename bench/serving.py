"""Serving a burst of feed readers: `python -m bench.serving [--seconds S] [--readers 1,50,200]
[--servers ours,stdlib,waitress,aiohttp]`.

Writes a ~30 KB Atom feed (bench/corpus.py) into a temporary folder and serves it with each
server, each in its own process on 127.0.0.1: "ours", the daemon's FeedServer
(scheduler/server.py, default limits); "stdlib", `python -m http.server`; and, when asked for,
"waitress", the same file serving as a WSGI app under waitress (bench/wsgi_files.py; its
default 4 threads and 100 connections, a 1,024 listen queue); "aiohttp", the same as an aiohttp
app (bench/aiohttp_files.py; one event loop, no connection cap, a 1,024 listen queue). This
process's own asyncio client then keeps 1, 50 and 200 readers busy for S seconds per row,
servers interleaved so all see the same noise. A reader sends a plain GET, a GET with
`Accept-Encoding: gzip` (http.server ignores it) or a conditional GET (`If-Modified-Since`)
answered 304, each on a new connection closed after the answer, as a feed reader polling once
does; in the "kept" rows it keeps its HTTP/1.1 connection for the next GET, and sends again on
a new one when the server closed it (the server's choice: http.server closes after every
answer; ours when connections wait).

Per row it prints requests/s, the p50 and p99 latency (connect, or send on a kept connection,
to last byte; ms), the connects that took over a second (the kernel dropped the SYN: the queue
of connections waiting to be accepted was full, and the client retried), and the failures:
refused, reset, closed early, no answer within 5 s, or a wrong status.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

from bench import corpus
from bench.runs import registry
from scheduler.httpfiles import RACY_SECONDS

FEED_NAME = "all.atom"
FEED_ENTRIES = 33  # about 30 KB of Atom
REQUEST_TIMEOUT = 5.0
SLOW_CONNECT = 1.0  # Linux retransmits a dropped SYN after 1 s


@dataclass(frozen=True, slots=True)
class Request:
    name: str
    raw: bytes
    status: int
    kept: bool = False  # the reader keeps its connection for the next request


def request(name: str, headers: str = "", status: int = 200, kept: bool = False) -> Request:
    close = "" if kept else "Connection: close\r\n"
    raw = (f"GET /{FEED_NAME} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench.serving\r\n"
           f"{headers}{close}\r\n")
    return Request(name, raw.encode(), status, kept)


@dataclass(slots=True)
class Tally:
    """What one row's requests came to."""

    latencies: list[float] = field(default_factory=list)
    slow_connects: int = 0
    failures: int = 0
    wall: float = 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else math.nan


def requests(feed_mtime: float) -> list[Request]:
    since = formatdate(feed_mtime, usegmt=True)
    return [request("GET"), request("GET gzip", "Accept-Encoding: gzip\r\n"),
            request("GET → 304", f"If-Modified-Since: {since}\r\n", 304), request("GET kept", kept=True)]


def write_feed(directory: Path) -> Path:
    doc = corpus.sources(corpus.Generator(registry()), 1, FEED_ENTRIES, 1)[0]
    path = directory / FEED_NAME
    path.write_bytes(doc.body)
    return path


# -- the servers, each in its own process -------------------------------------------------------------


def _serve_feedserver(directory: str, port: multiprocessing.Queue[int], settings: dict[str, Any]) -> None:
    from scheduler.server import FeedServer

    server = FeedServer(Path(directory), **settings)
    server.start()
    port.put(server.port)
    threading.Event().wait()  # until the parent terminates this process


@contextmanager
def spawned(target: Callable[..., None], directory: Path, settings: dict[str, Any]) -> Iterator[int]:
    """`target(directory, port queue, settings)` in a process of its own; yields the port it serves."""
    context = multiprocessing.get_context("spawn")  # not fork: the caller may have threads
    port: multiprocessing.Queue[int] = context.Queue()
    process = context.Process(target=target, args=(str(directory), port, settings), daemon=True)
    process.start()
    try:
        yield port.get(timeout=30)
    finally:
        process.terminate()
        process.join()


def feedserver(directory: Path, **settings: Any) -> AbstractContextManager[int]:
    return spawned(_serve_feedserver, directory, settings)


def waitress_server(directory: Path, **settings: Any) -> AbstractContextManager[int]:
    from bench.wsgi_files import serve_waitress

    return spawned(serve_waitress, directory, settings)


def aiohttp_server(directory: Path, **settings: Any) -> AbstractContextManager[int]:
    from bench.aiohttp_files import serve_aiohttp

    return spawned(serve_aiohttp, directory, settings)


@contextmanager
def http_server(directory: Path) -> Iterator[int]:
    """`python -m http.server` on a free port (it prints the port it bound)."""
    command = [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory",
               str(directory)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 41234 (http://…/) ..."
            yield int(line.split(" port ")[1].split()[0])
        finally:
            process.terminate()


# -- the client ----------------------------------------------------------------------------------


class Closed(Exception):
    """The server closed the connection before the whole answer."""


@dataclass(slots=True)
class Reader:
    """One feed reader: its connection, if it keeps one, and the request it sends."""

    port: int
    request: Request
    tally: Tally
    sock: socket.socket | None = None

    async def poll(self) -> None:
        """One request, timed from the connect (or the send, on a kept connection) to the last byte."""
        start = time.perf_counter()
        reused = self.sock is not None
        head = await self._attempt(start)
        if head is None and reused:  # the server closed the kept connection: send again on a new one
            head = await self._attempt(start)
        if head is None or head.split()[1] != b"%d" % self.request.status:
            self.tally.failures += 1
            self.close()
            return
        self.tally.latencies.append(time.perf_counter() - start)
        if not self.request.kept or b"\r\nconnection: close" in head.lower() or head.startswith(b"HTTP/1.0"):
            self.close()

    async def _attempt(self, start: float) -> bytes | None:
        try:
            return await asyncio.wait_for(self._exchange(start), REQUEST_TIMEOUT)
        except (OSError, TimeoutError, Closed):
            self.close()
            return None

    async def _exchange(self, start: float) -> bytes | None:
        """The answer's head, its body read whole; None if the server closed before answering."""
        loop = asyncio.get_running_loop()
        if self.sock is None:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setblocking(False)
            await loop.sock_connect(self.sock, ("127.0.0.1", self.port))
            self.tally.slow_connects += time.perf_counter() - start > SLOW_CONNECT
        await loop.sock_sendall(self.sock, self.request.raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await loop.sock_recv(self.sock, 65536)
            if not chunk:
                raise Closed
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = _content_length(head)
        while len(body) < length:
            chunk = await loop.sock_recv(self.sock, 65536)
            if not chunk:
                raise Closed
            body += chunk
        return head

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def load(port: int, request: Request, readers: int, seconds: float) -> Tally:
    """`readers` clients, each sending its next request as soon as the last is answered."""
    tally = Tally()
    start = time.perf_counter()
    deadline = start + seconds

    async def run(reader: Reader) -> None:
        while time.perf_counter() < deadline:
            await reader.poll()
        reader.close()

    await asyncio.gather(*(run(Reader(port, request, tally)) for _ in range(readers)))
    tally.wall = time.perf_counter() - start
    return tally


def settle(feed: Path, ports: Sequence[int]) -> None:
    """A few requests to each server, then wait until the feed is as old as a published feed
    usually is: FeedServer reads a file again on each request for RACY_SECONDS after its ctime."""
    for port in ports:
        for warm in requests(feed.stat().st_mtime):
            asyncio.run(load(port, warm, 2, 0.05))
    time.sleep(max(0.0, feed.stat().st_ctime + RACY_SECONDS + 0.1 - time.time()))


SERVERS: dict[str, Callable[[Path], AbstractContextManager[int]]] = {
    "ours": feedserver, "stdlib": http_server, "waitress": waitress_server, "aiohttp": aiohttp_server}
SERVER_NAMES = {"ours": "scheduler.server.FeedServer", "stdlib": "python -m http.server",
                "waitress": "bench/wsgi_files.py under waitress", "aiohttp": "bench/aiohttp_files.py"}


# -- the table -------------------------------------------------------------------------------------


def cells(tally: Tally) -> str:
    rate = len(tally.latencies) / tally.wall if tally.wall else 0.0
    return (f"{rate:7,.0f} {tally.percentile(0.5) * 1000:6.1f} {tally.percentile(0.99) * 1000:7.1f} "
            f"{tally.slow_connects:5d} {tally.failures:6d}")


def header(servers: Sequence[str]) -> str:
    columns = " | ".join(f"{name:>8} {'req/s':>7} {'p50':>6} {'p99':>7} {'>1s':>5} {'failed':>6}"
                         for name in servers)
    return f"{'request':10} {'readers':>7} | {columns}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per row and server (default 1)")
    parser.add_argument("--readers", default="1,50,200", help="concurrent readers per row (default 1,50,200)")
    parser.add_argument("--servers", default="ours,stdlib",
                        help=f"servers to compare, of {','.join(SERVERS)} (default ours,stdlib)")
    args = parser.parse_args(argv)
    readers = [int(count) for count in args.readers.split(",")]
    names = args.servers.split(",")
    if unknown := set(names) - set(SERVERS):
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as folder, ExitStack() as stack:
        feed = write_feed(Path(folder))
        ports = {name: stack.enter_context(SERVERS[name](Path(folder))) for name in names}
        settle(feed, list(ports.values()))
        print(f"{feed.stat().st_size:,}-byte Atom feed, {args.seconds:g} s per row, latency in ms; "
              + ", ".join(f"{name} = {SERVER_NAMES[name]}" for name in names))
        print(header(list(ports)))
        for request in requests(feed.stat().st_mtime):
            for count in readers:
                row = [asyncio.run(load(port, request, count, args.seconds)) for port in ports.values()]
                print(f"{request.name:10} {count:7d} | " + " | ".join(f"{'':8} {cells(t)}" for t in row),
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
