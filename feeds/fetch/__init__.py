"""Fetch stage: one polite, bounded, conditional GET per source.

The only package that imports httpx. This module is the stage itself;
transport.py holds the client and its connections, body.py reads a body within
the limits, validators.py decides which ETag / Last-Modified to keep, settings.py
the configuration. `fetch` never raises for a per-source failure (network error,
HTTP error status, timeout, oversized body): it returns a `FetchResult` with
status "error" and a readable message naming the URL, which
`feeds.fetch.polling.next_state` turns into backoff. Anything else is a bug and
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
never two requests in flight to the same host (hosts.py: per-host queues feeding a bounded
pool of threads, so no thread waits for a busy host).

Cost: most polls of a `once` run are a 304 on a kept-alive connection, so the
per-request overhead is the cost of polling. httpx is the reference: its
errors and transports are the interface (`httpx.MockTransport` in tests,
httpx's own transport in tests/test_transport.py, which holds both to the same
fetch results). The fast path is our own transport, `KeepAliveTransport`
(transport.py: http.client connections opened through netguard), whose GET
skips httpx's request and response objects: each source's request head is built
and checked once, and the answer is a `Reply`. An unchanged poll of 1,000
sources costs 0.29 ms of CPU per request on it against 1.55 ms on httpx.Client
(bench.poll_cost; docs/architecture.md, "Fast paths"). It serves every request
fetch and post_form make, so nothing falls back to httpx's transport.

Enters: a source's state (URL, validators), the fetch settings, `now`. Leaves: a
`FetchResult` (a body or why not) and the source's next state (polling.py). Imports the
model and errors; never parse, tag, dedupe, store, publish or the scheduler.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx

from feeds.errors import FetchError
from feeds.fetch import netguard, validators
from feeds.fetch.body import drain, read_body, remaining
from feeds.fetch.hosts import HostQueues
from feeds.fetch.settings import ACCEPT, ACCEPT_ENCODING, FetchSettings, user_agent
from feeds.fetch.transport import HttpClient, KeepAliveTransport, Reply, guarded_transport, make_client
from feeds.model import SourceState, require_utc

__all__ = [
    "ACCEPT",
    "ACCEPT_ENCODING",
    "FetchResult",
    "FetchSettings",
    "FetchStatus",
    "HostQueues",
    "HttpClient",
    "KeepAliveTransport",
    "Reply",
    "fetch",
    "fetch_all",
    "fetch_each",
    "guarded_transport",
    "host_key",
    "make_client",
    "parse_retry_after",
    "post_form",
    "user_agent",
]

log = logging.getLogger(__name__)

FetchStatus = Literal["ok", "not_modified", "unchanged", "gone", "error"]

PERMANENT_REDIRECTS = frozenset({301, 308})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Retry-After values beyond this are nonsense; polling bounds them further.
MAX_RETRY_AFTER = timedelta(days=30)


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


def fetch(client: HttpClient, state: SourceState, settings: FetchSettings, now: datetime) -> FetchResult:
    """Fetch one source; per-source failures come back as status "error"."""
    now = require_utc(now)
    trace = _Trace(state.url)
    deadline = time.monotonic() + settings.total_timeout
    try:
        with netguard.deadline_scope(deadline):
            return _fetch(client, state, settings, now, trace, deadline)
    except FetchError as exc:
        return trace.result(state, now, "error", error=naming_url(str(exc), trace.url))


def naming_url(message: str, url: str) -> str:
    """`message`, ending with the URL it is about unless it names it already: the operator reads
    it in the source's log line and in `partyfeeds sources`, where the stored URL may have moved."""
    return message if url in message else f"{message} (from {url})"


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
    """Fetch many sources: hosts in parallel, one request at a time per host (HostQueues).

    Yields (index in `states`, result): a result with a new body as soon as its fetch ends,
    so the caller can parse the first feeds while the rest are still on the wire; the others
    (not modified, unchanged, failed) at the end, since waking the caller for each of them
    cost more CPU than the request itself in a steady-state cycle.
    """
    bodies: queue.SimpleQueue[tuple[int, FetchResult] | BaseException | None] = queue.SimpleQueue()
    quiet: list[tuple[int, FetchResult]] = []  # list.append is atomic: the workers share it
    left = [len(states)]
    counting = threading.Lock()

    def run(index: int) -> None:
        try:
            result = fetch(client, states[index], settings, now)
        except BaseException as exc:  # a bug: hand it to the consumer, who would wait forever
            bodies.put(exc)
            raise
        if result.body is not None:
            bodies.put((index, result))
        else:
            quiet.append((index, result))
        with counting:
            left[0] -= 1
            if not left[0]:
                bodies.put(None)

    if not states:
        return
    with HostQueues(max_workers) as hosts:
        for index, state in enumerate(states):
            hosts.submit(host_key(state.url), functools.partial(run, index))
        while (done := bodies.get()) is not None:
            if isinstance(done, BaseException):
                raise done
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
        response = _follow(client, trace, validators.conditional_headers(state), settings, deadline)
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


def _follow(
    client: HttpClient, trace: _Trace, headers: dict[str, str], settings: FetchSettings, deadline: float
) -> Reply:
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
) -> Reply:
    remaining(deadline, settings)  # netguard caps every network wait at the deadline
    timeouts = {"connect": settings.connect_timeout, "read": settings.read_timeout,
                "write": settings.read_timeout, "pool": settings.read_timeout}
    return client.get(url, headers, timeouts)


def _interpret(
    response: Reply, state: SourceState, settings: FetchSettings, now: datetime, trace: _Trace,
    deadline: float,
) -> FetchResult:
    status = response.status_code
    headers = response.headers
    if status == 304:
        drain(response, deadline, settings)  # a 304 has no body; reading its end keeps the connection alive
        return trace.result(
            state, now, "not_modified", headers=headers, body_hash=state.body_hash,
            **validators.renewed(headers, state, trace.url),
        )
    if status == 410:
        log.warning("source=%s gone (HTTP 410) at %s: retiring it", state.source_id, trace.url)
        return trace.result(state, now, "gone", headers=headers, error=f"HTTP 410 Gone at {trace.url}")
    if status != 200:
        retry_after = parse_retry_after(headers.get("retry-after"), now) if status in (429, 503) else None
        reason = f"HTTP {status} {response.reason_phrase}".rstrip() + f" from {trace.url}"
        return trace.result(state, now, "error", headers=headers, retry_after=retry_after, error=reason)
    body = read_body(response, settings, deadline)
    digest = hashlib.sha256(body).hexdigest()
    kept = validators.received(headers, trace.url)
    if digest == state.body_hash:
        return trace.result(state, now, "unchanged", headers=headers, body_hash=digest, **kept)
    return trace.result(state, now, "ok", headers=headers, body=body, body_hash=digest, **kept)


