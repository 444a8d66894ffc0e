"""The served-file behaviour of the daemon's server beside waitress and aiohttp:
`python -m bench.server_behaviour`.

Serves one folder three times, each server in its own process on 127.0.0.1 with the same limits
as far as each has them: "ours", scheduler.server.FeedServer; "waitress", the same file serving
as a WSGI app (bench/wsgi_files.py); "aiohttp", the same as an aiohttp app
(bench/aiohttp_files.py). Limits: 4 connections at once (aiohttp has no cap), a 3 s idle timeout
(waitress: channel_timeout 3, cleanup_interval 1; aiohttp: keepalive_timeout 3), request heads
of 16 KiB (aiohttp: 8,190-byte lines, 128 headers), and for ours a 1 s head deadline and 64
header lines (waitress has neither, aiohttp no deadline). Each row is one probe over raw sockets; it prints a
markdown table of what each server did (status codes, headers, seconds until something happened).
"""

from __future__ import annotations

import gzip
import http.client
import os
import select
import socket
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from bench.aiohttp_files import aiohttp_limits
from bench.serving import aiohttp_server, feedserver, waitress_server, write_feed
from bench.wsgi_files import waitress_limits

MAX_CONNECTIONS = 4
IDLE_TIMEOUT = 3.0
HEAD_TIMEOUT = 1.0
PATIENCE = 12.0  # seconds a probe waits for the server to act
Probe = Callable[[int], str]


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)


def exchange(port: int, raw: bytes) -> http.client.HTTPResponse:
    """Send `raw` on a new connection; the answer, its body read."""
    sock = connect(port)
    try:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock, method=raw.split(b" ", 1)[0].decode())
        response.begin()
        response.body = response.read()  # type: ignore[attr-defined]
        return response
    finally:
        sock.close()


def get(path: str, headers: str = "", method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode()


def status(port: int, raw: bytes) -> str:
    try:
        return str(exchange(port, raw).status)
    except (OSError, http.client.HTTPException) as exc:
        return f"no answer ({type(exc).__name__})"


def closed_within(sock: socket.socket, seconds: float) -> bool:
    if not select.select([sock], [], [], seconds)[0]:
        return False
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass
    return True


# --- the probes -------------------------------------------------------------------------------------


def plain_get(port: int) -> str:
    response = exchange(port, get("/all.atom"))
    have = [name for name in ("ETag", "Last-Modified", "Content-Length", "X-Content-Type-Options")
            if response.getheader(name)]
    return f"{response.status}, {', '.join(have)}"


def not_modified(port: int) -> str:
    etag = exchange(port, get("/all.atom")).getheader("ETag")
    since = exchange(port, get("/all.atom")).getheader("Last-Modified")
    by_etag = exchange(port, get("/all.atom", f"If-None-Match: {etag}\r\n"))
    by_date = exchange(port, get("/all.atom", f"If-Modified-Since: {since}\r\n"))
    body = len(by_etag.body) + len(by_date.body)  # type: ignore[attr-defined]
    return f"If-None-Match {by_etag.status}, If-Modified-Since {by_date.status}, {body} body bytes"


def gzipped(port: int) -> str:
    plain = exchange(port, get("/all.atom")).body  # type: ignore[attr-defined]
    response = exchange(port, get("/all.atom", "Accept-Encoding: gzip\r\n"))
    body: bytes = response.body  # type: ignore[attr-defined]
    decoded = "decodes to the file" if gzip.decompress(body) == plain else "DIFFERS from the file"
    etag = "its own ETag" if response.getheader("ETag", "").endswith('-gzip"') else "the plain ETag"
    return (f"{response.status}, Content-Encoding {response.getheader('Content-Encoding')}, {etag}, "
            f"{len(body):,} of {len(plain):,} bytes, {decoded}")


def head(port: int) -> str:
    """HEAD then GET on one kept connection: the GET's answer must start right after HEAD's head."""
    raw = _raw(port, b"HEAD /all.atom HTTP/1.1\r\nHost: x\r\n\r\n" + get("/all.atom"))
    first, _, rest = raw.partition(b"\r\n\r\n")
    length = next((line.split(b":", 1)[1].strip().decode() for line in first.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), None)
    body = len(rest.partition(b"\r\n\r\n")[2])
    follows = "next answer follows the head" if rest.startswith(b"HTTP/1.1 ") else "BODY SENT"
    return f"{first.split(b' ')[1].decode()}, Content-Length {length} (GET sent {body:,}), {follows}"


TRAVERSALS = ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/public/../../secret.txt",
              "/.hidden.atom", "/link-out.atom", "//etc/passwd", "/%00.atom", "/%ff.atom"]


def traversal(port: int) -> str:
    statuses = [status(port, get(path)) for path in TRAVERSALS]
    leaked = sum(b"SECRET" in _raw(port, get(path)) for path in TRAVERSALS)
    return f"{' '.join(statuses)}; secret sent {leaked}×"


def _raw(port: int, raw: bytes) -> bytes:
    with connect(port) as sock:
        sock.sendall(raw)
        return b"".join(iter(lambda: sock.recv(65536), b""))


def post(port: int) -> str:
    response = exchange(port, b"POST /all.atom HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                              b"Connection: close\r\n\r\nab")
    return f"{response.status}, Allow: {response.getheader('Allow')}"


def http09(port: int) -> str:
    with connect(port) as sock:
        sock.sendall(b"GET /all.atom\r\n")
        started = time.monotonic()
        answer = b""
        if select.select([sock], [], [], PATIENCE)[0]:
            answer = sock.recv(200)
    first = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "closed, no answer,"
    return f"{first} after {time.monotonic() - started:.1f} s"


def big_head(port: int) -> str:
    big = status(port, get("/all.atom", f"X-Big: {'a' * 20_000}\r\n"))
    many = status(port, get("/all.atom", "".join(f"X-H{n}: 1\r\n" for n in range(100))))
    return f"20 KB header: {big}; 100 headers: {many}"


def slow_loris(port: int) -> str:
    """A request line, then a header line every 0.2 s: seconds until the server hangs up."""
    with connect(port) as sock:
        sock.sendall(b"GET /all.atom HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        while time.monotonic() - started < PATIENCE:
            try:
                sock.sendall(b"X-Drip: 1\r\n")
            except OSError:
                break
            if closed_within(sock, 0.2):
                break
        else:
            return f"still open after {PATIENCE:g} s"
    return f"closed after {time.monotonic() - started:.1f} s"


def silent(port: int) -> str:
    with connect(port) as sock:
        started = time.monotonic()
        if closed_within(sock, PATIENCE):
            return f"closed after {time.monotonic() - started:.1f} s"
    return f"still open after {PATIENCE:g} s"


def _waiting_answer(port: int, hold: Callable[[socket.socket], bool]) -> str:
    """MAX_CONNECTIONS connections held by `hold` (True: keep dripping header lines on it), then
    one GET: seconds until it is answered."""
    with ExitStack() as stack:
        holders = [stack.enter_context(connect(port)) for _ in range(MAX_CONNECTIONS)]
        dripping = [sock for sock in holders if hold(sock)]
        time.sleep(0.2)
        stop = threading.Event()
        threading.Thread(target=_drip, args=(dripping, stop), daemon=True).start()
        stack.callback(stop.set)
        started = time.monotonic()
        try:
            response = exchange(port, get("/all.atom"))
        except (OSError, http.client.HTTPException):
            return f"no answer within {PATIENCE:g} s"
        return f"{response.status} after {time.monotonic() - started:.1f} s"


def _drip(dripping: list[socket.socket], stop: threading.Event) -> None:
    while not stop.wait(0.2):
        for sock in list(dripping):
            try:
                sock.sendall(b"X-Drip: 1\r\n")
            except OSError:
                dripping.remove(sock)


def cap_slow_loris(port: int) -> str:
    def hold(sock: socket.socket) -> bool:
        sock.sendall(b"GET /all.atom HTTP/1.1\r\nHost: x\r\n")
        return True
    return _waiting_answer(port, hold)


def cap_kept(port: int) -> str:
    def hold(sock: socket.socket) -> bool:  # one answered request, then idle on the kept connection
        sock.sendall(b"GET /all.atom HTTP/1.1\r\nHost: x\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        response.read()
        return False
    return _waiting_answer(port, hold)


def keep_alive_10(port: int) -> str:
    with connect(port) as sock:
        sock.sendall(b"GET /all.atom HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        response.read()
        kept = not closed_within(sock, 0.3)
    return f"Connection: {response.getheader('Connection')}, {'kept' if kept else 'closed'}"


def burst(port: int) -> str:
    """200 connects at once past the cap: how many got the whole file, how many SYNs were resent."""
    expected = exchange(port, get("/all.atom")).body  # type: ignore[attr-defined]
    gate = threading.Barrier(200)

    def reader(_: int) -> tuple[bool, int]:
        gate.wait()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(get("/all.atom"))
                answer = b"".join(iter(lambda: sock.recv(65536), b""))
                info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
                return answer.endswith(b"\r\n\r\n" + expected), struct.unpack_from("I", info, 100)[0]
        except OSError:
            return False, 0

    started = time.monotonic()
    with ThreadPoolExecutor(200) as pool:
        results = list(pool.map(reader, range(200)))
    return (f"{sum(ok for ok, _ in results)}/200 whole in {time.monotonic() - started:.1f} s, "
            f"{sum(again > 0 for _, again in results)} retransmitted")


PROBES: list[tuple[str, Probe]] = [
    ("GET a feed", plain_get), ("conditional GET", not_modified), ("Accept-Encoding: gzip", gzipped),
    ("HEAD, then GET on the same connection", head),
    (f"traversal and hidden paths ({', '.join(TRAVERSALS)})", traversal),
    ("POST", post), ("HTTP/0.9 request line", http09), ("oversized heads", big_head),
    ("slow loris: a header line every 0.2 s", slow_loris), ("a connection that sends nothing", silent),
    (f"all {MAX_CONNECTIONS} slots held by slow lorises, then a GET", cap_slow_loris),
    (f"all {MAX_CONNECTIONS} slots held by idle kept connections, then a GET", cap_kept),
    ("HTTP/1.0 with Connection: keep-alive", keep_alive_10),
    (f"200 connects at once, cap {MAX_CONNECTIONS}", burst),
]


def folder(root: Path) -> Path:
    public = root / "public"
    public.mkdir()
    write_feed(public)
    (public / ".hidden.atom").write_text("<feed/>")
    (root / "secret.txt").write_text("SECRET")
    (root / "outside.atom").write_text("<feed>SECRET</feed>")
    os.symlink(root / "outside.atom", public / "link-out.atom")
    return public


def main(argv: list[str] | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-behaviour-") as root, ExitStack() as stack:
        public = folder(Path(root))
        servers = {
            "ours": stack.enter_context(feedserver(public, max_connections=MAX_CONNECTIONS,
                                                   idle_timeout=IDLE_TIMEOUT, head_timeout=HEAD_TIMEOUT)),
            "waitress": stack.enter_context(waitress_server(
                public, **waitress_limits(MAX_CONNECTIONS, IDLE_TIMEOUT, cleanup_interval=1))),
            "aiohttp": stack.enter_context(aiohttp_server(public, **aiohttp_limits(IDLE_TIMEOUT))),
        }
        time.sleep(2.1)  # the feed as old as a published one: both keep it in memory (RACY_SECONDS)
        print("| probe | " + " | ".join(servers) + " |")
        print("| --- |" + " --- |" * len(servers))
        for name, probe in PROBES:
            cells = [probe(port).replace("|", "/") for port in servers.values()]
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
