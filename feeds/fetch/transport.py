"""The HTTP client under `fetch`: httpx's interface on netguard's keep-alive http.client connections.

`HttpClient` sends through any httpx transport: httpx's own (the reference; tests/test_transport.py
gets the same fetch results from both), `httpx.MockTransport` in tests, or ours,
`KeepAliveTransport`, the fast path every client `make_client` builds uses.
"""

from __future__ import annotations

import functools
import http.client
from collections.abc import Callable, Iterator, Mapping, Sequence

import httpx

from feeds.fetch import netguard
from feeds.fetch.settings import ACCEPT, ACCEPT_ENCODING, FetchSettings


class Reply:
    """A response as `fetch` reads it: status, headers, the body in raw chunks; close it after.

    Our own small type, not httpx.Response: on a kept-alive 304, building httpx's request
    and response objects (header normalisation, stream wrappers) cost as much as the
    exchange itself. `headers` has lower-cased names, a repeated field's values joined
    with ", ", decoded as httpx decodes them (ASCII, else UTF-8, else Latin-1).
    """

    __slots__ = ("_chunks", "_close", "headers", "reason_phrase", "status_code")

    def __init__(self, status_code: int, reason_phrase: str, headers: dict[str, str],
                 chunks: Iterator[bytes], close: Callable[[], None]) -> None:
        self.status_code, self.reason_phrase, self.headers = status_code, reason_phrase, headers
        self._chunks, self._close = chunks, close

    @classmethod
    def of(cls, response: httpx.Response) -> Reply:
        """An httpx response (from another transport: `httpx.MockTransport` in tests)."""
        return cls(response.status_code, response.reason_phrase, dict(response.headers.items()),
                   response.iter_raw(), response.close)

    def iter_raw(self) -> Iterator[bytes]:
        """The body as received (still content-encoded); a complete read frees the connection."""
        return self._chunks

    def close(self) -> None:
        self._close()


def header_text(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Raw header fields as `Reply.headers` holds them (what httpx's `Headers.items()` gives)."""
    encoding = next((e for e in ("ascii", "utf-8") if _decodes(raw, e)), "iso-8859-1")
    headers: dict[str, str] = {}
    for name, value in raw:
        key, text = name.lower().decode(encoding), value.decode(encoding)  # ASCII case only, as httpx
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _decodes(raw: Sequence[tuple[bytes, bytes]], encoding: str) -> bool:
    try:
        for name, value in raw:
            name.decode(encoding)
            value.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


class Head:
    """A request's header fields, and the lines http.client sends for them (checked when built)."""

    __slots__ = ("fields", "lines")

    def __init__(self, fields: list[tuple[bytes, bytes]]) -> None:
        self.fields = fields
        try:
            self.lines = netguard.header_lines(fields)
        except ValueError as exc:  # a stored validator with a line break, say: never sent
            raise httpx.LocalProtocolError(str(exc)) from exc


class HttpClient:
    """What `fetch` and `post_form` send through: the default headers and a transport; close it after.

    A GET on our transport goes to it directly and comes back as a `Reply`; on any other
    httpx transport (`httpx.MockTransport` in tests) as an httpx request and response.
    httpx.Client's per-request work (cookie jar, auth and hook machinery, header merging)
    cost more than the request itself on a keep-alive 304, and a feed fetch needs none of it.
    """

    def __init__(self, transport: httpx.BaseTransport, headers: Mapping[str, str]) -> None:
        self.transport = transport
        self.headers = dict(headers)
        self._raw_headers = _raw(headers)
        # A source asks with the same headers poll after poll (host, validators): they are
        # encoded and checked once; that was ~15% of a kept-alive 304.
        self._built: dict[tuple[bytes, tuple[tuple[str, str], ...]], Head] = {}

    def get(self, url: str, headers: Mapping[str, str], timeouts: Mapping[str, float]) -> Reply:
        """A GET of `url` with our headers and `headers`; the reply is open, its body unread."""
        parsed = _url(url)
        head = self._head(parsed.netloc, headers)
        if isinstance(self.transport, KeepAliveTransport):  # ours: no httpx objects on the way
            return self.transport.get(parsed, head, timeouts)
        request = httpx.Request("GET", parsed, headers=head.fields, stream=_NO_BODY,
                                extensions={"timeout": timeouts})
        return Reply.of(self.transport.handle_request(request))

    def _head(self, netloc: bytes, extra: Mapping[str, str]) -> Head:
        key = (netloc, tuple(extra.items()))
        head = self._built.get(key)
        if head is None:
            if len(self._built) >= _MAX_BUILT:  # sources come and go: start again
                self._built.clear()
            head = self._built[key] = Head([(b"Host", netloc), *self._raw_headers, *_raw(extra)])
        return head

    def send(self, request: httpx.Request) -> httpx.Response:
        return self.transport.handle_request(request)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_NO_BODY = httpx.ByteStream(b"")
_MAX_BUILT = 8192


@functools.lru_cache(maxsize=8192)
def _url(url: str) -> httpx.URL:
    """Parsed once per URL (httpx.URL is immutable): parsing cost as much as the rest of a request."""
    return httpx.URL(url)


def _raw(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    # Latin-1 both ways: stored validators are sent back exactly as they were received.
    return [(name.encode("ascii"), value.encode("latin-1")) for name, value in headers.items()]


def make_client(settings: FetchSettings, *, transport: httpx.BaseTransport | None = None) -> HttpClient:
    """A client for `fetch`; the caller closes it. `transport` is for tests (MockTransport).

    No proxy from the environment (it would bypass the address guard), no ~/.netrc.
    """
    headers = {"User-Agent": settings.user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}
    return HttpClient(transport or guarded_transport(settings), headers)


def guarded_transport(settings: FetchSettings,
                      resolver: netguard.Resolver = netguard.system_resolver) -> KeepAliveTransport:
    """Our transport on netguard's connector: checked addresses, the fetch deadline held."""
    policy = netguard.AddressPolicy(frozenset(h.lower() for h in settings.allow_hosts),
                                    settings.block_private)
    tls = httpx.create_ssl_context(trust_env=False)
    return KeepAliveTransport(netguard.Pool(netguard.GuardedConnector(policy, resolver), tls))


class KeepAliveTransport(httpx.BaseTransport):
    """httpx's transport interface on netguard's keep-alive http.client connections.

    A response's connection goes back to the pool once its body was read to the end;
    a response closed before that closes its connection.
    """

    def __init__(self, pool: netguard.Pool) -> None:
        self._pool = pool

    def get(self, url: httpx.URL, head: Head, timeouts: Mapping[str, float]) -> Reply:
        """`fetch`'s GET: sent and answered without httpx's request and response objects."""
        response, body = self._exchange("GET", url, head.lines, None, timeouts)
        fields = header_text(_raw_fields(response))
        return Reply(response.status, response.reason, fields, iter(body), body.close)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            lines = netguard.header_lines(request.headers.raw)
        except ValueError as exc:
            raise httpx.LocalProtocolError(str(exc)) from exc
        response, body = self._exchange(request.method, request.url, lines,
                                        request.read() or None, request.extensions.get("timeout", {}))
        return httpx.Response(response.status, headers=_raw_fields(response), request=request, stream=body,
                              extensions={"reason_phrase": response.reason.encode("latin-1", "replace")})

    def _exchange(self, method: str, url: httpx.URL, lines: Sequence[bytes],
                  content: bytes | None,
                  timeouts: Mapping[str, float]) -> tuple[http.client.HTTPResponse, _Body]:
        """Send a request on a pooled connection; the response head read, its body not."""
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        host = url.raw_host.decode("ascii")  # IDNA-encoded, as the resolver and SNI want it
        connection = self._pool.take(url.scheme, host, url.port or _DEFAULT_PORTS[url.scheme])
        connection.set_timeouts(timeouts.get("connect"), timeouts.get("read"))
        try:
            response = _send(connection, method, url.raw_path.decode("ascii"), lines, content)
        except BaseException:
            connection.close()
            raise
        return response, _Body(self._pool, connection, response)

    def close(self) -> None:
        self._pool.close()


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _raw_fields(response: http.client.HTTPResponse) -> list[tuple[bytes, bytes]]:
    """The response's header fields as bytes: as received, or (a block the light parse left to
    the email package) encoded back."""
    raw = getattr(response, "raw_headers", None)
    return raw if raw is not None else [(k.encode("latin-1"), str(v).encode("latin-1"))
                                        for k, v in response.msg.items()]


def _send(connection: netguard.Connection, method: str, path: str, lines: Sequence[bytes],
          content: bytes | None) -> http.client.HTTPResponse:
    """Send a request on `connection` (opening it if new) and read the response head."""
    phase = "connect"
    try:
        if connection.sock is None:
            connection.connect()
        phase = "write"
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.put_header_lines(lines)
        connection.endheaders(content)
        phase = "read"
        return connection.getresponse()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _as_httpx(exc, phase) from exc


class _Body(httpx.SyncByteStream):
    """A response body read from the connection; a complete read hands the connection back."""

    def __init__(self, pool: netguard.Pool, connection: netguard.Connection,
                 response: http.client.HTTPResponse) -> None:
        self._pool, self._connection, self._response = pool, connection, response
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            while chunk := self._response.read1(65536):
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            raise _as_httpx(exc, "read") from exc
        if self._response.length:  # the server closed before the declared length
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        self._complete = True

    def close(self) -> None:
        self._response.close()
        if self._complete and not self._response.will_close:
            self._pool.give(self._connection)
        else:
            self._connection.close()


_TIMEOUTS = {"connect": httpx.ConnectTimeout, "write": httpx.WriteTimeout, "read": httpx.ReadTimeout}
_NETWORK_ERRORS = {"connect": httpx.ConnectError, "write": httpx.WriteError, "read": httpx.ReadError}


def _as_httpx(exc: Exception, phase: str) -> httpx.HTTPError:
    """A socket or http.client error as the httpx exception `fetch` reports."""
    if isinstance(exc, TimeoutError):  # socket timeouts, netguard's deadline and connect timeouts
        return _TIMEOUTS[phase](str(exc) or "timed out")
    if isinstance(exc, http.client.HTTPException):  # malformed or missing response (RemoteDisconnected too)
        return httpx.RemoteProtocolError(str(exc) or type(exc).__name__)
    if isinstance(exc, OSError):  # refused by netguard, reset, TLS failures
        return _NETWORK_ERRORS[phase](str(exc))
    # A ValueError: a header value http.client will not send (a newline in a stored ETag).
    return httpx.LocalProtocolError(str(exc))
