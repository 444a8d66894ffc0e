"""The server under slow, greedy and many clients: a head deadline, a connection cap, a burst."""

from __future__ import annotations

import http.client
import select
import socket
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest

from scheduler.server import FeedServer

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out


@pytest.fixture
def public(tmp_path: Path) -> Path:
    (tmp_path / "all.atom").write_bytes(b"<feed/>")
    return tmp_path


def closed_by_peer(sock: socket.socket, wait: float) -> bool:
    """Whether the server closed the connection (reading gives EOF or a reset) within `wait`."""
    readable, _, _ = select.select([sock], [], [], wait)
    if not readable:
        return False
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def connect(server: FeedServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


@pytest.fixture
def strict(public: Path) -> Iterator[FeedServer]:
    with FeedServer(public, idle_timeout=5, head_timeout=0.5, max_connections=4) as server:
        yield server


def test_a_slow_loris_head_is_cut_at_the_head_deadline(strict: FeedServer) -> None:
    with connect(strict) as sock:
        sock.sendall(b"GET /all.atom HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for _ in range(60):  # 6 s of dripping if nobody stops it; the 5 s idle timeout never fires
            try:
                sock.sendall(b"X-Drip: 1\r\n")
            except OSError:
                closed = True
            if closed or closed_by_peer(sock, 0.1):
                closed = True
                break
        assert closed  # the server hung up while the client was still dripping


def test_a_prompt_request_after_an_idle_wait_is_served(strict: FeedServer) -> None:
    # The head deadline starts with the first byte: a keep-alive pause is the idle timeout's business.
    connection = http.client.HTTPConnection("127.0.0.1", strict.port, timeout=5)
    with ExitStack() as stack:
        stack.callback(connection.close)
        for _ in range(2):
            connection.request("GET", "/all.atom")
            assert connection.getresponse().read() == b"<feed/>"
        select.select([], [], [], 0.7)  # longer than head_timeout
        connection.request("GET", "/all.atom")
        assert connection.getresponse().status == 200


def read_response(sock: socket.socket) -> http.client.HTTPResponse:
    response = http.client.HTTPResponse(sock)
    response.begin()
    response.read()
    return response


def test_an_http_1_0_keep_alive_is_answered_with_keep_alive_and_kept(strict: FeedServer) -> None:
    # RFC 9112, 9.3: an HTTP/1.0 client keeps the connection only if told so; without the header
    # it waits for the close that would end the answer (ab -k stalled until the idle timeout).
    with connect(strict) as sock:
        for _ in range(2):  # the same connection carries a second request
            sock.sendall(b"GET /all.atom HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            response = read_response(sock)
            assert response.status == 200 and response.getheader("Connection") == "keep-alive"
        assert not closed_by_peer(sock, 0.2)


def test_an_http_1_0_request_without_keep_alive_is_closed(strict: FeedServer) -> None:
    with connect(strict) as sock:
        sock.sendall(b"GET /all.atom HTTP/1.0\r\n\r\n")
        response = read_response(sock)
        assert response.status == 200 and response.getheader("Connection") is None
        assert closed_by_peer(sock, 2)


def test_the_listen_queue_is_the_configured_backlog(public: Path) -> None:
    with FeedServer(public, backlog=256) as server:
        assert server._httpd is not None and server._httpd.request_queue_size == 256
        # 200 connects at once, before any is accepted, all complete (the kernel queues them).
        sockets = [connect(server) for _ in range(200)]
        for sock in sockets:
            sock.sendall(b"GET /all.atom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers = [read_response(sock).status for sock in sockets]
        for sock in sockets:
            sock.close()
    assert answers == [200] * 200


# --- past max_connections: connections wait to be accepted -------------------------------------

FEED_30K = b'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">' + b"".join(
    b"<entry><title>Entry %d</title><id>tag:example.org,2024:%d</id></entry>\n" % (n, n) for n in range(480)
) + b"</feed>\n"


def retransmitted(sock: socket.socket) -> int:
    """Segments the client sent again, SYN included (Linux TCP_INFO tcpi_total_retrans): a connect
    the server's listen queue dropped is retried after a second and counts here."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return int(struct.unpack_from("I", info, 100)[0])


def test_a_burst_of_200_readers_past_the_cap_is_answered_in_full(tmp_path: Path) -> None:
    (tmp_path / "all.atom").write_bytes(FEED_30K)
    start = threading.Barrier(200)

    def reader(_: int) -> tuple[bytes, int]:
        start.wait()
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"GET /all.atom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
            return answer, retransmitted(sock) if hasattr(socket, "TCP_INFO") else 0

    # 8 threads serve 200 connections: the rest wait in the listen queue, none is refused.
    with FeedServer(tmp_path, max_connections=8) as server, ThreadPoolExecutor(200) as pool:
        answers = list(pool.map(reader, range(200)))
    assert len(FEED_30K) > 30_000
    assert all(answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n" + FEED_30K)
               for answer, _ in answers)
    assert [again for _, again in answers] == [0] * 200  # no connect was dropped and retried


@pytest.mark.parametrize("holding", [b"", b"GET /all.atom HTTP/1.1\r\n"], ids=["silent", "dripping"])
def test_past_the_cap_a_connection_waits_for_a_slow_client_to_lose_its_slot(public: Path,
                                                                           holding: bytes) -> None:
    # Every slot is held by a client that sends nothing (cut at idle_timeout) or the start of
    # a request and no more (cut at head_timeout); the next connection waits and is then served.
    with FeedServer(public, idle_timeout=1, head_timeout=0.5, max_connections=4) as server, \
            ExitStack() as stack:
        slow = [stack.enter_context(connect(server)) for _ in range(4)]
        for sock in slow:
            sock.sendall(holding)
        with connect(server) as waiting:
            waiting.sendall(b"GET /all.atom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert not select.select([waiting], [], [], 0.2)[0]  # not answered while the slots are held
            response = read_response(waiting)
        assert response.status == 200
        assert all(closed_by_peer(sock, 5) for sock in slow)


def test_past_the_cap_an_idle_kept_connection_gives_its_slot_to_a_waiting_one(public: Path) -> None:
    # The idle timeout is a minute: the waiting connection is served because one kept connection,
    # idle between requests, is closed for it.
    with FeedServer(public, idle_timeout=60, max_connections=4) as server, ExitStack() as stack:
        kept = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=10) for _ in range(4)]
        for connection in kept:
            stack.callback(connection.close)
            connection.request("GET", "/all.atom")
            assert connection.getresponse().read() == b"<feed/>"
        waiting = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        stack.callback(waiting.close)
        waiting.request("GET", "/all.atom")
        assert waiting.getresponse().status == 200
        kept_sockets = [connection.sock for connection in kept]
        closed, _, _ = select.select(kept_sockets, [], [], 0.5)
        assert len(closed) == 1 and closed_by_peer(closed[0], 0)


def test_past_the_cap_a_kept_connection_is_told_to_close_and_a_waiting_one_served(public: Path) -> None:
    with FeedServer(public, idle_timeout=60, head_timeout=30, max_connections=1) as server, \
            connect(server) as kept, connect(server) as waiting:
        kept.sendall(b"GET /all.atom HTTP/1.1\r\nHost: x\r\n")  # holds the only slot...
        waiting.sendall(b"GET /all.atom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        kept.sendall(b"\r\n")  # ...until its answer, which closes it because a connection waits
        response = read_response(kept)
        assert response.status == 200 and response.getheader("Connection") == "close"
        assert closed_by_peer(kept, 5)
        assert read_response(waiting).status == 200
