"""Private networks: refused by default, after DNS, on every hop, with no rebinding window."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from feeds.fetch import fetch, make_client
from feeds.fetch.netguard import (
    AddressPolicy,
    Connection,
    ConnectTimeout,
    DeadlineSocket,
    GuardedConnector,
    Refused,
    deadline_scope,
    is_public,
)
from feeds.model import SourceState
from tests.hostile_cases import RSS, SETTINGS
from tests.localserver import LocalServer, Reply

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BLOCKING = replace(SETTINGS, allow_hosts=(), total_timeout=3)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        local.script("/feed", Reply(200, body=RSS))
        yield local


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "255.255.255.255", "224.0.0.1", "::1", "::", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
    "::ffff:10.0.0.1", "ff02::1", "192.0.2.1",
])
def test_non_public_addresses(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2001:4860:4860::8888"])
def test_public_addresses(address: str) -> None:
    assert is_public(address)


def test_loopback_is_refused_by_default_and_nothing_is_sent(server: LocalServer) -> None:
    with make_client(BLOCKING) as client:
        result = fetch(client, SourceState("s", server.url("/feed")), BLOCKING, NOW)
    assert result.status == "error" and "not a public address" in (result.error or "")
    assert "fetch.allow_hosts" in (result.error or "")
    assert server.requests == []


def test_an_allowed_host_port_pair_allows_that_port_only(server: LocalServer) -> None:
    settings = replace(BLOCKING, allow_hosts=(f"127.0.0.1:{server.port}",))
    with LocalServer() as other, make_client(settings) as client:
        other.script("/feed", Reply(200, body=RSS))
        allowed = fetch(client, SourceState("a", server.url("/feed")), settings, NOW)
        refused = fetch(client, SourceState("b", other.url("/feed")), settings, NOW)
        assert other.requests == []
    assert allowed.status == "ok" and refused.status == "error"


def test_an_allowed_name_keeps_its_host_header(server: LocalServer) -> None:
    settings = replace(BLOCKING, allow_hosts=("localhost",))
    with make_client(settings) as client:
        result = fetch(client, SourceState("s", f"http://localhost:{server.port}/feed"), settings, NOW)
    assert result.status == "ok"
    assert server.requests[0].headers["host"] == f"localhost:{server.port}"


def test_allowing_an_address_does_not_allow_names_that_resolve_to_it(server: LocalServer) -> None:
    settings = replace(BLOCKING, allow_hosts=("127.0.0.1",))
    with make_client(settings) as client:
        result = fetch(client, SourceState("s", f"http://localhost:{server.port}/feed"), settings, NOW)
    assert "refused: localhost resolves to" in (result.error or "")


def test_every_redirect_hop_is_checked(server: LocalServer) -> None:
    with LocalServer() as inner:
        inner.script("/admin", Reply(200, body=RSS))
        server.script("/moved", Reply.redirect(302, inner.url("/admin")))
        settings = replace(BLOCKING, allow_hosts=(f"127.0.0.1:{server.port}",))
        with make_client(settings) as client:
            result = fetch(client, SourceState("s", server.url("/moved")), settings, NOW)
        assert inner.requests == []
    assert result.status == "error" and "not a public address" in (result.error or "")
    assert len(server.requests_for("/moved")) == 1


class _Recorder:
    """Stands in for opening a TCP connection: records the address asked for, connects nowhere."""

    def __init__(self) -> None:
        self.connected: list[str] = []

    def __call__(self, address: str, port: int, timeout: float | None) -> socket.socket:
        self.connected.append(address)
        return socket.socket()  # never connected; closed by the test


def test_dns_rebinding_finds_no_window_between_check_and_connect() -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # public when checked, loopback "later"
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    recorder = _Recorder()
    connector = GuardedConnector(AddressPolicy(), rebinding, recorder)
    connector.connect("rebind.example", 80, timeout=1).close()
    # Resolved once, and the connection went to the address that was checked.
    assert calls == ["rebind.example"] and recorder.connected == ["93.184.216.34"]
    with pytest.raises(Refused, match=r"127\.0\.0\.1"):
        connector.connect("rebind.example", 80, timeout=1)  # a new connection is checked afresh
    assert recorder.connected == ["93.184.216.34"]


def test_a_host_with_one_private_address_among_public_ones_is_refused() -> None:
    connector = GuardedConnector(AddressPolicy(), lambda host, port: ["8.8.8.8", "10.1.2.3"], _Recorder())
    with pytest.raises(Refused, match=r"10\.1\.2\.3"):
        connector.connect("mixed.example", 443, timeout=1)


def test_a_hung_resolver_ends_at_the_deadline() -> None:
    release = threading.Event()
    connector = GuardedConnector(AddressPolicy(), lambda host, port: [str(release.wait(10))],
                                 _Recorder())
    try:
        with deadline_scope(time.monotonic() + 0.2), pytest.raises(ConnectTimeout):
            connector.connect("slow-dns.example", 80, timeout=30)
    finally:
        release.set()


def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    ours, theirs = socket.socketpair()
    connection = Connection("http", "feeds.example", 80, GuardedConnector(AddressPolicy()), None)
    connection.sock = DeadlineSocket(ours, 1)
    connection.idle_since = time.monotonic()
    assert connection.reusable(time.monotonic(), expiry=5)
    assert not connection.reusable(time.monotonic() + 10, expiry=5)  # idle too long
    theirs.close()
    assert not connection.reusable(time.monotonic(), expiry=5)
    connection.close()


def test_a_blocking_read_ends_at_the_deadline() -> None:
    ours, theirs = socket.socketpair()
    reader = DeadlineSocket(ours, 30).makefile("rb")
    started = time.monotonic()
    try:
        with deadline_scope(started + 0.2), pytest.raises(TimeoutError):
            reader.read1(100)  # the peer never sends
        assert time.monotonic() - started < 5
    finally:
        reader.close()
        ours.close()
        theirs.close()
