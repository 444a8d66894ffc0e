"""Fetch stage: one polite, bounded, conditional GET per source.

The only module that imports httpx. `fetch` never raises for a per-source
failure (network error, HTTP error status, timeout, oversized body): it
returns a `FetchResult` with status "error" and a readable message, which
`feeds.polling.next_state` turns into backoff. Anything else is a bug and
propagates.

Limits, all per fetch: connect/read timeouts per request, a total deadline
for the whole fetch (redirect hops and a slowly dripping body included), a
body-size limit counted on *decoded* bytes (we decompress ourselves, in
bounded steps, so a gzip bomb never inflates past the limit in memory), and
a redirect limit. Redirects are followed here, hop by hop, so that a chain of
permanent redirects can be reported to the caller, who moves the stored URL
only after seeing the same move twice (see polling).

Politeness: conditional GET with the stored ETag / Last-Modified, a
User-Agent naming the project and the operator's contact URL, and
`fetch_all` never has two requests in flight to the same host.

Cost: most polls are a 304 on a kept-alive connection, so the per-request
overhead is the cost of polling. httpx's types are the interface (requests,
responses, errors, `httpx.MockTransport` in tests), but requests go straight
to `KeepAliveTransport`: http.client connections opened through netguard.
httpx.Client with httpcore's pool cost ~1 ms of CPU per 304 here, this ~0.3 ms
(bench/poll_cost.py).
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import logging
import queue
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx

from feeds import netguard
from feeds.errors import FetchError
from feeds.model import SourceState, require_utc

log = logging.getLogger(__name__)

FetchStatus = Literal["ok", "not_modified", "unchanged", "gone", "error"]

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
# Only what we can decompress in bounded steps with zlib (see _Decoder).
ACCEPT_ENCODING = "gzip, deflate"
PERMANENT_REDIRECTS = frozenset({301, 308})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Retry-After values beyond this are nonsense; polling bounds them further.
MAX_RETRY_AFTER = timedelta(days=30)


def user_agent(contact_url: str) -> str:
    """The User-Agent: project, version and where feed owners can reach the operator."""
    try:
        release = version("partyfeeds")
    except PackageNotFoundError:  # running from a bare checkout
        release = "dev"
    return f"partyfeeds/{release} (+{contact_url})"


@dataclass(frozen=True, slots=True)
class FetchSettings:
    user_agent: str
    connect_timeout: float = 10
    read_timeout: float = 20
    total_timeout: float = 60  # hard deadline for the whole fetch, redirects and body included
    max_body_bytes: int = 10 * 2**20  # after decompression
    max_redirects: int = 5
    # Non-public addresses are refused unless the host ("name" or "name:port") is listed here.
    allow_hosts: tuple[str, ...] = ()
    block_private: bool = True


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch found; validators are the ones to store for the next fetch."""

    source_id: str
    status: FetchStatus
    url: str  # the URL asked for (the stored one)
    final_url: str  # after redirects: the base for relative links in the feed
    fetched_at: datetime
    http_status: int | None = None
    body: bytes | None = None  # only for status "ok"
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased names
    permanent_redirect: str | None = None  # where an unbroken chain of 301/308 led
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None  # sha256 of the decoded body
    retry_after: datetime | None = None  # from a 429/503 Retry-After, unbounded
    error: str | None = None

    @property
    def answered(self) -> bool:
        """Whether some server gave an HTTP answer (not a network failure)."""
        return self.http_status is not None


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


def fetch(client: HttpClient, state: SourceState, settings: FetchSettings, now: datetime) -> FetchResult:
    """Fetch one source; per-source failures come back as status "error"."""
    now = require_utc(now)
    trace = _Trace(state.url)
    deadline = time.monotonic() + settings.total_timeout
    try:
        with netguard.deadline_scope(deadline):
            return _fetch(client, state, settings, now, trace, deadline)
    except FetchError as exc:
        return trace.result(state, now, "error", error=str(exc))


def fetch_all(
    client: HttpClient,
    states: Sequence[SourceState],
    settings: FetchSettings,
    now: datetime,
    *,
    max_workers: int = 8,
) -> list[FetchResult]:
    """Fetch many sources (see `fetch_each`); results in input order."""
    results: list[FetchResult | None] = [None] * len(states)
    for index, result in fetch_each(client, states, settings, now, max_workers=max_workers):
        results[index] = result
    return [result for result in results if result is not None]


def fetch_each(
    client: HttpClient,
    states: Sequence[SourceState],
    settings: FetchSettings,
    now: datetime,
    *,
    max_workers: int = 8,
) -> Iterator[tuple[int, FetchResult]]:
    """Fetch many sources: hosts in parallel, one request at a time per host.

    Sources are grouped by host (name and port) and each group is fetched in
    order by one worker, so a host never sees two of our requests at once and
    no worker sits blocked on a lock. Yields (index in `states`, result): a
    result with a new body as soon as its fetch ends, so the caller can parse
    the first feeds while the rest are still on the wire; the others (not
    modified, unchanged, failed) at the end, since waking the caller for each
    of them cost more CPU than the request itself in a steady-state cycle.
    """
    groups: dict[str, list[int]] = {}
    for index, state in enumerate(states):
        groups.setdefault(host_key(state.url), []).append(index)
    bodies: queue.SimpleQueue[tuple[int, FetchResult] | BaseException | None] = queue.SimpleQueue()
    quiet: list[tuple[int, FetchResult]] = []  # list.append is atomic: the workers share it

    def run(indexes: list[int]) -> None:
        try:
            for index in indexes:
                result = fetch(client, states[index], settings, now)
                if result.body is not None:
                    bodies.put((index, result))
                else:
                    quiet.append((index, result))
        except BaseException as exc:  # a bug: hand it to the consumer, who would wait forever
            bodies.put(exc)
            raise
        bodies.put(None)  # this host's group is done

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fetch") as pool:
        for indexes in groups.values():
            pool.submit(run, indexes)
        running = len(groups)
        while running:
            done = bodies.get()
            if done is None:
                running -= 1
            elif isinstance(done, BaseException):
                raise done
            else:
                yield done
    yield from quiet


def post_form(client: HttpClient, url: str, form: Mapping[str, str], timeout: float) -> int | str:
    """POST a form (a WebSub ping); the HTTP status, or the error as text. Never raises."""
    timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    try:
        request = httpx.Request("POST", url, data=dict(form), headers=client.headers,
                                extensions={"timeout": timeouts})
        response = client.send(request)
        try:
            for _ in zip(response.iter_raw(), range(16), strict=False):  # a hub's answer is short
                pass
        finally:
            response.close()
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return f"{type(exc).__name__}: {exc}"
    return response.status_code


@functools.lru_cache(maxsize=8192)  # called for every source of every run
def host_key(url: str) -> str:
    """The politeness key: host name and port (a malformed URL is its own key)."""
    try:
        parts = urlsplit(url)
        return f"{(parts.hostname or '').lower()}:{parts.port or ''}"
    except ValueError:
        return url


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """A Retry-After header (delay-seconds or HTTP-date) as a UTC time; None if malformed."""
    if not value or not value.strip() or len(value) > 64:  # no real value is longer
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return now + timedelta(seconds=min(int(value), MAX_RETRY_AFTER.total_seconds()))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no claim about the local zone
        when = when.replace(tzinfo=UTC)
    try:
        return min(when.astimezone(UTC), now + MAX_RETRY_AFTER)
    except OverflowError:  # year 1 with a positive offset
        return None


@dataclass
class _Trace:
    """Where the fetch has got to, so that failures can report it too."""

    url: str
    http_status: int | None = None
    permanent: str | None = None
    unbroken: bool = True  # every hop so far was permanent
    hops: int = 0

    def redirect(self, status: int, target: str) -> None:
        self.hops += 1
        if status in PERMANENT_REDIRECTS and self.unbroken:
            self.permanent = target
        else:
            self.unbroken = False
        self.url = target

    def result(self, state: SourceState, now: datetime, status: FetchStatus, **fields: Any) -> FetchResult:
        return FetchResult(
            source_id=state.source_id, status=status, url=state.url, final_url=self.url, fetched_at=now,
            http_status=self.http_status, permanent_redirect=self.permanent, **fields,
        )


def _fetch(
    client: HttpClient, state: SourceState, settings: FetchSettings, now: datetime, trace: _Trace,
    deadline: float,
) -> FetchResult:
    try:
        response = _follow(client, trace, _conditional_headers(state), settings, deadline)
        try:
            return _interpret(response, state, settings, now, trace, deadline)
        finally:
            response.close()
    except httpx.TimeoutException as exc:
        if time.monotonic() >= deadline:
            raise FetchError(f"total timeout: fetch of {trace.url} took longer than "
                             f"{settings.total_timeout:g}s") from exc
        raise FetchError(f"{_TIMEOUT_NAMES.get(type(exc), 'timeout')} fetching {trace.url}") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise FetchError(f"{type(exc).__name__} fetching {trace.url}: {exc}") from exc


_TIMEOUT_NAMES = {
    httpx.ConnectTimeout: "connect timeout",
    httpx.ReadTimeout: "read timeout",
    httpx.WriteTimeout: "write timeout",
    httpx.PoolTimeout: "connection pool timeout",
}


def _conditional_headers(state: SourceState) -> dict[str, str]:
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _follow(
    client: HttpClient, trace: _Trace, headers: dict[str, str], settings: FetchSettings, deadline: float
) -> httpx.Response:
    """Send the request and follow redirects; returns an open, streamed response."""
    _check_url(trace.url)
    while True:
        response = _send(client, trace.url, headers, settings, deadline)
        trace.http_status = response.status_code
        if response.status_code not in REDIRECTS:
            return response
        response.close()
        location = response.headers.get("location")
        if not location:
            raise FetchError(f"HTTP {response.status_code} redirect without a Location from {trace.url}")
        if trace.hops >= settings.max_redirects:
            raise FetchError(f"more than {settings.max_redirects} redirects, last to {location}")
        target = urljoin(trace.url, location.strip())
        _check_url(target, "redirect to ")
        trace.redirect(response.status_code, target)


def _check_url(url: str, context: str = "") -> None:
    if not _is_http_url(url):
        raise FetchError(f"{context}a non-HTTP URL {url!r}")


@functools.lru_cache(maxsize=8192)
def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _send(
    client: HttpClient, url: str, headers: dict[str, str], settings: FetchSettings, deadline: float
) -> httpx.Response:
    _remaining(deadline, settings)  # netguard caps every network wait at the deadline
    timeouts = {"connect": settings.connect_timeout, "read": settings.read_timeout,
                "write": settings.read_timeout, "pool": settings.read_timeout}
    return client.get(url, headers, timeouts)


def _remaining(deadline: float, settings: FetchSettings) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError(f"total timeout: fetch took longer than {settings.total_timeout:g}s")
    return remaining


def _interpret(
    response: httpx.Response, state: SourceState, settings: FetchSettings, now: datetime, trace: _Trace,
    deadline: float,
) -> FetchResult:
    status = response.status_code
    headers = dict(response.headers.items())
    if status == 304:
        _drain(response, deadline, settings)  # a 304 has no body; reading its end keeps the connection alive
        return trace.result(
            state, now, "not_modified", headers=headers, body_hash=state.body_hash,
            etag=headers.get("etag", state.etag),
            last_modified=headers.get("last-modified", state.last_modified),
        )
    if status == 410:
        log.warning("source=%s gone (HTTP 410) at %s: retiring it", state.source_id, trace.url)
        return trace.result(state, now, "gone", headers=headers, error=f"HTTP 410 Gone at {trace.url}")
    if status != 200:
        retry_after = parse_retry_after(headers.get("retry-after"), now) if status in (429, 503) else None
        reason = f"HTTP {status} {response.reason_phrase}".rstrip()
        return trace.result(state, now, "error", headers=headers, retry_after=retry_after, error=reason)
    body = _read_body(response, settings, deadline)
    digest = hashlib.sha256(body).hexdigest()
    validators = {"etag": headers.get("etag"), "last_modified": headers.get("last-modified")}
    if digest == state.body_hash:
        return trace.result(state, now, "unchanged", headers=headers, body_hash=digest, **validators)
    return trace.result(state, now, "ok", headers=headers, body=body, body_hash=digest, **validators)


def _read_body(response: httpx.Response, settings: FetchSettings, deadline: float) -> bytes:
    """The decoded body, refused once it passes the size limit or the deadline."""
    limit = settings.max_body_bytes
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError(f"body of {declared} bytes is over the {limit}-byte limit")
    decoder = _Decoder(response.headers.get("content-encoding", ""))
    chunks: list[bytes] = []
    size = 0
    for chunk in _chunks(response, decoder, limit, deadline, settings):
        size += len(chunk)
        if size > limit:
            raise FetchError(f"body is over the {limit}-byte limit (after decompression)")
        chunks.append(chunk)
    return b"".join(chunks)


def _drain(response: httpx.Response, deadline: float, settings: FetchSettings) -> None:
    """Read a bodiless response to its end, so that the pool can reuse its connection.

    Our transport returns a connection to the pool only once the whole response was read;
    a response closed before that closes its connection. Read from the stream itself:
    httpx's `iter_raw` wrapping cost more than reading the empty body of a 304.
    """
    assert isinstance(response.stream, httpx.SyncByteStream)
    for _ in response.stream:
        _remaining(deadline, settings)


def _chunks(
    response: httpx.Response, decoder: _Decoder, limit: int, deadline: float, settings: FetchSettings
) -> Iterator[bytes]:
    # The deadline is checked between network reads; a stalled read is cut by the read timeout.
    for raw in response.iter_raw():
        _remaining(deadline, settings)
        yield decoder.decode(raw, limit + 1)
    yield decoder.flush()


class _Decoder:
    """Content-Encoding decoding that never produces more than asked for per step.

    A step that hits `max_length` leaves input behind, but the caller asks for
    one byte over its limit, so hitting it means the body is refused anyway.
    """

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._zlib = None
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":  # zlib-wrapped by the spec (or gzip: |32 detects either)
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)
        else:
            raise FetchError(f"unsupported Content-Encoding {encoding!r}")
        self._may_be_raw = encoding == "deflate"  # some servers send raw deflate

    def decode(self, data: bytes, max_length: int) -> bytes:
        if self._zlib is None:
            return data
        try:
            out = self._zlib.decompress(data, max_length)
        except zlib.error as exc:
            if not self._may_be_raw:
                raise FetchError(f"corrupt compressed body: {exc}") from exc
            self._may_be_raw = False
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.decode(data, max_length)
        self._may_be_raw = False  # the header was understood
        return out

    def flush(self) -> bytes:
        return self._zlib.flush() if self._zlib is not None else b""
