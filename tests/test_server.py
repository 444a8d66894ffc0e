"""The HTTP server against a real client on 127.0.0.1: files, validators, gzip, hostile requests.

Hostile requests go over raw sockets: http.client and httpx refuse or normalise
the very paths we want to send.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from scheduler.metrics import CONTENT_TYPE as METRICS_TYPE
from scheduler.metrics import DaemonMetrics
from scheduler.server import FeedServer, accepts_gzip
from tests.test_metrics import parse_exposition

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

SECRET = b"SECRET-DO-NOT-SERVE"
MTIME = 1764331200  # 2025-11-28 12:00:00 UTC
FILES = {
    "all.atom": b'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
                + b"<title>All</title>" * 200 + b"</feed>\n",
    "party/kke.atom": "<feed><title>ΚΚΕ</title></feed>\n".encode(),
    "topic/strikes.atom": b"<feed><title>Strikes</title></feed>\n",
    "feeds.opml": b'<?xml version="1.0"?><opml version="2.0"/>\n',
    "index.html": b"<!doctype html><title>partyfeeds</title>\n",
    "feed.json": b'{"version": "https://jsonfeed.org/version/1.1"}\n',
    "notes.md": b"not a published type\n",
    ".hidden.atom": b"a dotfile\n",
    "party/.kke.atom.x1y2.tmp": b"a half-written temp file\n",
}


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


@pytest.fixture
def public(tmp_path: Path) -> Path:
    """An output directory with a secret file and a config beside it, and symlinks pointing at them."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "config.yaml").write_bytes(SECRET)
    root = tmp_path / "public"
    for relpath, data in FILES.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_bytes(data)
        os.utime(root / relpath, (MTIME, MTIME))
    (root / "party" / "leak.atom").symlink_to(tmp_path / "secret.txt")
    (root / "leak.txt").symlink_to("../secret.txt")
    (root / "outside").symlink_to(tmp_path)
    return root


@pytest.fixture
def server(public: Path) -> Iterator[FeedServer]:
    with FeedServer(public, "127.0.0.1", 0, idle_timeout=5.0) as running:
        yield running


def fetch(server: FeedServer, path: str, method: str = "GET", headers: dict[str, str] | None = None,
          body: bytes | None = None) -> Response:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()


def raw(server: FeedServer, request: bytes) -> Response:
    """Send bytes as they are; read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request)
        data = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    fields = (line.split(": ", 1) for line in lines[1:] if line)
    headers = {name.lower(): value for name, value in fields}
    return Response(int(lines[0].split(" ")[1]), headers, body)


def raw_request(server: FeedServer, target: bytes, method: bytes = b"GET", extra: bytes = b"") -> Response:
    return raw(server, method + b" " + target + b" HTTP/1.1\r\nHost: x\r\n" + extra
               + b"Connection: close\r\n\r\n")


# --- files ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "relpath", "content_type"), [
    ("/all.atom", "all.atom", "application/atom+xml; charset=utf-8"),
    ("/party/kke.atom", "party/kke.atom", "application/atom+xml; charset=utf-8"),
    ("/topic/strikes.atom", "topic/strikes.atom", "application/atom+xml; charset=utf-8"),
    ("/feeds.opml", "feeds.opml", "text/x-opml; charset=utf-8"),
    ("/index.html", "index.html", "text/html; charset=utf-8"),
    ("/", "index.html", "text/html; charset=utf-8"),
    ("/feed.json", "feed.json", "application/feed+json; charset=utf-8"),
    ("/all.atom?cache-buster=1", "all.atom", "application/atom+xml; charset=utf-8"),
])
def test_files_are_served_with_their_content_type(server: FeedServer, path: str, relpath: str,
                                                   content_type: str) -> None:
    response = fetch(server, path)
    assert response.status == 200
    assert response.headers["content-type"] == content_type
    assert response.body == FILES[relpath]
    assert response.headers["content-length"] == str(len(FILES[relpath]))
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize("path", ["/notes.md", "/.hidden.atom", "/party/.kke.atom.x1y2.tmp", "/missing.atom",
                                  "/party", "/party/", "/topic/", "/outside/", "/outside/secret.txt"])
def test_unknown_types_dotfiles_missing_files_and_directories_are_404(server: FeedServer, path: str) -> None:
    response = fetch(server, path)
    assert response.status == 404
    assert b"kke" not in response.body and SECRET not in response.body


def test_root_without_index_is_404(server: FeedServer, public: Path) -> None:
    (public / "index.html").unlink()
    assert fetch(server, "/").status == 404


# --- validators ----------------------------------------------------------------------------

def test_etag_is_a_strong_content_hash_and_last_modified_the_mtime(server: FeedServer) -> None:
    response = fetch(server, "/all.atom")
    assert response.headers["etag"] == f'"{hashlib.sha256(FILES["all.atom"]).hexdigest()[:32]}"'
    assert response.headers["last-modified"] == formatdate(MTIME, usegmt=True)


@pytest.mark.parametrize("if_none_match", ["{etag}", '"x", {etag}', "W/{etag}", '"a",W/{etag} , "b"', "*"])
def test_if_none_match_gives_304(server: FeedServer, if_none_match: str) -> None:
    etag = fetch(server, "/all.atom").headers["etag"]
    response = fetch(server, "/all.atom", headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert response.status == 304
    assert response.body == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_if_modified_since_gives_304_from_the_mtime_on(server: FeedServer) -> None:
    def status(since: str) -> int:
        return fetch(server, "/all.atom", headers={"If-Modified-Since": since}).status

    assert status(formatdate(MTIME, usegmt=True)) == 304
    assert status(formatdate(MTIME + 3600, usegmt=True)) == 304
    assert status(formatdate(MTIME - 1, usegmt=True)) == 200
    assert status("not a date") == 200


def test_if_none_match_takes_precedence_over_if_modified_since(server: FeedServer) -> None:
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": formatdate(MTIME, usegmt=True)}
    response = fetch(server, "/all.atom", headers=headers)
    assert response.status == 200
    assert response.body == FILES["all.atom"]


# --- gzip ----------------------------------------------------------------------------------

def test_gzip_is_sent_when_accepted(server: FeedServer) -> None:
    plain = fetch(server, "/all.atom", headers={"Accept-Encoding": "identity"})
    packed = fetch(server, "/all.atom", headers={"Accept-Encoding": "br;q=1.0, gzip;q=0.5"})
    assert packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(packed.body) == FILES["all.atom"]
    assert packed.headers["content-length"] == str(len(packed.body)) != plain.headers["content-length"]
    assert packed.headers["vary"] == "Accept-Encoding"
    assert packed.headers["etag"] == plain.headers["etag"][:-1] + '-gzip"'
    assert "content-encoding" not in plain.headers
    again = fetch(server, "/all.atom", headers={"Accept-Encoding": "gzip"})
    assert again.body == packed.body  # the cached copy


def test_the_gzip_etag_validates_only_the_gzip_variant(server: FeedServer) -> None:
    packed_etag = fetch(server, "/all.atom", headers={"Accept-Encoding": "gzip"}).headers["etag"]
    validate = {"If-None-Match": packed_etag}
    gzip_again = fetch(server, "/all.atom", headers={"Accept-Encoding": "gzip", **validate})
    plain_now = fetch(server, "/all.atom", headers={"Accept-Encoding": "identity", **validate})
    assert gzip_again.status == 304
    assert plain_now.status == 200 and plain_now.body == FILES["all.atom"]


def test_no_gzip_without_accept_encoding(server: FeedServer) -> None:
    response = raw_request(server, b"/all.atom")
    assert response.status == 200
    assert "content-encoding" not in response.headers
    assert response.body == FILES["all.atom"]


@pytest.mark.parametrize(("accept", "expected"), [
    ("gzip", True), ("GZIP", True), ("gzip, deflate, br", True), ("br;q=1.0, gzip;q=0.5", True),
    ("x-gzip", True), ("*", True), ("gzip ; q=1", True),
    ("", False), ("identity", False), ("deflate, br", False), ("gzip;q=0", False), ("gzip;q=0.0", False),
    ("*;q=0", False), ("gzip;q=0, *", False), ("gzip;q=nonsense", False),
])
def test_accept_encoding_negotiation(accept: str, expected: bool) -> None:
    assert accepts_gzip(accept) is expected


def test_gzip_refused_by_q0_over_http(server: FeedServer) -> None:
    response = fetch(server, "/all.atom", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in response.headers
    assert response.body == FILES["all.atom"]


# --- HEAD ----------------------------------------------------------------------------------

@pytest.mark.parametrize("accept", [b"", b"Accept-Encoding: gzip\r\n"])
def test_head_has_the_headers_of_get_and_no_body(server: FeedServer, accept: bytes) -> None:
    get = raw_request(server, b"/all.atom", extra=accept)
    head = raw_request(server, b"/all.atom", method=b"HEAD", extra=accept)
    assert head.status == 200
    assert head.body == b""
    assert get.body and head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-type"] == get.headers["content-type"]


# --- hostile paths -------------------------------------------------------------------------

TRAVERSALS = [
    b"/../secret.txt", b"/../config.yaml", b"/..%2fsecret.txt", b"/..%2f..%2fconfig.yaml",
    b"/..%2fconfig.yaml", b"/%2e%2e/secret.txt", b"/%2e%2e%2fsecret.txt", b"/%2E%2E/config.yaml",
    b"/%252e%252e/secret.txt", b"/%252e%252e%252fsecret.txt", b"/party/..\\..\\secret.txt",
    b"/party/..%5c..%5csecret.txt", b"/%2e%2e%5csecret.txt", b"/./../secret.txt",
    b"/party/../../secret.txt", b"/party/%2e%2e/%2e%2e/secret.txt", b"//etc/passwd", b"/etc/passwd",
    b"/party/%00.atom", b"/all.atom%00.txt", b"/party/..%00/secret.txt", b"/%c0%ae%c0%ae/secret.txt",
    b"/..;/secret.txt", b"/party/leak.atom", b"/leak.txt", b"/outside/secret.txt",
    b"/outside/public/../secret.txt", b"secret.txt", b"http://x/../secret.txt", b"../secret.txt",
    b"/\\..\\secret.txt", b"/%2fetc%2fpasswd", b"/all.atom\x00",
]


@pytest.mark.parametrize("target", TRAVERSALS, ids=lambda t: t.decode("latin-1"))
def test_no_encoding_of_dot_dot_leaves_the_output_directory(server: FeedServer, target: bytes) -> None:
    response = raw_request(server, target)
    assert response.status in (400, 403, 404)
    assert SECRET not in response.body and b"root:" not in response.body


def test_absolute_filesystem_paths_are_not_files(server: FeedServer, tmp_path: Path) -> None:
    response = raw_request(server, str(tmp_path / "secret.txt").encode())
    assert response.status == 404 and SECRET not in response.body


# --- methods, headers, limits --------------------------------------------------------------

@pytest.mark.parametrize("method", [b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE", b"BREW"])
def test_other_methods_are_405_with_allow(server: FeedServer, method: bytes) -> None:
    # No "Connection: close": the server must close by itself, since the body stays unread.
    response = raw(server, method + b" /all.atom HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
    assert response.status == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_connect_is_405(server: FeedServer) -> None:
    response = raw(server, b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n")
    assert response.status == 405 and response.headers["allow"] == "GET, HEAD"


def test_every_response_says_nosniff(server: FeedServer) -> None:
    etag = fetch(server, "/all.atom").headers["etag"]
    responses = [
        fetch(server, "/all.atom"), fetch(server, "/all.atom", headers={"If-None-Match": etag}),
        fetch(server, "/missing.atom"), raw_request(server, b"/%ff"), raw_request(server, b"/", b"POST"),
        raw_request(server, b"/", extra=b"X-Big: " + b"a" * 20_000 + b"\r\n"),
        raw_request(server, b"/" + b"a" * 20_000), raw(server, b"GET / HTTP/9.9\r\n\r\n"),
        raw(server, b"GET /\r\n"), raw(server, b"GARBAGE\r\n\r\n"),
        fetch(server, "/healthz"), fetch(server, "/metrics"), fetch(server, "/", method="HEAD"),
    ]
    assert {r.status for r in responses} == {200, 304, 404, 400, 405, 431, 414, 505}
    assert all(r.headers.get("x-content-type-options") == "nosniff" for r in responses)


def test_oversized_and_too_many_headers_are_refused(server: FeedServer) -> None:
    big = raw_request(server, b"/all.atom", extra=b"X-Big: " + b"a" * 17_000 + b"\r\n")
    many = raw_request(server, b"/all.atom", extra=b"".join(b"X-H%d: v\r\n" % n for n in range(100)))
    long_line = raw_request(server, b"/all.atom?" + b"a" * 17_000)
    assert (big.status, many.status, long_line.status) == (431, 431, 414)
    assert all(r.headers["connection"] == "close" for r in (big, many, long_line))


def test_heads_within_the_limits_are_served(server: FeedServer) -> None:
    fine = raw_request(server, b"/all.atom", extra=b"X-Big: " + b"a" * 15_000 + b"\r\n")
    fifty = raw_request(server, b"/all.atom", extra=b"".join(b"X-H%d: v\r\n" % n for n in range(50)))
    assert fine.status == fifty.status == 200


def test_keep_alive_serves_several_requests_on_one_connection(server: FeedServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        bodies, sockets = [], []
        for path in ("/all.atom", "/missing.atom", "/feeds.opml"):
            connection.request("GET", path)
            bodies.append(connection.getresponse().read())
            sockets.append(connection.sock)
        assert sockets[0] is sockets[1] is sockets[2]
        assert bodies[0] == FILES["all.atom"] and bodies[2] == FILES["feeds.opml"]
    finally:
        connection.close()


def test_idle_connections_are_closed_after_the_timeout(public: Path) -> None:
    with FeedServer(public, idle_timeout=0.5) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /feeds.opml HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive, then silence
        data = b"".join(iter(lambda: sock.recv(65536), b""))
        elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(FILES["feeds.opml"])
    assert 0.4 < elapsed < 4


# --- /healthz and /metrics -----------------------------------------------------------------

def test_healthz_without_a_callable_is_ok(server: FeedServer) -> None:
    response = fetch(server, "/healthz")
    assert response.status == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(response.body) == {"status": "ok"}


@pytest.mark.parametrize(("report", "status"), [
    ({"status": "ok", "scheduler": "running", "failing_sources": []}, 200),
    ({"status": "degraded", "failing_sources": ["pcf"]}, 503),
    ({"scheduler": "stopped"}, 503),
])
def test_healthz_reports_the_callable(public: Path, report: dict[str, Any], status: int) -> None:
    with FeedServer(public, health=lambda: report) as server:
        response = fetch(server, "/healthz")
        head = fetch(server, "/healthz", method="HEAD")
    assert response.status == head.status == status
    assert json.loads(response.body) == report
    assert head.body == b""


def test_healthz_is_503_when_the_check_raises(public: Path, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("scheduler gone")

    with FeedServer(public, health=broken) as server:
        response = fetch(server, "/healthz")
    assert response.status == 503
    assert json.loads(response.body)["status"] == "error"
    assert "scheduler gone" in caplog.text


def test_metrics_exposition_and_response_counting(public: Path) -> None:
    metrics = DaemonMetrics.create()
    metrics.fetches.labels(source='odd "name"\\x', status="ok").inc()
    with FeedServer(public, metrics=metrics.render, on_response=metrics.count_response) as server:
        fetch(server, "/all.atom")
        fetch(server, "/missing.atom")
        response = fetch(server, "/metrics")
    assert response.status == 200
    assert response.headers["content-type"] == METRICS_TYPE
    assert response.headers["cache-control"] == "no-store"
    types, samples = parse_exposition(response.body.decode())
    assert types["partyfeeds_http_requests"] == "counter"
    assert ("partyfeeds_fetches_total", {"source": 'odd "name"\\x', "status": "ok"}, 1.0) in samples
    assert ("partyfeeds_http_requests_total", {"code": "404"}, 1.0) in samples
    code_200 = metrics.registry.get_sample_value("partyfeeds_http_requests_total", {"code": "200"})
    assert code_200 == 2  # the file, then /metrics itself


def test_metrics_without_a_callable_is_404_and_a_broken_one_500(public: Path) -> None:
    def broken() -> bytes:
        raise RuntimeError("boom")

    with FeedServer(public) as plain, FeedServer(public, metrics=broken) as failing:
        assert fetch(plain, "/metrics").status == 404
        assert fetch(failing, "/metrics").status == 500


# --- concurrency, lifecycle, logging -------------------------------------------------------

def test_a_file_replaced_while_served_is_always_one_whole_version(server: FeedServer, public: Path) -> None:
    versions = [b"<feed>" + bytes([65 + n]) * (3000 + 1000 * (n % 2)) + b"</feed>\n" for n in range(4)]
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            tmp = public / f".all.atom.{n}.tmp"
            tmp.write_bytes(versions[n % len(versions)])
            os.replace(tmp, public / "all.atom")
            n += 1
            time.sleep(0.0005)  # let the server threads have the GIL

    # The first version is in place before any request: the fixture's own file is not one of them.
    (public / "all.atom").write_bytes(versions[0])
    thread = threading.Thread(target=writer)
    thread.start()
    seen = set()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for n in range(200):
            encoding = "gzip" if n % 2 else "identity"
            connection.request("GET", "/all.atom", headers={"Accept-Encoding": encoding})
            response = connection.getresponse()
            body, etag = response.read(), response.getheader("ETag", "")
            if response.getheader("Content-Encoding") == "gzip":
                body, etag = gzip.decompress(body), etag.replace("-gzip", "")
            assert body in versions
            assert etag == f'"{hashlib.sha256(body).hexdigest()[:32]}"'  # the validator matches the body
            seen.add(body)
    finally:
        connection.close()
        stop.set()
        thread.join()
    assert len(seen) >= 2


def test_port_url_and_a_prompt_stop_with_an_idle_connection_open(public: Path) -> None:
    server = FeedServer(public, "127.0.0.1", 0)
    with pytest.raises(RuntimeError):
        _ = server.port
    server.start()
    port = server.port
    assert port > 0 and server.url == f"http://127.0.0.1:{port}/"
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        idle.request("GET", "/feeds.opml")
        assert idle.getresponse().read() == FILES["feeds.opml"]  # the connection stays open
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
        assert idle.sock is not None and idle.sock.recv(65536) == b""  # the server closed its end
    finally:
        idle.close()
    server.stop()  # a second stop is harmless
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_a_taken_port_fails_at_start(server: FeedServer, public: Path) -> None:
    with pytest.raises(OSError):
        FeedServer(public, "127.0.0.1", server.port).start()


def test_requests_log_at_debug_and_nothing_goes_to_stderr(
        public: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG, logger="scheduler.server")
    with FeedServer(public, idle_timeout=0.3) as server:
        fetch(server, "/all.atom")
        raw_request(server, b"/%ff")
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n")  # then stall until the server times out
            assert b"".join(iter(lambda: sock.recv(65536), b"")) == b""
    requests = [r for r in caplog.records if r.getMessage().startswith("request ")]
    assert {r.levelno for r in requests} == {logging.DEBUG}
    assert any(re.search(r"method=GET path='/all.atom' status=200", r.getMessage()) for r in requests)
    assert capfd.readouterr().err == ""
