"""The daemon's file serving as an aiohttp app: the event-loop peer of FeedServer.

Used by `python -m bench.serving --servers ours,aiohttp` and `python -m bench.server_behaviour`;
not part of the daemon. Like bench/wsgi_files.py, it answers with the helpers of
scheduler/httpfiles.py, so it differs from FeedServer in the HTTP server around them only. The
files are stat'ed (and read when changed) on the event loop: the feeds are small and kept in
memory. aiohttp has no cap on connections and no deadline for a request head.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from email.message import Message
from http import HTTPStatus
from pathlib import Path, PurePosixPath
from typing import Any

from aiohttp import web

from bench.wsgi_files import MAX_AGE
from scheduler.httpfiles import (
    CONTENT_TYPES,
    OutputFiles,
    accepts_gzip,
    file_parts,
    not_modified,
    request_path,
)

NOSNIFF = {"X-Content-Type-Options": "nosniff"}


def make_app(output_dir: Path) -> web.Application:
    files = OutputFiles(output_dir)

    async def answer(request: web.Request) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            return _text(HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": "GET, HEAD"})
        path = request_path(request.raw_path)
        if path is None:
            return _text(HTTPStatus.BAD_REQUEST)
        parts = file_parts(path)
        content_type = CONTENT_TYPES.get(PurePosixPath(parts[-1]).suffix.lower()) if parts else None
        doc = files.read(parts) if parts and content_type else None
        if doc is None or content_type is None:
            return _text(HTTPStatus.NOT_FOUND)
        compress = accepts_gzip(request.headers.get("Accept-Encoding", ""))
        headers = {"ETag": doc.etag(compress), "Last-Modified": doc.last_modified,
                   "Cache-Control": f"public, max-age={MAX_AGE}", "Vary": "Accept-Encoding", **NOSNIFF}
        validators = Message()
        for name in ("If-None-Match", "If-Modified-Since"):
            for value in request.headers.getall(name, ()):
                validators[name] = value
        if not_modified(validators, doc.etag(compress), doc.mtime):
            return web.Response(status=304, headers=headers)
        if compress:
            headers["Content-Encoding"] = "gzip"
        body = files.gzipped(doc) if compress else doc.data
        return web.Response(body=body, headers={**headers, "Content-Type": content_type})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


def _text(status: HTTPStatus, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status.value, body=f"{status.value} {status.phrase}\n".encode(),
                        headers={**(headers or {}), "Content-Type": "text/plain; charset=utf-8", **NOSNIFF})


def aiohttp_limits(idle_timeout: float = 75) -> dict[str, Any]:
    """aiohttp's settings nearest to FeedServer's: the idle timeout of kept connections, and
    8,190-byte lines (its default; no limit on the whole head)."""
    return {"keepalive_timeout": idle_timeout}


def serve_aiohttp(directory: str, port: multiprocessing.Queue[int], settings: dict[str, Any]) -> None:
    """Serve `directory` with aiohttp on a free port of 127.0.0.1 until the process is ended."""

    async def run() -> None:
        runner = web.AppRunner(make_app(Path(directory)), access_log=None, **settings)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port.put(runner.addresses[0][1])
        await asyncio.Event().wait()  # until the parent terminates this process

    asyncio.run(run())
