"""The socket layer under the fetcher: which addresses we connect to, and the fetch deadline.

The only module that imports httpcore. `GuardedBackend` is an httpcore network
backend: httpx asks it for a TCP connection to (host, port) and it

- resolves the host once (in a helper thread, so a hung resolver cannot
  overrun the deadline), refuses the connection unless every address is
  public (not loopback, private, link-local, shared, multicast, reserved,
  unspecified) or the host is allowed by name / host:port, and connects to
  the address it checked. Checking and connecting with the same answer is
  what defeats DNS rebinding; since httpx still knows the host name, the
  Host header and TLS SNI stay right. Every redirect hop opens its
  connection here, so every hop is checked.
- caps every connect, read and write timeout at the time left before the
  current fetch's total deadline (`deadline_scope`), so one blocking read
  can never overrun it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
import typing
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import httpcore

Resolver = Callable[[str, int], list[str]]
_DEADLINE: ContextVar[float | None] = ContextVar("partyfeeds_fetch_deadline", default=None)


class DeadlinePassed(httpcore.ReadTimeout):
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
        """Raise httpcore.ConnectError unless we may connect to `addresses` for `host`."""
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        if not self.block_private or self.allows_name(host, port):
            return
        for address in addresses:
            if not is_public(address):
                where = host if address == host else f"{host} resolves to {address}, which"
                raise httpcore.ConnectError(f"refused: {where} is not a public address "
                                            f"(allow it with fetch.allow_hosts)")


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, connecting only to checked addresses, within the deadline."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver = system_resolver,
                 inner: httpcore.NetworkBackend | None = None) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        addresses = self._resolve(host, port, timeout)
        self._policy.check(host, port, addresses)
        error: Exception | None = None
        for address in addresses:  # like create_connection: the first that answers
            try:
                stream = self._inner.connect_tcp(address, port, capped(timeout), local_address,
                                                 socket_options)
            except httpcore.ConnectError as exc:
                error = exc
                continue
            return DeadlineStream(stream)
        raise error or httpcore.ConnectError(f"cannot connect to {host}")

    def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        """The resolver's answer, given up on at the connect timeout or the deadline."""
        limit = capped(timeout)
        answer: list[list[str] | BaseException] = []
        worker = threading.Thread(target=_call_into, args=(self._resolver, host, port, answer),
                                  name="resolve", daemon=True)
        worker.start()
        worker.join(limit)
        if not answer:
            raise httpcore.ConnectTimeout(f"resolving {host} took longer than {limit:.3g}s")
        if isinstance(answer[0], BaseException):
            raise httpcore.ConnectError(f"cannot resolve {host}: {answer[0]}") from answer[0]
        return answer[0]

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Iterable[typing.Any] | None = None
                            ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _call_into(resolver: Resolver, host: str, port: int, answer: list[list[str] | BaseException]) -> None:
    try:
        answer.append(resolver(host, port))
    except Exception as exc:  # handed to the waiting thread, which reports it
        answer.append(exc)


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation's timeout is capped by the current fetch deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, capped(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, capped(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: typing.Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        # server_hostname is the URL's host name, not the address we connected to: SNI stays right.
        return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, capped(timeout)))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


def connection_pool(policy: AddressPolicy, ssl_context: typing.Any,
                    resolver: Resolver = system_resolver) -> httpcore.ConnectionPool:
    """httpx's default pool settings on the guarded backend, with fewer idle connections kept.

    httpcore checks every pooled connection (a poll() each, and a quadratic idle count)
    twice per request; `fetch_all` keeps at most one connection per worker busy, so ten
    idle ones are plenty and cost a fifth of twenty.
    """
    return httpcore.ConnectionPool(ssl_context=ssl_context, max_connections=100,
                                   max_keepalive_connections=10, keepalive_expiry=5.0,
                                   network_backend=GuardedBackend(policy, resolver))
