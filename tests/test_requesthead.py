"""The fast paths of request parsing give what http.client and http.server give for the same bytes."""

from __future__ import annotations

import http.client
import http.server
import io
import socket
from pathlib import Path

import pytest

from scheduler.httpfiles import OutputFiles
from scheduler.requesthead import BoundedHead, parse_headers
from scheduler.server import Site, _Handler

HEADS = [
    b"\r\n",
    b"Host: example.org\r\nAccept: */*\r\nAccept-Encoding: gzip, br\r\n\r\n",
    b"host:x\r\nIf-None-Match: \"a\", W/\"b\"\r\nIf-None-Match: \"c\"\r\n\r\n",  # repeated field
    b"Host: x\r\nX-Empty:\r\nX-Blank: \t\r\nX-Trailing: v \t\r\n\r\n",
    b"Host: x\nUser-Agent: bare LF\n\n",
    b"Host: x\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) \xe9t\xe9\r\n\r\n",  # Latin-1 bytes
    b"Host: x\r\nX-Folded: one\r\n two\r\n\r\n",  # obs-fold: the reference's business
    b"Host : x\r\n\r\n",  # a blank before the colon
    b"Host: x\r\nno colon here\r\n\r\n",
    b"Host: x\r\nX-CR: a\rb\r\n\r\n",
    b"Host: x\r\n: no name\r\n\r\n",
    b"Host: x\r\nX-Colon: a: b\r\n\r\n",
]


@pytest.mark.parametrize("head", HEADS)
def test_the_fast_parse_agrees_with_http_client(head: bytes) -> None:
    lines = io.BytesIO(head).readlines()
    fast, reference = parse_headers(lines), http.client.parse_headers(io.BytesIO(head))
    assert fast.items() == reference.items()
    assert fast.get_all("If-None-Match") == reference.get_all("If-None-Match")


class _Server:
    """What the handler asks of its server while parsing."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def busy(self, connection: socket.socket) -> None:
        pass

    def crowded(self) -> bool:
        return False


def parse(request: bytes, plain: bool) -> tuple[object, ...]:
    """What the handler knows after parsing `request`, by the plain path or by http.server's."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(request)
        handler = _Handler.__new__(_Handler)
        handler.connection, handler.wfile = ours, io.BytesIO()
        handler.server = _Server(Site(OutputFiles(Path("."))))  # type: ignore[assignment]
        handler.rfile = BoundedHead(ours.makefile("rb"), ours, handler.server.site)
        handler.raw_requestline = handler.rfile.readline()
        words = handler.raw_requestline.decode("iso-8859-1").split()
        parsed = (handler._parse_plain_request(words) if plain
                  else http.server.BaseHTTPRequestHandler.parse_request(handler))
        return (parsed, handler.command, handler.path, handler.request_version, handler.requestline,
                handler.close_connection, handler.headers.items(), handler.wfile.getvalue())


@pytest.mark.parametrize("request_head", [
    b"GET /all.atom HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /all.atom HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n",
    b"GET /all.atom HTTP/1.0\r\n\r\n",
    b"GET /all.atom HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"HEAD //evil.example/x HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET  /a?b=c   HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
    b"GET /all.atom HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
])
def test_the_plain_request_path_agrees_with_http_server(request_head: bytes) -> None:
    assert parse(request_head, plain=True) == parse(request_head, plain=False)
