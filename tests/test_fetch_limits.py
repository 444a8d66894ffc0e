"""What a source's answers may make us store and send back: validators (ETag, Last-Modified)
over 1 KiB, or that cannot go back as they came, are ignored; every error names its URL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from feeds.fetch import FetchSettings, HttpClient, fetch, make_client
from feeds.fetch.polling import next_state
from feeds.fetch.validators import MAX_VALIDATOR_BYTES
from feeds.model import SourceSpec, SourceState
from tests.localserver import LocalServer, Reply

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SETTINGS = FetchSettings(user_agent="partyfeeds-test", connect_timeout=1, read_timeout=1, total_timeout=3,
                         max_body_bytes=100_000, allow_hosts=("127.0.0.1",))
RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title></channel></rss>"
HUGE_ETAG = '"' + "e" * 60_000 + '"'
HUGE_DATE = "Wed, 01 May 2024 10:00:00 GMT" + " " * 2_000 + "x"


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with make_client(SETTINGS) as c:
        yield c


def poll_twice(client: HttpClient, url: str) -> tuple[SourceState, SourceState]:
    """The state after a first and a second poll of `url`."""
    spec = SourceSpec("s", url)
    first = next_state(SourceState("s", url), fetch(client, SourceState("s", url), SETTINGS, NOW), spec, NOW)
    later = NOW + timedelta(hours=1)
    return first, next_state(first, fetch(client, first, SETTINGS, later), spec, later)


def test_validators_over_a_kibibyte_are_neither_stored_nor_sent(server: LocalServer,
                                                                 client: HttpClient) -> None:
    server.script("/feed", Reply(200, body=RSS, headers=(("ETag", HUGE_ETAG), ("Last-Modified", HUGE_DATE))))
    first, second = poll_twice(client, server.url("/feed"))
    assert (first.etag, first.last_modified) == (None, None)
    assert first.body_hash is not None and second.error_count == 0  # the body hash still spots "unchanged"
    sent = server.requests_for("/feed")[1].headers
    assert "if-none-match" not in sent and "if-modified-since" not in sent


def test_a_validator_of_exactly_the_limit_is_kept(server: LocalServer, client: HttpClient) -> None:
    etag = '"' + "e" * (MAX_VALIDATOR_BYTES - 2) + '"'
    server.script("/feed", Reply(200, body=RSS, headers=(("ETag", etag),)), Reply(304))
    first, second = poll_twice(client, server.url("/feed"))
    assert first.etag == etag and second.etag == etag
    assert server.requests_for("/feed")[1].headers["if-none-match"] == etag


def test_a_304_with_a_huge_validator_keeps_the_stored_one(server: LocalServer, client: HttpClient) -> None:
    server.script("/feed", Reply(200, body=RSS, headers=(("ETag", '"v1"'),)),
                  Reply(304, headers=(("ETag", HUGE_ETAG),)))
    first, second = poll_twice(client, server.url("/feed"))
    assert first.etag == second.etag == '"v1"'


def test_a_huge_validator_stored_before_the_limit_is_not_sent(server: LocalServer,
                                                              client: HttpClient) -> None:
    server.script("/feed", Reply(200, body=RSS))
    state = SourceState("s", server.url("/feed"), etag=HUGE_ETAG, last_modified=HUGE_DATE)
    assert fetch(client, state, SETTINGS, NOW).status == "ok"
    sent = server.requests_for("/feed")[0].headers
    assert "if-none-match" not in sent and "if-modified-since" not in sent


def test_a_utf8_etag_that_cannot_go_back_as_it_came_is_ignored(server: LocalServer,
                                                               client: HttpClient) -> None:
    # The header block is decoded as UTF-8; "€" has no Latin-1 byte to send back. (A raw reply
    # ends its connection: it says so, or the client could send the next request on it.)
    head = (b"HTTP/1.1 200 OK\r\nETag: \"caf\xc3\xa9\xe2\x82\xac\"\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(RSS))
    server.script("/feed", Reply(raw=head + RSS))
    first, second = poll_twice(client, server.url("/feed"))
    assert first.etag is None and second.error_count == 0
    assert "if-none-match" not in server.requests_for("/feed")[1].headers


@pytest.mark.parametrize("reply", [Reply(500, body=b"oops"), Reply(404), Reply(429),
                                   Reply(200, body=b"x" * 200_000),
                                   Reply(200, body=RSS, headers=(("Content-Encoding", "br"),))],
                         ids=["500", "404", "429", "oversized", "unknown-encoding"])
def test_every_fetch_error_names_the_url(server: LocalServer, client: HttpClient, reply: Reply) -> None:
    server.script("/feed", reply)
    result = fetch(client, SourceState("s", server.url("/feed")), SETTINGS, NOW)
    assert result.status == "error" and server.url("/feed") in (result.error or ""), result.error
