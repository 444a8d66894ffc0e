"""The daemon's HTTP server (standard library only): the output directory, /healthz, /metrics.

- GET and HEAD only; anything else is 405 with `Allow`. Every response says nosniff.
- Paths are percent-decoded once; each segment must be a plain name (no empty, dot or
  dotfile segments, backslashes or control characters) and the file, symlinks
  resolved, a regular file inside the output directory with a suffix in
  CONTENT_TYPES. Anything else is 400 or 404: no listings, no way out.
- Files are read whole from one open descriptor: the publisher swaps them with
  os.replace, so that is one complete version, and its ETag (content hash; the gzip
  variant ends "-gzip") and Last-Modified (fstat) describe exactly the body sent.
  gzip bodies are cached by path and content hash, not (mtime_ns, size), which two
  same-sized versions written within one timestamp tick would share.
- Request heads over 16 KiB or 64 headers are refused (414/431); idle connections close
  after `idle_timeout`. One DEBUG line per request (readers poll a lot), never stderr.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import io
import json
import logging
import os
import re
import selectors
import socket
import socketserver
import stat
import sys
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.message import Message
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path, PurePosixPath
from typing import Any

from scheduler.metrics import CONTENT_TYPE as METRICS_TYPE

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",  # JSON Feed
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
INDEX = "index.html"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
ALLOWED_METHODS = ("GET", "HEAD")
MAX_HEAD_BYTES = 16 * 1024
MAX_HEADER_LINES = 64
GZIP_CACHE_ENTRIES = 512
STOP_WAIT_SECONDS = 1.0
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
_ETAG = re.compile(r'(?:W/)?("[^"]*")')

Health = Callable[[], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Document:
    """One version of a published file, as read from one open file descriptor."""

    relpath: str
    data: bytes
    mtime: float
    digest: str

    def etag(self, gzipped: bool) -> str:
        return f'"{self.digest}-gzip"' if gzipped else f'"{self.digest}"'


@dataclass(slots=True)
class Site:
    """What the handlers share: the output directory, the hooks and the gzip cache."""

    output_dir: Path
    health: Health | None = None
    metrics: Callable[[], str] | None = None
    on_response: Callable[[int], None] | None = None
    idle_timeout: float = 30.0
    max_age: int = 300
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _gzip: OrderedDict[str, tuple[str, bytes]] = field(default_factory=OrderedDict)

    def read(self, parts: tuple[str, ...]) -> Document | None:
        """The regular file at `parts` under the output directory, or None; never a file outside it."""
        root = self.output_dir.resolve()
        try:
            path = root.joinpath(*parts).resolve(strict=True)
            if not path.is_relative_to(root):
                return None
            # O_NONBLOCK: opening a FIFO dropped into the folder must not hang the thread.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    return None
                data = handle.read()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
            return None
        digest = hashlib.sha256(data).hexdigest()[:32]
        return Document("/".join(parts), data, info.st_mtime, digest)

    def gzipped(self, doc: Document) -> bytes:
        """`doc` compressed (mtime=0, so the same bytes give the same body), cached per path and hash."""
        with self._lock:
            cached = self._gzip.get(doc.relpath)
            if cached is not None and cached[0] == doc.digest:
                self._gzip.move_to_end(doc.relpath)
                return cached[1]
        body = gzip.compress(doc.data, compresslevel=6, mtime=0)
        with self._lock:
            self._gzip[doc.relpath] = (doc.digest, body)
            self._gzip.move_to_end(doc.relpath)
            while len(self._gzip) > GZIP_CACHE_ENTRIES:
                self._gzip.popitem(last=False)
        return body


class FeedServer:
    """Serve `output_dir` from a background thread: start(), then .port and .url, then stop()."""

    def __init__(self, output_dir: Path, host: str = "127.0.0.1", port: int = 0, *,
                 health: Health | None = None, metrics: Callable[[], str] | None = None,
                 on_response: Callable[[int], None] | None = None,
                 idle_timeout: float = 30.0, max_age: int = 300) -> None:
        self.site = Site(output_dir, health, metrics, on_response, idle_timeout, max_age)
        self.host = host
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the socket and serve in a daemon thread; OSError if the address is taken."""
        if self._httpd is not None:
            raise RuntimeError("the server is already running")
        server_class = _HTTPServer6 if ":" in self.host else _HTTPServer
        self._httpd = server_class((self.host, self._requested_port), self.site)
        self._thread = threading.Thread(target=self._httpd.serve_until_stopped,
                                        name=f"partyfeeds-http-{self.port}", daemon=True)
        self._thread.start()
        log.info("serving url=%s directory=%s", self.url, self.site.output_dir)

    @property
    def port(self) -> int:
        """The bound port (the free one picked when asked for port 0)."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return int(self._httpd.server_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def stop(self) -> None:
        """Stop accepting, cut open connections, close the socket; waits at most about a second."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None or thread is None:
            return
        httpd.stop_serving()
        thread.join(STOP_WAIT_SECONDS)
        httpd.close_connections(STOP_WAIT_SECONDS)
        httpd.server_close()
        log.info("stopped serving")

    def __enter__(self) -> FeedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _HTTPServer(http.server.ThreadingHTTPServer):
    """A thread per connection; remembers open connections so stop() can cut idle keep-alives."""

    timeout = 0.5  # handle_request's own wait, should the connection we were woken for vanish

    def __init__(self, address: tuple[str, int], site: Site) -> None:
        self.site = site
        self._connections: set[socket.socket] = set()
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        try:
            super().__init__(address, _Handler)
        except BaseException:
            self._close_wake_pair()
            raise

    def serve_until_stopped(self) -> None:
        """serve_forever without its 0.5 s polling: stop_serving wakes the selector through a socket pair."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopping.is_set():
                if any(key.fileobj is self for key, _ in selector.select()):
                    self.handle_request()  # accept, hand over to a thread (self.timeout bounds its wait)

    def stop_serving(self) -> None:
        self._stopping.set()
        self._wake_writer.send(b"\0")

    def server_close(self) -> None:
        super().server_close()
        self._close_wake_pair()

    def _close_wake_pair(self) -> None:
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for getfqdn(host), which we never need.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.socket.getsockname()[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._changed:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self._changed:
            self._connections.discard(request)
            self._changed.notify_all()

    def close_connections(self, timeout: float) -> None:
        """Shut every open connection down (a blocked read returns at once) and wait for the handlers."""
        with self._changed:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._changed.wait_for(lambda: not self._connections, timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):  # the client went away: not our bug
            log.debug("connection dropped client=%s error=%r", client_address[0], exc)
        else:
            log.exception("unexpected error serving client=%s", client_address[0])


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _HeadTooLarge(Exception):
    pass


class _BoundedHead(io.BufferedIOBase):
    """The connection's reader, counting what the request line and headers use.

    http.server allows 64 KiB lines and 100 headers; we allow MAX_HEAD_BYTES in all.
    """

    def __init__(self, raw: io.BufferedIOBase) -> None:
        super().__init__()
        self.raw_reader = raw
        self.overflowed = False
        self.start()

    def start(self) -> None:
        self._left, self._lines = MAX_HEAD_BYTES, 0

    def readable(self) -> bool:
        return True

    def readline(self, limit: int | None = -1) -> bytes:
        cap = self._left + 1 if limit is None or limit < 0 else min(limit, self._left + 1)
        line = self.raw_reader.readline(cap)
        self._left -= len(line)
        self._lines += 1
        if self._left < 0 or self._lines > MAX_HEADER_LINES + 2:  # + request line and blank line
            self.overflowed = True
            raise _HeadTooLarge(f"request head over {MAX_HEAD_BYTES} bytes or {MAX_HEADER_LINES} headers")
        return line

    def read(self, size: int | None = -1) -> bytes:
        return self.raw_reader.read(size)

    def close(self) -> None:
        self.raw_reader.close()
        super().close()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _HTTPServer
    rfile: _BoundedHead
    raw_requestline: bytes
    protocol_version = "HTTP/1.1"  # keep-alive: feed readers fetch several feeds in a row
    # Answer malformed requests with a status line and headers too (http.server's
    # default of 0.9 sends errors as a bare body, without nosniff).
    default_request_version = "HTTP/1.0"
    # Headers and body go out in two writes; with Nagle the body would wait for the
    # client's delayed ACK of the headers (40 ms per keep-alive response).
    disable_nagle_algorithm = True
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s\n"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.site.idle_timeout)
        self.rfile = _BoundedHead(self.rfile)

    def handle_one_request(self) -> None:
        self.rfile.start()
        try:
            super().handle_one_request()
        except _HeadTooLarge:  # only the request line gets here; parse_request handles headers
            self.requestline = self.request_version = self.command = self.path = ""
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
        if self.rfile.overflowed:
            self.close_connection = True
            self._discard_input()

    def parse_request(self) -> bool:
        words = self.raw_requestline.decode("iso-8859-1").split()
        if len(words) == 2:  # HTTP/0.9: http.server would go on to wait for headers
            self.requestline, self.command, self.request_version = " ".join(words), words[0], "HTTP/1.0"
            self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 is not supported")
            return False
        try:
            if not super().parse_request():
                return False
        except _HeadTooLarge as exc:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, str(exc))
            return False
        if self.command not in ALLOWED_METHODS:
            # Any body is left unread, so the connection cannot carry another request.
            allow = [("Allow", ", ".join(ALLOWED_METHODS))]
            self._send_text(HTTPStatus.METHOD_NOT_ALLOWED, allow, close=True)
            return False
        if self.headers.get("Transfer-Encoding") or self.headers.get("Content-Length", "0") != "0":
            self.close_connection = True  # a GET with a body: same reason
        return True

    def do_GET(self) -> None:
        path = request_path(self.path)
        if path is None:
            self._send_text(HTTPStatus.BAD_REQUEST)
        elif path == HEALTH_PATH:
            self._send_health()
        elif path == METRICS_PATH:
            self._send_metrics()
        else:
            self._send_file(path)

    do_HEAD = do_GET  # _send leaves the body out for HEAD

    def version_string(self) -> str:
        return "partyfeeds"

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")  # every response, errors included
        super().end_headers()

    # --- responses -------------------------------------------------------------------------

    def _send_file(self, path: str) -> None:
        parts = file_parts(path)
        content_type = CONTENT_TYPES.get(PurePosixPath(parts[-1]).suffix.lower()) if parts else None
        doc = self.server.site.read(parts) if parts and content_type else None
        if doc is None or content_type is None:
            self._send_text(HTTPStatus.NOT_FOUND)
            return
        compress = accepts_gzip(self.headers.get("Accept-Encoding", ""))
        headers = [("ETag", doc.etag(compress)), ("Last-Modified", formatdate(doc.mtime, usegmt=True)),
                   ("Cache-Control", f"public, max-age={self.server.site.max_age}"),
                   ("Vary", "Accept-Encoding")]
        if not_modified(self.headers, doc.etag(compress), doc.mtime):
            self._send(HTTPStatus.NOT_MODIFIED, headers)
            return
        body = self.server.site.gzipped(doc) if compress else doc.data
        if compress:
            headers.append(("Content-Encoding", "gzip"))
        self._send(HTTPStatus.OK, [*headers, ("Content-Type", content_type)], body)

    def _send_health(self) -> None:
        check = self.server.site.health
        try:
            report = dict(check()) if check is not None else {"status": "ok"}
        except Exception:
            # A health check that breaks means "not healthy": answer 503, keep the traceback.
            log.exception("health check failed")
            report = {"status": "error", "error": "the health check raised an exception"}
        status = HTTPStatus.OK if report.get("status") == "ok" else HTTPStatus.SERVICE_UNAVAILABLE
        body = json.dumps(report, ensure_ascii=False, sort_keys=True, default=str).encode() + b"\n"
        self._send(status, [("Content-Type", "application/json; charset=utf-8"),
                            ("Cache-Control", "no-store")], body)

    def _send_metrics(self) -> None:
        render = self.server.site.metrics
        if render is None:
            self._send_text(HTTPStatus.NOT_FOUND)
            return
        try:
            body = render().encode()
        except Exception:
            log.exception("rendering metrics failed")
            self._send_text(HTTPStatus.INTERNAL_SERVER_ERROR)
            return
        self._send(HTTPStatus.OK, [("Content-Type", METRICS_TYPE), ("Cache-Control", "no-store")], body)

    def _send_text(self, status: HTTPStatus, headers: Iterable[tuple[str, str]] = (), *,
                   close: bool = False) -> None:
        extra = [("Connection", "close")] if close else []
        body = f"{status.value} {status.phrase}\n".encode()
        self._send(status, [*headers, *extra, ("Content-Type", "text/plain; charset=utf-8")], body)

    def _send(self, status: HTTPStatus, headers: Iterable[tuple[str, str]],
              body: bytes | None = None) -> None:
        """Status, headers, Content-Length (unless 304) and the body (unless HEAD)."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _discard_input(self) -> None:
        """Read what the client already sent: closing with unread data resets the connection,
        and the client could lose our error response."""
        with contextlib.suppress(OSError):
            self.connection.settimeout(0.1)
            for _ in range(64):
                if not self.connection.recv(65536):
                    break

    # --- logging: one DEBUG line per request, nothing on stderr ------------------------------

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", "")
        log.debug("request client=%s method=%s path=%r status=%s",
                  self.client_address[0], self.command or "-", path[:200], code)
        hook = self.server.site.on_response
        if hook is not None and isinstance(code, int):
            hook(int(code))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("client=%s %s", self.client_address[0], format % args)


def request_path(target: str) -> str | None:
    """The path of a request target, percent-decoded once; None unless it is a clean absolute path."""
    raw = target.split("?", 1)[0].split("#", 1)[0]
    if not raw.startswith("/"):
        return None
    try:
        path = urllib.parse.unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return None
    return None if _UNSAFE.search(path) else path


def file_parts(path: str) -> tuple[str, ...] | None:
    """The segments of a file path ("/" is the index); None for empty, dot and hidden segments."""
    if path == "/":
        return (INDEX,)
    parts = tuple(path[1:].split("/"))
    if any(not part or part.startswith(".") for part in parts):
        return None
    return parts


def accepts_gzip(accept_encoding: str) -> bool:
    """True if the Accept-Encoding value allows gzip: listed, or `*`, with a q-value above 0."""
    weights = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        if coding.strip():
            weights[coding.strip().lower()] = _qvalue(params)
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


def _qvalue(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0
    return 1.0


def not_modified(headers: Message, etag: str, mtime: float) -> bool:
    """Whether the request's validators match; If-None-Match, when present, decides alone."""
    if_none_match = headers.get_all("If-None-Match")
    if if_none_match:
        field_value = ", ".join(if_none_match)
        return field_value.strip() == "*" or etag in _ETAG.findall(field_value)  # weak comparison
    since = headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if when.tzinfo is None:  # "-0000" parses naive; HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return int(mtime) <= when.timestamp()  # HTTP dates have whole seconds
