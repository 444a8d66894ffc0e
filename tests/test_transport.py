"""fetch's transport: Reply headers read as httpx reads them, request heads as http.client writes them."""

from __future__ import annotations

import http.client
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.fetch import FetchSettings, fetch, make_client, netguard, user_agent
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
