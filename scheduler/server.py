"""The daemon's HTTP server (standard library only): the output directory, /healthz, /metrics.

- GET and HEAD only; anything else is 405 with `Allow`. Every response says nosniff.
- Which paths are files, and how they are read, kept in memory and validated:
  scheduler/httpfiles.py (no listings, nothing outside the output directory).
- Request heads over 16 KiB or 64 headers are refused (414/431); idle connections close
  after `idle_timeout`; a request head must arrive whole within `head_timeout` of its
  first byte, however slowly it drips (slow loris: scheduler/requesthead.py).
- At most `max_connections` connections are served at once, a thread each; past that, new
  connections wait in the listen queue (`backlog`) until a slot frees, and kept-alive
  connections give their slots up to them (scheduler/connections.py). None is answered 503.
- One DEBUG line per request (readers poll a lot), never stderr.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path, PurePosixPath
from typing import Any

from scheduler.connections import ConnectionServer
from scheduler.httpfiles import (
    CONTENT_TYPES,
    OutputFiles,
    accepts_gzip,
    file_parts,
    not_modified,
    request_path,
)
from scheduler.metrics import CONTENT_TYPE as METRICS_TYPE
from scheduler.requesthead import BoundedHead, HeadTooLarge, parse_headers, read_header_lines

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
ALLOWED_METHODS = ("GET", "HEAD")
STOP_WAIT_SECONDS = 1.0

Health = Callable[[], Mapping[str, Any]]


@dataclass(slots=True)
class Site:
    """What the handlers share: the output files, the hooks and the limits."""

    files: OutputFiles
    health: Health | None = None
    metrics: Callable[[], bytes] | None = None
    on_response: Callable[[int], None] | None = None
    idle_timeout: float = 30.0
    max_age: int = 300
    head_timeout: float = 10.0
    max_connections: int = 64  # open connections, one thread each; more wait to be accepted
    backlog: int = 1024  # the listening socket's queue: connects past it are dropped by the kernel

    @property
    def output_dir(self) -> Path:
        return self.files.output_dir


class FeedServer:
    """Serve `output_dir` from a background thread: start(), then .port and .url, then stop()."""

    def __init__(self, output_dir: Path, host: str = "127.0.0.1", port: int = 0, *,
                 health: Health | None = None, metrics: Callable[[], bytes] | None = None,
                 on_response: Callable[[int], None] | None = None,
                 idle_timeout: float = 30.0, max_age: int = 300, head_timeout: float = 10.0,
                 max_connections: int = 64, backlog: int = 1024) -> None:
        self.site = Site(OutputFiles(output_dir), health, metrics, on_response, idle_timeout, max_age,
                         head_timeout, max_connections, backlog)
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


def _plain(words: list[str]) -> bool:
    return len(words) == 3 and words[2] in ("HTTP/1.0", "HTTP/1.1")


class _HTTPServer(ConnectionServer):
    """The connection server, with what the handlers share."""

    def __init__(self, address: tuple[str, int], site: Site) -> None:
        self.site = site
        super().__init__(address, _Handler, site)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _HTTPServer
    rfile: BoundedHead
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

    # A response's head and body leave in one send from this buffer (flushed after each request):
    # a send per header block and body costs a system call and a thread switch more per answer.
    wbufsize = 64 * 1024

    def setup(self) -> None:
        super().setup()
        self.rfile = BoundedHead(self.rfile, self.connection, self.server.site)

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.server.kept(self.connection)  # between requests: a waiting connect may take the slot
            self.handle_one_request()

    def handle_one_request(self) -> None:
        self.rfile.start()
        try:
            super().handle_one_request()
        except HeadTooLarge:  # only the request line gets here; parse_request handles headers
            self.requestline = self.request_version = self.command = self.path = ""
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
        self.wfile.flush()
        if self.rfile.overflowed:
            self.close_connection = True
            self._discard_input()

    def parse_request(self) -> bool:
        self.server.busy(self.connection)
        words = self.raw_requestline.decode("iso-8859-1").split()
        if len(words) == 2:  # HTTP/0.9: http.server would go on to wait for headers
            self.requestline, self.command, self.request_version = " ".join(words), words[0], "HTTP/1.0"
            self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 is not supported")
            return False
        try:
            parsed = self._parse_plain_request(words) if _plain(words) else super().parse_request()
        except HeadTooLarge as exc:
            self.rfile.head_done()
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, str(exc))
            return False
        self.rfile.head_done()
        if not parsed:
            return False
        if self.command not in ALLOWED_METHODS:
            # Any body is left unread, so the connection cannot carry another request.
            allow = [("Allow", ", ".join(ALLOWED_METHODS))]
            self._send_text(HTTPStatus.METHOD_NOT_ALLOWED, allow, close=True)
            return False
        if self.headers.get("Transfer-Encoding") or self.headers.get("Content-Length", "0") != "0":
            self.close_connection = True  # a GET with a body: same reason
        return True

    def _parse_plain_request(self, words: list[str]) -> bool:
        """http.server's parse_request for a request line of three words and HTTP/1.0 or 1.1,
        with the header lines split by requesthead.parse_headers (the reference's email parser
        is a third of the cost of an answer from memory)."""
        self.command, self.path, self.request_version = words
        self.requestline = self.raw_requestline.decode("iso-8859-1").rstrip("\r\n")
        if self.path.startswith("//"):  # as http.server: never an open redirect
            self.path = "/" + self.path.lstrip("/")
        self.headers = parse_headers(read_header_lines(self.rfile))
        connection = self.headers.get("Connection", "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive")
        if self.request_version == "HTTP/1.1" and self.headers.get("Expect", "").lower() == "100-continue":
            return self.handle_expect_100()
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
        if not self.close_connection and self.server.crowded():
            # Connections wait for a slot: this one closes after its answer, and a waiting one takes it.
            self.send_header("Connection", "close")
        if self.request_version == "HTTP/1.0" and not self.close_connection:
            # An HTTP/1.0 client that asked to keep the connection is told it is kept (RFC 9112,
            # 9.3): without the header it waits for the close that marks the end of the answer.
            self.send_header("Connection", "keep-alive")
        super().end_headers()

    # --- responses -------------------------------------------------------------------------

    def _send_file(self, path: str) -> None:
        parts = file_parts(path)
        content_type = CONTENT_TYPES.get(PurePosixPath(parts[-1]).suffix.lower()) if parts else None
        doc = self.server.site.files.read(parts) if parts and content_type else None
        if doc is None or content_type is None:
            self._send_text(HTTPStatus.NOT_FOUND)
            return
        compress = accepts_gzip(self.headers.get("Accept-Encoding", ""))
        headers = [("ETag", doc.etag(compress)), ("Last-Modified", doc.last_modified),
                   ("Cache-Control", f"public, max-age={self.server.site.max_age}"),
                   ("Vary", "Accept-Encoding")]
        if not_modified(self.headers, doc.etag(compress), doc.mtime):
            self._send(HTTPStatus.NOT_MODIFIED, headers)
            return
        body = self.server.site.files.gzipped(doc) if compress else doc.data
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
            body = render()
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
