"""The socket layer under the fetcher: which addresses we connect to, the fetch deadline, keep-alive.

Standard library only (socket, ssl, http.client). `GuardedConnector` opens
every TCP connection the fetcher makes: it

- resolves the host once (in a helper thread, so a hung resolver cannot
  overrun the deadline), refuses the connection unless every address is
  public (not loopback, private, link-local, shared, multicast, reserved,
  unspecified) or the host is allowed by name / host:port, and connects to
  the address it checked. Checking and connecting with the same answer is
  what defeats DNS rebinding; the Host header and TLS SNI still carry the
  host name. Every redirect hop opens its connection here, so every hop is
  checked.
- hands back a socket whose every send and receive waits at most the
  request's timeout and never past the current fetch's total deadline
  (`deadline_scope`), so one blocking read can never overrun it.

`Pool` keeps idle HTTP/1.1 connections by origin for reuse (`Connection` is
an `http.client.HTTPConnection` opened through the connector), and each
origin's last TLS session: a source polled every few minutes outlives any
keep-alive, and a resumed handshake skips the certificate chain (sending and
verifying it, and the server's signature).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import ipaddress
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from feeds.fetch import httphead

Resolver = Callable[[str, int], list[str]]
Opener = Callable[[str, int, "float | None"], socket.socket]
_DEADLINE: ContextVar[float | None] = ContextVar("partyfeeds_fetch_deadline", default=None)


class Refused(ConnectionError):
    """The connection was refused by us (address policy) or could not be made."""


class ConnectTimeout(TimeoutError):
    """Resolving or connecting took longer than allowed."""


class DeadlinePassed(TimeoutError):
    """The fetch's total deadline passed during a network operation."""


@contextlib.contextmanager
def deadline_scope(deadline: float) -> Iterator[None]:
    """Network operations in this thread end by `deadline` (a time.monotonic() value)."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def capped(timeout: float | None) -> float | None:
    """`timeout` shortened to the time left before the current deadline; raises once it passed."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlinePassed("the fetch's total deadline passed")
    return left if timeout is None else min(timeout, left)


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses, as the system resolver gives them, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def open_tcp(address: str, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to a literal address, Nagle off (requests go out in one write)."""
    sock = socket.create_connection((address, port), timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def is_public(address: str) -> bool:
    """Whether `address` is a globally routable unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Public addresses only, except hosts allowed by name ("host") or with a port ("host:port").

    The allow-list matches the host as the URL writes it, never the address it
    resolves to: allowing 127.0.0.1 must not let any name that resolves there in.
    """

    allow_hosts: frozenset[str] = frozenset()
    block_private: bool = True

    def allows_name(self, host: str, port: int) -> bool:
        host = host.lower().strip("[]")
        return host in self.allow_hosts or _host_port(host, port) in self.allow_hosts

    def check(self, host: str, port: int, addresses: Sequence[str]) -> None:
        """Raise Refused unless we may connect to `addresses` for `host`."""
        if not addresses:
            raise Refused(f"{host} has no address")
        if not self.block_private or self.allows_name(host, port):
            return
        for address in addresses:
            if not is_public(address):
                where = host if address == host else f"{host} resolves to {address}, which"
                raise Refused(f"refused: {where} is not a public address "
                              f"(allow it with fetch.allow_hosts)")


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GuardedConnector:
    """Opens TCP connections only to checked addresses, within the deadline."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver = system_resolver,
                 opener: Opener = open_tcp) -> None:
        self._policy = policy
        self._resolver = resolver
        self._opener = opener

    def connect(self, host: str, port: int, timeout: float | None) -> socket.socket:
        addresses = self._resolve(host, port, timeout)
        self._policy.check(host, port, addresses)
        error: Exception | None = None
        for address in addresses:  # like create_connection: the first that answers
            try:
                return self._opener(address, port, capped(timeout))
            except TimeoutError as exc:
                error = ConnectTimeout(f"connecting to {host} ({address}) timed out")
                error.__cause__ = exc
            except OSError as exc:
                error = Refused(f"cannot connect to {host} ({address}): {exc}")
                error.__cause__ = exc
        raise error or Refused(f"cannot connect to {host}")

    def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        """The resolver's answer, given up on at the connect timeout or the deadline."""
        limit = capped(timeout)
        answer: list[list[str] | BaseException] = []
        worker = threading.Thread(target=_call_into, args=(self._resolver, host, port, answer),
                                  name="resolve", daemon=True)
        worker.start()
        worker.join(limit)
        if not answer:
            raise ConnectTimeout(f"resolving {host} took longer than {limit:.3g}s")
        if isinstance(answer[0], BaseException):
            raise Refused(f"cannot resolve {host}: {answer[0]}") from answer[0]
        return answer[0]


def _call_into(resolver: Resolver, host: str, port: int, answer: list[list[str] | BaseException]) -> None:
    try:
        answer.append(resolver(host, port))
    except Exception as exc:  # handed to the waiting thread, which reports it
        answer.append(exc)


_UNSET = object()


class DeadlineSocket:
    """A socket as http.client uses it; each send or receive waits at most `timeout`, up to the deadline."""

    def __init__(self, sock: socket.socket, timeout: float | None) -> None:
        self.sock = sock
        self.timeout = timeout
        self._armed: float | object | None = _UNSET  # the timeout the socket has now
        self._readers = 0
        self._closed = False

    def arm(self) -> None:
        """Give the socket the wait allowed for its next operation: `timeout`, cut to the deadline."""
        wait = capped(self.timeout)
        # settimeout is a syscall that releases the GIL, a thread switch when other fetch
        # threads wait for it: skip it while the socket already has this timeout.
        if wait != self._armed:
            self.sock.settimeout(wait)
            self._armed = wait

    def sendall(self, data: bytes) -> None:
        self.arm()
        self.sock.sendall(data)

    def makefile(self, mode: str) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_Reader(self))

    def close(self) -> None:
        # Like socket.makefile: http.client closes the connection of a read-to-EOF
        # response at once, and reads the body afterwards through its open reader.
        self._closed = True
        if not self._readers:
            self.sock.close()

    def reader_closed(self) -> None:
        self._readers -= 1
        if self._closed and not self._readers:
            self.sock.close()


class _Reader(io.RawIOBase):
    """The receiving side for http.client's buffered reader; closing it leaves the socket open."""

    def __init__(self, owner: DeadlineSocket) -> None:
        self._owner = owner

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._owner.reader_closed()
        super().close()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self._owner.arm()
        return self._owner.sock.recv_into(buffer)


class Connection(http.client.HTTPConnection):
    """One HTTP/1.1 connection to an origin, opened through the connector (TLS for https)."""

    response_class = httphead.Response  # a plain header block is parsed without the email package

    def __init__(self, scheme: str, host: str, port: int, connector: GuardedConnector,
                 tls: ssl.SSLContext | None, sessions: TlsSessions | None = None) -> None:
        super().__init__(host, port)
        self.origin = (scheme, host, port)
        self._connector = connector
        self._tls = tls if scheme == "https" else None
        self._sessions = sessions if self._tls is not None else None
        self._session_kept = False  # this connection's session is in `sessions`
        self.connect_timeout: float | None = None
        self.read_timeout: float | None = None
        self.idle_since = 0.0

    def put_header_lines(self, lines: Sequence[bytes]) -> None:
        """After `putrequest`: header lines made by `header_lines`, checked and joined once
        for every request with these headers rather than by `putheader` at each request."""
        self._buffer.extend(lines)  # type: ignore[attr-defined]  # the lines putheader adds to

    def set_timeouts(self, connect: float | None, read: float | None) -> None:
        self.connect_timeout, self.read_timeout = connect, read
        if isinstance(self.sock, DeadlineSocket):
            self.sock.timeout = read

    def connect(self) -> None:
        sock = self._connector.connect(self.host, self.port, self.connect_timeout)
        if self._tls is not None:
            try:
                sock.settimeout(capped(self.connect_timeout))
                session = self._sessions.get(self.origin) if self._sessions is not None else None
                sock = self._tls.wrap_socket(sock, server_hostname=self.host, session=session)
                self._session_kept = False
            except BaseException:
                sock.close()
                raise
        self.sock = DeadlineSocket(sock, self.read_timeout)

    def getresponse(self) -> http.client.HTTPResponse:
        sock = self.sock  # http.client lets go of it here when the response ends the connection
        response = super().getresponse()
        if self._sessions is not None and not self._session_kept and isinstance(sock, DeadlineSocket):
            # TLS 1.3 sends its session tickets after the handshake: they have come by the first
            # response. Once per connection: reading a session costs ~0.13 ms (CPython copies it).
            self._sessions.keep(self.origin, sock.sock)
            self._session_kept = True
        return response

    def reusable(self, now: float, expiry: float) -> bool:
        """Whether an idle connection can take another request (not expired, not closed by the server)."""
        if not isinstance(self.sock, DeadlineSocket) or now - self.idle_since > expiry:
            return False
        poller = select.poll()
        poller.register(self.sock.sock, select.POLLIN)
        return not poller.poll(0)  # readable while idle: the server closed it (or sent junk)


def header_lines(fields: Sequence[tuple[bytes, bytes]]) -> tuple[bytes, ...]:
    """Header fields as the lines `putheader` makes of them; its ValueError for a name or
    value http.client would not send (a line break in a stored ETag)."""
    scratch = _HeaderLines()
    scratch.putrequest("GET", "/", skip_host=True, skip_accept_encoding=True)
    scratch.lines.clear()
    for name, value in fields:
        scratch.putheader(name, value)
    return tuple(scratch.lines)


class _HeaderLines(http.client.HTTPConnection):
    """http.client's header checks and formatting, the lines kept instead of sent."""

    def __init__(self) -> None:
        super().__init__("header-lines.invalid")
        self.lines: list[bytes] = []

    def _output(self, s: bytes) -> None:
        self.lines.append(s)


class TlsSessions:
    """The last TLS session of each origin (at most `limit` origins, the oldest dropped first),
    offered when a new connection to it opens; a server that declines it does a full handshake."""

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._by_origin: dict[tuple[str, str, int], ssl.SSLSession] = {}
        self._lock = threading.Lock()

    def get(self, origin: tuple[str, str, int]) -> ssl.SSLSession | None:
        with self._lock:
            return self._by_origin.get(origin)

    def keep(self, origin: tuple[str, str, int], sock: socket.socket) -> None:
        session = getattr(sock, "session", None)
        if session is None:
            return
        with self._lock:
            self._by_origin.pop(origin, None)  # re-inserted: the dict's order is the age
            self._by_origin[origin] = session
            if len(self._by_origin) > self._limit:
                del self._by_origin[next(iter(self._by_origin))]


class Pool:
    """Idle keep-alive connections by origin. A connection serves one request at a time:
    `take` hands one out (idle or new), `give` takes it back after a complete response."""

    def __init__(self, connector: GuardedConnector, tls: ssl.SSLContext | None, keepalive_expiry: float = 5.0,
                 max_idle: int = 32, sessions: TlsSessions | None = None) -> None:
        self._connector = connector
        self._tls = tls
        self._sessions = sessions if sessions is not None else TlsSessions()
        self._expiry = keepalive_expiry
        self._max_idle = max_idle
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._count = 0
        self._closed = False
        self._lock = threading.Lock()

    def take(self, scheme: str, host: str, port: int) -> Connection:
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._idle.get((scheme, host, port))
                if not idle:
                    return Connection(scheme, host, port, self._connector, self._tls, self._sessions)
                connection = idle.pop()
                self._count -= 1
            if connection.reusable(now, self._expiry):
                return connection
            connection.close()

    def give(self, connection: Connection) -> None:
        connection.idle_since = time.monotonic()
        with self._lock:
            if self._closed:
                stale = [connection]
            else:
                self._keep(connection)
                surplus = self._count - self._max_idle
                stale = self._oldest(surplus) if surplus > 0 else []
        for old in stale:
            old.close()

    def _keep(self, connection: Connection) -> None:
        """File an idle connection (under the lock)."""
        self._idle.setdefault(connection.origin, []).append(connection)
        self._count += 1

    def _oldest(self, count: int) -> list[Connection]:
        """Remove and return the `count` longest-idle connections (under the lock)."""
        every = sorted((c for idle in self._idle.values() for c in idle), key=lambda c: c.idle_since)
        for connection in every[:count]:
            self._idle[connection.origin].remove(connection)
            self._count -= 1
        return every[:count]

    def close(self) -> None:
        with self._lock:
            self._closed = True  # a connection given back after this is closed, not kept
            every = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
            self._count = 0
        for connection in every:
            connection.close()
