"""The server under slow and greedy clients: a head deadline and a connection cap."""

from __future__ import annotations

import http.client
import select
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from scheduler.server import FeedServer


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


def test_connections_past_the_cap_get_503_and_the_rest_are_served(strict: FeedServer) -> None:
    with ExitStack() as stack:
        idle = [stack.enter_context(connect(strict)) for _ in range(4)]
        for sock in idle:
            sock.sendall(b"G")  # a request begun: each holds a thread
        with connect(strict) as extra:
            reply = extra.recv(4096)
        assert reply.startswith(b"HTTP/1.1 503 ") and b"nosniff" in reply
    # Once they are gone (cut by the head deadline or closed here), service resumes.
    connection = http.client.HTTPConnection("127.0.0.1", strict.port, timeout=5)
    try:
        for _ in range(20):
            connection.request("GET", "/all.atom")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                break
            connection.close()
            select.select([], [], [], 0.1)
        assert response.status == 200
    finally:
        connection.close()


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
    assert answers.count(200) + answers.count(503) == 200
