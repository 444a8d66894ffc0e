"""A static feed server for the benchmark, run in its own process on 127.0.0.1.

    python -m bench.server DIR HOSTS

serves every file of DIR at `/<name>` on HOSTS ports (each port is one "host"
to the fetcher, which never sends two requests at once to one host), with a
strong ETag and a Last-Modified, 304 for a matching conditional request, and
HTTP/1.1 keep-alive. It prints the ports as one JSON line, then serves until
its standard input closes. `GET /_stats` answers {"requests": n, "not_modified": n}
(not counted). It runs apart from the measured process, so its CPU is not ours.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

LAST_MODIFIED = "Fri, 01 Mar 2024 12:00:00 GMT"


@dataclass
class Files:
    bodies: dict[str, tuple[bytes, str, str]]  # path -> (body, etag, content type)
    requests: int = 0
    not_modified: int = 0
    by_port: dict[int, int] = field(default_factory=dict)


def load(directory: Path) -> Files:
    bodies = {}
    for path in sorted(directory.iterdir()):
        if path.is_file():
            body = path.read_bytes()
            kind = "application/atom+xml" if b"<feed" in body[:300] else "application/rss+xml"
            etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
            bodies[f"/{path.name}"] = (body, etag, f"{kind}; charset=utf-8")
    return Files(bodies)


async def handle(files: Files, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
            headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
            writer.write(respond(files, path, headers))
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def respond(files: Files, path: str, headers: dict[str, str]) -> bytes:
    if path == "/_stats":
        stats = {"requests": files.requests, "not_modified": files.not_modified}
        return _reply(200, json.dumps(stats).encode(), {"Content-Type": "application/json"})
    files.requests += 1
    found = files.bodies.get(path.split("?", 1)[0])
    if found is None:
        return _reply(404, b"not found", {"Content-Type": "text/plain"})
    body, etag, content_type = found
    validators = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
    if headers.get("if-none-match") == etag:
        files.not_modified += 1
        return _reply(304, b"", validators)
    return _reply(200, body, {**validators, "Content-Type": content_type})


def _reply(status: int, body: bytes, headers: dict[str, str]) -> bytes:
    reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
    if status != 304:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def serve(directory: Path, hosts: int) -> None:
    files = load(directory)
    servers = [await asyncio.start_server(lambda r, w: handle(files, r, w), "127.0.0.1", 0, backlog=1024)
               for _ in range(hosts)]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    print(json.dumps(ports), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]), int(sys.argv[2])))
