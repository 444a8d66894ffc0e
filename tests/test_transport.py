"""fetch's transport (the fast path: http.client connections through netguard) against httpx's own
transport (the reference): the same fetch results from the same server, Reply headers read as httpx
reads them, request heads as http.client writes them."""

from __future__ import annotations

import hashlib
import http.client
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.fetch import (
    ACCEPT,
    ACCEPT_ENCODING,
    FetchResult,
    FetchSettings,
    HttpClient,
    fetch,
    make_client,
    netguard,
    user_agent,
)
from feeds.fetch.transport import header_text
from feeds.model import SourceState
from tests.localserver import LocalServer, Reply

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SETTINGS = FetchSettings(user_agent=user_agent("https://partyfeeds.example.org/contact"), connect_timeout=1,
                         read_timeout=1, total_timeout=3, max_body_bytes=100_000, allow_hosts=("127.0.0.1",))
RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title></channel></rss>"

names = st.sampled_from([b"ETag", b"etag", b"Content-Type", b"Location", b"X-\xc3\xa9", b"Set-Cookie"])
values = st.binary(max_size=12) | st.sampled_from([b"caf\xc3\xa9", b"caf\xe9", b'"v1"', b""])


@given(st.lists(st.tuples(names, values), max_size=6))
def test_reply_headers_are_what_httpx_makes_of_the_same_fields(raw: list[tuple[bytes, bytes]]) -> None:
    # Lower-cased names, repeated fields joined with ", ", ASCII else UTF-8 else Latin-1.
    assert header_text(raw) == dict(httpx.Headers(raw).items())


@given(st.lists(st.tuples(st.sampled_from([b"Host", b"If-None-Match", b"X-A"]),
                          st.binary(max_size=10)), max_size=4))
def test_header_lines_are_putheaders_lines_or_its_refusal(fields: list[tuple[bytes, bytes]]) -> None:
    sent: list[bytes] = []
    reference = http.client.HTTPConnection("example.invalid")
    reference.putrequest("GET", "/", skip_host=True, skip_accept_encoding=True)
    reference._output = sent.append  # type: ignore[method-assign]
    try:
        for name, value in fields:
            reference.putheader(name, value)
    except ValueError:
        with pytest.raises(ValueError):
            netguard.header_lines(fields)
        return
    assert netguard.header_lines(fields) == tuple(sent)


def test_a_stored_etag_with_a_line_break_is_never_sent() -> None:
    # A validator that would smuggle a header in is refused when the request is built:
    # that source fails with a readable error, the server sees nothing, the next source is fetched.
    with LocalServer() as server, make_client(SETTINGS) as client:
        server.script("/feed", Reply(200, body=RSS))
        bad = SourceState("bad", server.url("/feed"), etag='"v1"\r\nX-Injected: 1')
        result = fetch(client, bad, SETTINGS, NOW)
        good = fetch(client, SourceState("good", server.url("/feed")), SETTINGS, NOW)
        assert result.status == "error" and result.error is not None
        assert "Invalid header value" in result.error and server.url("/feed") in result.error
        assert good.status == "ok" and len(server.requests) == 1
        assert "x-injected" not in server.requests[0].headers


def test_the_same_refusal_on_another_transport() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(304)

    with make_client(SETTINGS, transport=httpx.MockTransport(handler)) as client:
        state = SourceState("s", "https://party.example/feed", last_modified="Wed\n, 01 May 2024")
        result = fetch(client, state, SETTINGS, NOW)
    assert result.status == "error" and result.error is not None and "Invalid header value" in result.error
    assert seen == []


# --- the same fetch on both stacks ------------------------------------------------------------------

FEED_HEADERS = (("Content-Type", "application/rss+xml"), ("ETag", '"v1"'),
                ("Last-Modified", "Wed, 01 May 2024 10:00:00 GMT"), ("Link", "<a>; rel=a"),
                ("Link", "<b>; rel=b"), ("X-Title", "caf\u00e9"))  # a repeated field; a Latin-1 value
# Each case: the replies by path, and what the source has stored (validators, the last body's hash).
CASES: dict[str, tuple[dict[str, list[Reply]], dict[str, Any]]] = {
    "200 with validators": ({"/feed": [Reply(200, body=RSS, headers=FEED_HEADERS)]}, {}),
    "304": ({"/feed": [Reply(304, headers=(("ETag", '"v2"'),))]}, {"etag": '"v1"'}),
    "gzip": ({"/feed": [Reply(200, body=RSS, gzip=True)]}, {}),
    "unchanged": ({"/feed": [Reply(200, body=RSS)]}, {"body_hash": hashlib.sha256(RSS).hexdigest()}),
    "body until close": ({"/feed": [Reply(200, body=RSS, content_length=-1)]}, {}),
    "301 then 308": ({"/feed": [Reply.redirect(301, "/moved")], "/moved": [Reply.redirect(308, "/final")],
                      "/final": [Reply(200, body=RSS)]}, {}),
    "302": ({"/feed": [Reply.redirect(302, "/elsewhere")], "/elsewhere": [Reply(200, body=RSS)]}, {}),
    "410": ({"/feed": [Reply(410)]}, {}),
    "503 with Retry-After": ({"/feed": [Reply(503, headers=(("Retry-After", "120"),))]}, {}),
    "404": ({}, {}),
    "cut short": ({"/feed": [Reply(raw=b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n<rss>")]}, {}),
    "not HTTP": ({"/feed": [Reply(raw=b"SSH-2.0-OpenSSH\r\n\r\n")]}, {}),
    "reset": ({"/feed": [Reply(reset=True)]}, {}),
    "over the size limit": ({"/feed": [Reply(200, body=b"x" * 200_000)]}, {}),
}


def reference_client() -> HttpClient:
    """fetch's client on httpx's own transport (httpcore's pool): the reference stack."""
    headers = {"User-Agent": SETTINGS.user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}
    return HttpClient(httpx.HTTPTransport(retries=0), headers)


def outcome(result: FetchResult) -> dict[str, Any]:
    """What a fetch result says, but the server's clock and an exception's own wording (each stack
    words it; its type and the URL must agree)."""
    found = asdict(result)
    found["headers"] = {k: v for k, v in result.headers.items() if k not in ("date", "server")}
    if result.error and " fetching " in result.error:
        found["error"] = result.error.split(": ", 1)[0]
    return found


@pytest.mark.parametrize("case", sorted(CASES))
def test_both_stacks_give_the_same_fetch_result(case: str) -> None:
    replies, stored = CASES[case]
    found = []
    with LocalServer() as server:
        for client in (make_client(SETTINGS), reference_client()):
            for path, script in replies.items():
                server.script(path, *script)
            state = replace(SourceState("s", server.url("/feed")), **stored)
            with client:
                found.append(outcome(fetch(client, state, SETTINGS, NOW)))
    ours, reference = found
    assert ours == reference
