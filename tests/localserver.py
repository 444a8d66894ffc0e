"""A real HTTP server on 127.0.0.1 for tests: scripted responses, recorded requests.

    with LocalServer() as server:
        server.script("/feed", Reply(200, body=b"<rss/>"), Reply(304))
        ...  # fetch server.url("/feed") twice
        assert server.requests_for("/feed")[1].headers["if-none-match"] == '"v1"'

Each path has a queue of replies: each request takes the next one and the last
one repeats. Unknown paths get 404. Every request is recorded with its headers
and the server's own monotonic timestamps (when it arrived, when the reply was
finished), so tests can check ordering (did two requests overlap?) without
asserting how fast anything is. Threaded: concurrent requests are served
concurrently. Delays wait on an event that `close()` sets, so a stalled reply
never keeps a test waiting.
"""

from __future__ import annotations

import gzip
import http.server
import itertools
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FEEDS_DIR = Path(__file__).parent / "data" / "feeds"


@dataclass(frozen=True)
class Reply:
    """One scripted response.

    `delay`: seconds to wait before sending anything (a stalled server).
    `drip`: if > 0, send the body `drip` bytes at a time, `drip_interval` apart.
    `gzip`: compress the body and say so in Content-Encoding.
    `content_length`: override the Content-Length header (None: the body's length; -1: no
    Content-Length, the body ends when the connection closes).
    Hostile servers: `raw` is written instead of any HTTP response, then the connection
    closes (`reset`: with a TCP RST); `body_delay` stalls after the headers; `endless`
    repeats the body (or 64 KiB of "x") until the client hangs up or the server stops.
    """

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    drip: int = 0
    drip_interval: float = 0.0
    gzip: bool = False
    content_length: int | None = None
    raw: bytes | None = None
    reset: bool = False
    body_delay: float = 0.0
    endless: bool = False

    @classmethod
    def feed(cls, name: str, content_type: str = "application/rss+xml; charset=utf-8", **kw: Any) -> Reply:
        """A 200 reply carrying a fixture from tests/data/feeds/."""
        headers = (("Content-Type", content_type), *kw.pop("headers", ()))
        return cls(200, body=(FEEDS_DIR / name).read_bytes(), headers=headers, **kw)

    @classmethod
    def redirect(cls, status: int, location: str) -> Reply:
        return cls(status, headers=(("Location", location),))


@dataclass(frozen=True)
class Request:
    """A request as the server saw it; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    port: int
    started: float  # time.monotonic() when the request line and headers were read
    # time.monotonic() just before the reply's last byte was written (or when it was
    # abandoned): recorded before the client can have the whole reply, so a test
    # that has its response always finds the request here.
    finished: float
    tls_resumed: bool | None = None  # over HTTPS: whether the handshake resumed a session


@dataclass
class _Script:
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self, path: str) -> Reply:
        with self.lock:
            queue = self.replies.get(path)
            if not queue:
                return Reply(404, body=b"not found")
            return queue.pop(0) if len(queue) > 1 else queue[0]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # an idle keep-alive connection ends its thread
    server: _Server

    def do_GET(self) -> None:
        self._started = time.monotonic()
        self._recorded = False
        try:
            self._send(self.server.script.next_reply(self.path))
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client gave up (a timeout under test)
        finally:
            self._record()

    def _send(self, reply: Reply) -> None:
        stop = self.server.stopping
        if reply.delay and stop.wait(reply.delay):
            self.close_connection = True
            return
        if reply.raw is not None or reply.reset:
            self._send_raw(reply)
            return
        body = gzip.compress(reply.body) if reply.gzip else reply.body
        if reply.endless:
            self._send_endless(reply, body or b"x" * 65536)
            return
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.gzip:
            self.send_header("Content-Encoding", "gzip")
        self._send_length(reply, len(body))
        step = reply.drip or len(body) or 1
        pieces = [body[start : start + step] for start in range(0, len(body), step)]
        if not pieces:
            self._record()  # before the last byte goes out: a client that has the reply sees the record
        self.end_headers()
        if reply.body_delay and stop.wait(reply.body_delay):
            self.close_connection = True
            return
        for index, piece in enumerate(pieces):
            if index and reply.drip_interval and stop.wait(reply.drip_interval):
                self.close_connection = True
                return
            if index == len(pieces) - 1:
                self._record()
            self.wfile.write(piece)

    def _send_length(self, reply: Reply, length: int) -> None:
        if reply.content_length == -1:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(length if reply.content_length is None
                                                    else reply.content_length))

    def _send_raw(self, reply: Reply) -> None:
        self._record()
        self.close_connection = True
        if reply.raw:
            self.wfile.write(reply.raw)
            self.wfile.flush()
        if reply.reset:  # linger 0: close() sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _send_endless(self, reply: Reply, piece: bytes) -> None:
        self._record()
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self._send_length(reply, len(piece))
        self.end_headers()
        self.close_connection = True
        while not self.server.stopping.is_set():
            self.wfile.write(piece)  # ends with ConnectionError once the client hangs up
            if reply.drip_interval and self.server.stopping.wait(reply.drip_interval):
                return

    def _record(self) -> None:
        if self._recorded:
            return
        self._recorded = True
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Request("GET", self.path, headers, self.server.server_port, self._started, time.monotonic(),
                          getattr(self.connection, "session_reused", None))
        with self.server.script.lock:
            self.server.script.requests.append(request)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = _Script()
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-reply is what timeout tests do


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 and a free port, used as a context manager."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        """`tls`: a server context to serve HTTPS with (the handshake runs when a connection is accepted)."""
        self._server = _Server()
        self._scheme = "https" if tls else "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def base_url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def script(self, path: str, *replies: Reply) -> None:
        """Replace the replies for `path`: one per request, the last one repeating."""
        with self._server.script.lock:
            self._server.script.replies[path] = list(replies)

    @property
    def requests(self) -> list[Request]:
        with self._server.script.lock:
            return list(self._server.script.requests)

    def requests_for(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]


def overlapping(a: Request, b: Request) -> bool:
    """Whether two requests were being served at the same time."""
    return a.started < b.finished and b.started < a.finished


def any_overlap(requests: Iterable[Request]) -> bool:
    return any(overlapping(x, y) for x, y in itertools.combinations(requests, 2))
