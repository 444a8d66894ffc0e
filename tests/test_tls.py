"""HTTPS sources through our own transport (feeds.fetch.transport on feeds.fetch.netguard), against TLS
servers on 127.0.0.1 with the self-signed certificate in tests/data/tls (valid until 2126).

Trusted, a source is fetched and revalidated like a plain HTTP one; untrusted (the default
certifi roots), it fails with a message naming the URL and the certificate; a server that
stalls before or after the handshake costs the source its deadline, nothing more.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from feeds.fetch import FetchSettings, HttpClient, KeepAliveTransport, fetch, make_client, netguard
from feeds.model import SourceState
from tests.localserver import LocalServer, Reply

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

TLS = Path(__file__).parent / "data" / "tls"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SETTINGS = FetchSettings(user_agent="partyfeeds-test", connect_timeout=1, read_timeout=1, total_timeout=2,
                         allow_hosts=("127.0.0.1",))
RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title></channel></rss>"


def server_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
    return context


def trusting_client() -> HttpClient:
    """Our client as make_client builds it, but trusting the test certificate."""
    policy = netguard.AddressPolicy(frozenset(SETTINGS.allow_hosts), SETTINGS.block_private)
    tls = ssl.create_default_context(cafile=str(TLS / "cert.pem"))
    pool = netguard.Pool(netguard.GuardedConnector(policy), tls)
    return make_client(SETTINGS, transport=KeepAliveTransport(pool))


@pytest.fixture
def https_server() -> Iterator[LocalServer]:
    with LocalServer(tls=server_context()) as server:
        yield server


def test_an_https_source_is_fetched_and_revalidated(https_server: LocalServer) -> None:
    https_server.script("/feed.rss", Reply(200, body=RSS, headers=(("ETag", '"v1"'),)), Reply(304))
    state = SourceState("s", https_server.url("/feed.rss"))
    with trusting_client() as client:
        first = fetch(client, state, SETTINGS, NOW)
        assert first.status == "ok" and first.body == RSS and first.etag == '"v1"'
        second = fetch(client, SourceState("s", state.url, etag=first.etag), SETTINGS, NOW)
    assert second.status == "not_modified" and second.body is None
    assert [r.headers.get("if-none-match") for r in https_server.requests] == [None, '"v1"']


def test_a_new_connection_resumes_the_tls_session_of_the_one_before(https_server: LocalServer) -> None:
    # "Connection: close": every fetch opens a new connection, as polls minutes apart do.
    closing = Reply(200, body=RSS, headers=(("Connection", "close"),))
    https_server.script("/a.rss", closing, closing, closing)
    state = SourceState("s", https_server.url("/a.rss"))
    with trusting_client() as client:
        results = [fetch(client, state, SETTINGS, NOW) for _ in range(3)]
    assert [r.status for r in results] == ["ok"] * 3
    assert [r.tls_resumed for r in https_server.requests] == [False, True, True]


def test_an_untrusted_certificate_fails_the_source_naming_it(https_server: LocalServer) -> None:
    https_server.script("/feed.rss", Reply(200, body=RSS))
    with make_client(SETTINGS) as client:  # the default roots: the self-signed certificate is not among them
        result = fetch(client, SourceState("s", https_server.url("/feed.rss")), SETTINGS, NOW)
    assert result.status == "error" and result.body is None
    assert https_server.url("/feed.rss") in (result.error or "")
    assert "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
    assert https_server.requests == []  # nothing was sent over the unverified connection


class _Stalling:
    """A TCP server on 127.0.0.1 that accepts and then says nothing: before the TLS handshake
    (`handshake=False`) or after it, never answering the request."""

    def __init__(self, handshake: bool) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self._listener.getsockname()[1]}/feed.rss"
        self._handshake = handshake
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            if self._handshake:
                connection.settimeout(2)
                connection = server_context().wrap_socket(connection, server_side=True)
            self._held.append(connection)  # open and silent until the test ends

    def __enter__(self) -> _Stalling:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for connection in [*self._held, self._listener]:
            connection.close()


@pytest.mark.parametrize(("handshake", "expected"), [(False, "connect timeout"), (True, "read timeout")],
                         ids=["before-handshake", "after-handshake"])
def test_a_stalling_tls_server_costs_the_source_its_deadline_only(handshake: bool, expected: str) -> None:
    with _Stalling(handshake) as server, trusting_client() as client:
        started = time.monotonic()
        result = fetch(client, SourceState("s", server.url), SETTINGS, NOW)
        took = time.monotonic() - started
    assert result.status == "error" and server.url in (result.error or "")
    assert (result.error or "").startswith(expected)  # the handshake is part of connecting
    assert took < SETTINGS.total_timeout + 1.0, took


def test_a_kept_alive_connection_keeps_its_session_once(https_server: LocalServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    kept: list[tuple[str, str, int]] = []
    keep = netguard.TlsSessions.keep
    monkeypatch.setattr(netguard.TlsSessions, "keep",
                        lambda self, origin, sock: (kept.append(origin), keep(self, origin, sock))[1])
    https_server.script("/k.rss", *[Reply(200, body=RSS)] * 3)
    with trusting_client() as client:
        for _ in range(3):
            assert fetch(client, SourceState("s", https_server.url("/k.rss")), SETTINGS, NOW).status == "ok"
    assert len(https_server.requests) == 3 and len(kept) == 1  # three requests, one connection


def test_the_session_cache_keeps_the_newest_session_of_the_newest_origins() -> None:
    def sock(session: object) -> Any:  # what keep reads of an SSL socket
        return SimpleNamespace(session=session)

    sessions = netguard.TlsSessions(limit=2)
    a, b, c = ("https", "a.example", 443), ("https", "b.example", 443), ("https", "c.example", 443)
    sessions.keep(a, sock("a1"))
    sessions.keep(b, sock("b1"))
    sessions.keep(a, sock("a2"))  # a is now the newest
    sessions.keep(c, sock("c1"))  # b, the oldest, goes
    sessions.keep(c, sock(None))  # no session: the last one stays
    assert [sessions.get(origin) for origin in (a, b, c)] == ["a2", None, "c1"]
