"""The HTTP client under `fetch`: httpx's interface on netguard's keep-alive http.client connections."""

from __future__ import annotations

import functools
import http.client
from collections.abc import Iterator, Mapping

import httpx

from feeds import netguard
from feeds.fetch.settings import ACCEPT, ACCEPT_ENCODING, FetchSettings


class HttpClient:
    """What `fetch` and `post_form` send through: the default headers and a transport; close it after.

    Requests go straight to the transport (an httpx transport: ours on http.client
    connections, or `httpx.MockTransport` in tests). httpx.Client's per-request work
    (cookie jar, auth and hook machinery, header merging) cost more than the request
    itself on a keep-alive 304, and a feed fetch needs none of it.
    """

    def __init__(self, transport: httpx.BaseTransport, headers: Mapping[str, str]) -> None:
        self.transport = transport
        self.headers = dict(headers)
        self._raw_headers = _raw(headers)
        # A source asks with the same headers poll after poll (host, validators): they are
        # built (normalised by httpx) once and copied; building them was ~5% of a 304.
        self._built: dict[tuple[bytes, tuple[tuple[str, str], ...]], httpx.Headers] = {}

    def get(self, url: str, headers: Mapping[str, str], timeouts: Mapping[str, float]) -> httpx.Response:
        """A GET of `url` with our headers and `headers`; the response is open, its body unread."""
        parsed = _url(url)
        return self.send(httpx.Request("GET", parsed, headers=self._headers(parsed.netloc, headers),
                                       stream=_NO_BODY, extensions={"timeout": timeouts}))

    def _headers(self, netloc: bytes, extra: Mapping[str, str]) -> httpx.Headers:
        key = (netloc, tuple(extra.items()))
        built = self._built.get(key)
        if built is None:
            if len(self._built) >= _MAX_BUILT:  # sources come and go: start again
                self._built.clear()
            built = self._built[key] = httpx.Headers([(b"Host", netloc), *self._raw_headers, *_raw(extra)])
        return built

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

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}", request=request)
        timeouts = request.extensions.get("timeout", {})
        host = url.raw_host.decode("ascii")  # IDNA-encoded, as the resolver and SNI want it
        connection = self._pool.take(url.scheme, host, url.port or _DEFAULT_PORTS[url.scheme])
        connection.set_timeouts(timeouts.get("connect"), timeouts.get("read"))
        try:
            response = _exchange(connection, request)
        except BaseException:
            connection.close()
            raise
        headers = getattr(response, "raw_headers", None) or [
            (k.encode("latin-1"), str(v).encode("latin-1")) for k, v in response.msg.items()]
        return httpx.Response(response.status, headers=headers, request=request,
                              stream=_Body(self._pool, connection, response, request),
                              extensions={"reason_phrase": response.reason.encode("latin-1", "replace")})

    def close(self) -> None:
        self._pool.close()


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _exchange(connection: netguard.Connection, request: httpx.Request) -> http.client.HTTPResponse:
    """Send `request` on `connection` (opening it if new) and read the response head."""
    phase = "connect"
    try:
        if connection.sock is None:
            connection.connect()
        phase = "write"
        connection.putrequest(request.method, request.url.raw_path.decode("ascii"), skip_host=True,
                              skip_accept_encoding=True)
        for name, value in request.headers.raw:
            connection.putheader(name, value)
        connection.endheaders(request.read() or None)
        phase = "read"
        return connection.getresponse()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _as_httpx(exc, phase, request) from exc


class _Body(httpx.SyncByteStream):
    """A response body read from the connection; a complete read hands the connection back."""

    def __init__(self, pool: netguard.Pool, connection: netguard.Connection,
                 response: http.client.HTTPResponse, request: httpx.Request) -> None:
        self._pool, self._connection, self._response, self._request = pool, connection, response, request
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            while chunk := self._response.read1(65536):
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            raise _as_httpx(exc, "read", self._request) from exc
        if self._response.length:  # the server closed before the declared length
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body",
                                            request=self._request)
        self._complete = True

    def close(self) -> None:
        self._response.close()
        if self._complete and not self._response.will_close:
            self._pool.give(self._connection)
        else:
            self._connection.close()


_TIMEOUTS = {"connect": httpx.ConnectTimeout, "write": httpx.WriteTimeout, "read": httpx.ReadTimeout}
_NETWORK_ERRORS = {"connect": httpx.ConnectError, "write": httpx.WriteError, "read": httpx.ReadError}


def _as_httpx(exc: Exception, phase: str, request: httpx.Request) -> httpx.HTTPError:
    """A socket or http.client error as the httpx exception `fetch` reports."""
    if isinstance(exc, TimeoutError):  # socket timeouts, netguard's deadline and connect timeouts
        return _TIMEOUTS[phase](str(exc) or "timed out", request=request)
    if isinstance(exc, http.client.HTTPException):  # malformed or missing response (RemoteDisconnected too)
        return httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request)
    if isinstance(exc, OSError):  # refused by netguard, reset, TLS failures
        return _NETWORK_ERRORS[phase](str(exc), request=request)
    # A ValueError: a header value http.client will not send (a newline in a stored ETag).
    return httpx.LocalProtocolError(str(exc), request=request)
