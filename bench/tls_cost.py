"""CPU per HTTPS fetch on a new connection: `python -m bench.tls_cost [--fetches N] [--rounds R]`.

A source polled every few minutes outlives any keep-alive, so each poll of an HTTPS source opens
a new connection. This serves a small feed over TLS from a child process (the test certificate
in tests/data/tls; the server answers "Connection: close"), fetches it N times in a row with our
client, resuming the last TLS session of the origin or not (a cache that keeps none), and with
the reference stack (httpx.Client on httpcore, bench.poll_cost.HttpxClient), rounds interleaved
so all see the same noise, and prints the median CPU ms of this process per fetch (min–max) and
how many handshakes the server saw resumed.
"""

from __future__ import annotations

import argparse
import http.server
import multiprocessing
import resource
import ssl
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.poll_cost import HttpxClient
from bench.runs import SETTINGS
from feeds.fetch import HttpClient, KeepAliveTransport, fetch, make_client, netguard
from feeds.model import SourceState

TLS = Path(__file__).resolve().parent.parent / "tests" / "data" / "tls"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        resumed = b"1" if getattr(self.connection, "session_reused", False) else b"0"
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(FEED)))
        self.send_header("X-Resumed", resumed.decode())
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(FEED)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(port: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port.put(server.server_address[1])
    server.serve_forever()


def client(resume: bool) -> HttpClient:
    policy = netguard.AddressPolicy(frozenset({"127.0.0.1"}), True)
    tls = ssl.create_default_context(cafile=str(TLS / "cert.pem"))
    sessions = netguard.TlsSessions(limit=4096 if resume else 0)
    pool = netguard.Pool(netguard.GuardedConnector(policy), tls, sessions=sessions)
    return make_client(SETTINGS, transport=KeepAliveTransport(pool))


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def fetches(http: HttpClient | HttpxClient, url: str, count: int) -> tuple[float, int]:
    """CPU ms per fetch, and how many of the handshakes the server saw resumed."""
    start, resumed = cpu_seconds(), 0
    for _ in range(count):
        result = fetch(http, SourceState("s", url), SETTINGS, NOW)  # type: ignore[arg-type]
        assert result.status == "ok", result.error
        resumed += result.headers.get("x-resumed") == "1"
    return (cpu_seconds() - start) * 1000 / count, resumed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tls_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--fetches", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("spawn")  # not fork: the caller may have threads
    port: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    server = context.Process(target=_serve, args=(port,), daemon=True)
    server.start()
    url = f"https://127.0.0.1:{port.get(timeout=10)}/feed.rss"
    clients: dict[str, HttpClient | HttpxClient] = {
        "resumed sessions": client(True), "full handshakes": client(False),
        "httpx.Client": HttpxClient(verify=ssl.create_default_context(cafile=str(TLS / "cert.pem")))}
    costs: dict[str, list[tuple[float, int]]] = {name: [] for name in clients}
    try:
        for http in clients.values():
            fetches(http, url, 5)  # warm: imports, first handshake
        for _ in range(args.rounds):
            for name, http in clients.items():
                costs[name].append(fetches(http, url, args.fetches))
    finally:
        server.terminate()
        for http in clients.values():
            http.close()
    print(f"{args.fetches} HTTPS fetches on new connections × {args.rounds} rounds "
          "(CPU of this process per fetch; median, min–max)")
    for name, runs in costs.items():
        cpu = [ms for ms, _ in runs]
        resumed = sum(count for _, count in runs)
        print(f"  {name:18} {statistics.median(cpu):6.3f} ms ({min(cpu):.3f}–{max(cpu):.3f}); "
              f"{resumed} of {args.fetches * args.rounds} handshakes resumed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
