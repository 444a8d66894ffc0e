"""The daemon's file serving as a WSGI app under waitress: the comparison peer of FeedServer.

Used by `python -m bench.serving --servers ours,waitress` and `python -m bench.server_behaviour`;
not part of the daemon. The app answers files as scheduler/server.py does, with the same helpers
(scheduler/httpfiles.py: paths, the in-memory versions with their gzip bodies, validators), so
the two differ in the HTTP server around them only: GET and HEAD (others 405 with `Allow`),
400 for an unclean path, 404 for anything that is not a published file, ETag and Last-Modified,
304 for matching validators, gzip when accepted, nosniff on the app's answers, no body for HEAD
(waitress 3.0 sends whatever body the app returns, HEAD or not). waitress parses the request,
keeps connections alive and applies its own limits (`waitress_limits` below).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from email.message import Message
from http import HTTPStatus
from pathlib import Path, PurePosixPath
from typing import Any

from scheduler.httpfiles import (
    CONTENT_TYPES,
    OutputFiles,
    accepts_gzip,
    file_parts,
    not_modified,
    request_path,
)

StartResponse = Callable[..., Any]
App = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
MAX_AGE = 300


def make_app(output_dir: Path) -> App:
    files = OutputFiles(output_dir)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return _text(start_response, HTTPStatus.METHOD_NOT_ALLOWED, [("Allow", "GET, HEAD")])
        path = request_path(environ.get("REQUEST_URI", ""))  # the raw target, decoded once here
        if path is None:
            return _text(start_response, HTTPStatus.BAD_REQUEST)
        parts = file_parts(path)
        content_type = CONTENT_TYPES.get(PurePosixPath(parts[-1]).suffix.lower()) if parts else None
        doc = files.read(parts) if parts and content_type else None
        if doc is None or content_type is None:
            return _text(start_response, HTTPStatus.NOT_FOUND)
        compress = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
        headers = [("ETag", doc.etag(compress)), ("Last-Modified", doc.last_modified),
                   ("Cache-Control", f"public, max-age={MAX_AGE}"), ("Vary", "Accept-Encoding"),
                   ("X-Content-Type-Options", "nosniff")]
        if not_modified(_validators(environ), doc.etag(compress), doc.mtime):
            start_response("304 Not Modified", headers)
            return []
        body = files.gzipped(doc) if compress else doc.data
        if compress:
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", [*headers, ("Content-Type", content_type),
                                  ("Content-Length", str(len(body)))])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]  # waitress sends what it is given

    return app


def _validators(environ: dict[str, Any]) -> Message:
    message = Message()
    for name in ("If-None-Match", "If-Modified-Since"):
        key = "HTTP_" + name.upper().replace("-", "_")
        if key in environ:
            message[name] = environ[key]
    return message


def _text(start_response: StartResponse, status: HTTPStatus,
          headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = f"{status.value} {status.phrase}\n".encode()
    start_response(f"{status.value} {status.phrase}", [
        *(headers or []), ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
        ("X-Content-Type-Options", "nosniff")])
    return [body]


def waitress_limits(max_connections: int = 100, idle_timeout: float = 120,
                    cleanup_interval: float = 30) -> dict[str, Any]:
    """waitress's settings nearest to FeedServer's limits. waitress counts its listening socket and
    its wake-up pipe against `connection_limit` (limit 4: two clients). It has no head deadline or
    header count limit, and closes idle connections when it looks for them, every `cleanup_interval` s."""
    return {"connection_limit": max_connections + 2, "channel_timeout": idle_timeout,
            "cleanup_interval": cleanup_interval, "max_request_header_size": 16 * 1024, "backlog": 1024}


def serve_waitress(directory: str, port: multiprocessing.Queue[int], settings: dict[str, Any]) -> None:
    """Serve `directory` with waitress on a free port of 127.0.0.1 until the process is ended."""
    import logging

    import waitress.server

    logging.getLogger("waitress").setLevel(logging.ERROR)  # "connection limit reached" is expected here
    server = waitress.server.create_server(make_app(Path(directory)), host="127.0.0.1", port=0, **settings)
    port.put(int(server.effective_port))  # type: ignore[union-attr]
    server.run()
