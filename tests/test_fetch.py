"""The fetch stage: httpx.MockTransport unit tests, then a real server on 127.0.0.1."""

from __future__ import annotations

import gzip
import socket
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from feeds.fetch import (
    FetchResult,
    FetchSettings,
    HttpClient,
    KeepAliveTransport,
    fetch,
    fetch_all,
    host_key,
    make_client,
    netguard,
    parse_retry_after,
    user_agent,
)
from feeds.fetch.polling import next_state
from feeds.model import SourceSpec, SourceState
from feeds.parse import parse_feed
from feeds.parse.normalise import normalise_feed
from tests.localserver import LocalServer, Reply, any_overlap, overlapping

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CONTACT = "https://partyfeeds.example.org/contact"
SETTINGS = FetchSettings(
    user_agent=user_agent(CONTACT), connect_timeout=1, read_timeout=1, total_timeout=3,
    max_body_bytes=100_000, allow_hosts=("127.0.0.1",),
)
RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title></channel></rss>"


class _Stream(httpx.SyncByteStream):
    def __init__(self, content: bytes) -> None:
        self._content = content

    def __iter__(self) -> Iterator[bytes]:
        yield self._content


def respond(status: int, headers: dict[str, str] | None = None, content: bytes = b"") -> httpx.Response:
    """A streamed mock response: httpx reads a `content=` response eagerly, and fetch streams raw bytes."""
    return httpx.Response(status, headers=headers, stream=_Stream(content))


def mock_fetch(
    handler: Callable[[httpx.Request], httpx.Response],
    state: SourceState | None = None,
    settings: FetchSettings = SETTINGS,
) -> FetchResult:
    with make_client(settings, transport=httpx.MockTransport(handler)) as client:
        return fetch(client, state or SourceState("s", "https://party.example/feed"), settings, NOW)


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with make_client(SETTINGS) as c:
        yield c


# --- unit tests on httpx.MockTransport ---------------------------------------------------------------


def test_ok_result_carries_body_validators_and_hash() -> None:
    headers = {"ETag": '"v1"', "Last-Modified": "Wed, 01 May 2024 10:00:00 GMT", "Content-Type": "text/xml"}
    result = mock_fetch(lambda request: respond(200, headers=headers, content=RSS))
    assert result.status == "ok"
    assert result.body == RSS
    assert result.http_status == 200
    assert result.etag == '"v1"'
    assert result.last_modified == "Wed, 01 May 2024 10:00:00 GMT"
    assert result.headers["content-type"] == "text/xml"
    assert result.body_hash is not None and len(result.body_hash) == 64
    assert result.final_url == result.url == "https://party.example/feed"
    assert result.permanent_redirect is None and result.error is None


def recording(seen: list[httpx.Request], status: int, body: bytes = b"") -> Callable[..., httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return respond(status, content=body)

    return handler


def test_request_headers_name_the_project_and_contact() -> None:
    seen: list[httpx.Request] = []
    state = SourceState("s", "https://party.example/feed", etag='"e"', last_modified="Tue, 30 Apr 2024 GMT")
    mock_fetch(recording(seen, 304), state)
    ua = seen[0].headers["user-agent"]
    assert ua.startswith("partyfeeds/") and CONTACT in ua
    assert seen[0].headers["if-none-match"] == '"e"'
    assert seen[0].headers["if-modified-since"] == "Tue, 30 Apr 2024 GMT"
    assert seen[0].headers["accept-encoding"] == "gzip, deflate"


def test_each_poll_sends_its_own_validators_and_host() -> None:
    # The client reuses the headers it built for a source; a new validator is a new request.
    seen: list[httpx.Request] = []
    state = SourceState("s", "https://party.example/feed", etag='"v1"')
    with make_client(SETTINGS, transport=httpx.MockTransport(recording(seen, 304))) as client:
        for polled in [state, state, replace(state, etag='"v2"'), replace(state, etag=None),
                       replace(state, url="https://other.example:8443/feed")]:
            fetch(client, polled, SETTINGS, NOW)
    assert [r.headers.get("if-none-match") for r in seen] == ['"v1"', '"v1"', '"v2"', None, '"v1"']
    assert [r.headers["host"] for r in seen] == ["party.example"] * 4 + ["other.example:8443"]
    seen[0].headers["x-changed"] = "1"  # a request's headers are its own
    assert "x-changed" not in seen[1].headers


def test_no_conditional_headers_without_validators() -> None:
    seen: list[httpx.Request] = []
    mock_fetch(recording(seen, 200, RSS))
    assert "if-none-match" not in seen[0].headers and "if-modified-since" not in seen[0].headers


def test_304_keeps_stored_validators_when_the_server_omits_them() -> None:
    state = SourceState("s", "https://party.example/feed", etag='"e"', last_modified="x", body_hash="h")
    result = mock_fetch(lambda request: respond(304), state)
    assert (result.status, result.body, result.etag, result.last_modified, result.body_hash) == (
        "not_modified", None, '"e"', "x", "h",
    )


def test_same_body_hash_is_unchanged_without_a_body() -> None:
    first = mock_fetch(lambda request: respond(200, content=RSS))
    state = SourceState("s", "https://party.example/feed", body_hash=first.body_hash)
    second = mock_fetch(lambda request: respond(200, content=RSS), state)
    assert second.status == "unchanged" and second.body is None and second.body_hash == first.body_hash


def redirects(chain: dict[str, tuple[int, str]]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path in chain:
            status, location = chain[request.url.path]
            return respond(status, headers={"Location": location})
        return respond(200, content=RSS)

    return handler


@pytest.mark.parametrize(
    ("chain", "permanent"),
    [
        ({"/feed": (301, "/a"), "/a": (308, "https://new.example/b")}, "https://new.example/b"),
        ({"/feed": (301, "/a"), "/a": (302, "/b")}, "https://party.example/a"),
        ({"/feed": (302, "/a"), "/a": (301, "/b")}, None),
        ({"/feed": (307, "/a")}, None),
        ({"/feed": (303, "/a")}, None),
    ],
)
def test_permanent_redirect_is_the_end_of_the_unbroken_permanent_chain(
    chain: dict[str, tuple[int, str]], permanent: str | None
) -> None:
    result = mock_fetch(redirects(chain))
    assert result.status == "ok"
    assert result.permanent_redirect == permanent
    assert result.final_url != result.url


def test_redirect_without_location_or_to_another_scheme_is_an_error() -> None:
    assert "without a Location" in (mock_fetch(lambda r: respond(302)).error or "")
    result = mock_fetch(redirects({"/feed": (301, "ftp://party.example/feed")}))
    assert result.status == "error" and "non-HTTP" in (result.error or "")


def test_http_error_status_is_an_error_result() -> None:
    result = mock_fetch(lambda request: respond(500))
    assert (result.status, result.http_status, result.error, result.retry_after) == (
        "error", 500, "HTTP 500 Internal Server Error from https://party.example/feed", None,
    )


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_read_on_429_and_503(status: int) -> None:
    result = mock_fetch(lambda request: respond(status, headers={"Retry-After": "120"}))
    assert result.status == "error" and result.retry_after == NOW + timedelta(seconds=120)


def test_retry_after_is_ignored_on_other_statuses() -> None:
    assert mock_fetch(lambda r: respond(500, headers={"Retry-After": "120"})).retry_after is None


def test_gone() -> None:
    result = mock_fetch(lambda request: respond(410))
    assert result.status == "gone" and "410" in (result.error or "")


def test_network_failure_is_an_error_result_naming_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = mock_fetch(refuse)
    assert result.status == "error" and result.http_status is None
    assert "ConnectError" in (result.error or "") and "party.example" in (result.error or "")


def test_invalid_url_is_an_error_result() -> None:
    result = mock_fetch(lambda r: respond(200), SourceState("s", "not a url at all"))
    assert result.status == "error"


def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    settings = FetchSettings(user_agent="t", allow_hosts=("127.0.0.1",), max_body_bytes=10)
    result = mock_fetch(lambda r: respond(200, content=RSS), settings=settings)
    assert result.status == "error" and "limit" in (result.error or "")


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
    ],
)
def test_compressed_bodies_are_decoded(encoding: str, compress: Callable[[bytes], bytes]) -> None:
    headers = {"Content-Encoding": encoding}
    result = mock_fetch(lambda r: respond(200, headers=headers, content=compress(RSS)))
    assert result.status == "ok" and result.body == RSS


def test_unsupported_or_corrupt_encoding_is_an_error() -> None:
    br = mock_fetch(lambda r: respond(200, headers={"Content-Encoding": "br"}, content=b"xx"))
    assert "unsupported Content-Encoding" in (br.error or "")
    bad = mock_fetch(lambda r: respond(200, headers={"Content-Encoding": "gzip"}, content=b"xx"))
    assert "corrupt" in (bad.error or "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", NOW + timedelta(seconds=120)),
        (" 0 ", NOW),
        ("Wed, 01 May 2024 13:00:00 GMT", NOW + timedelta(hours=1)),
        ("Wed, 01 May 2024 13:00:00 -0000", NOW + timedelta(hours=1)),
        ("99999999999999999999", NOW + timedelta(days=30)),
        ("Fri, 01 Jan 9999 00:00:00 GMT", NOW + timedelta(days=30)),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: datetime | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_host_key_separates_hosts_and_ports() -> None:
    assert host_key("https://A.example/x") == host_key("https://a.example/y")
    assert host_key("http://127.0.0.1:8001/") != host_key("http://127.0.0.1:8002/")


# --- integration tests against a real server on 127.0.0.1 ---------------------------------------------


def test_second_poll_is_conditional_and_a_304_costs_no_body(
    server: LocalServer, client: HttpClient
) -> None:
    validators = (("ETag", '"v1"'), ("Last-Modified", "Wed, 01 May 2024 10:00:00 GMT"))
    server.script("/feed", Reply(200, body=RSS, headers=validators), Reply(304))
    spec = SourceSpec("s", server.url("/feed"))
    state = SourceState("s", spec.url)
    first = fetch(client, state, SETTINGS, NOW)
    state = next_state(state, first, spec, NOW)
    second = fetch(client, state, SETTINGS, NOW + timedelta(hours=1))
    assert (first.status, second.status, second.body) == ("ok", "not_modified", None)
    sent = server.requests_for("/feed")[1].headers
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == "Wed, 01 May 2024 10:00:00 GMT"


def test_user_agent_reaches_the_server(server: LocalServer, client: HttpClient) -> None:
    server.script("/feed", Reply(200, body=RSS))
    fetch(client, SourceState("s", server.url("/feed")), SETTINGS, NOW)
    ua = server.requests[0].headers["user-agent"]
    assert "partyfeeds" in ua and CONTACT in ua


def poll(client: HttpClient, state: SourceState, spec: SourceSpec, times: int) -> SourceState:
    for _ in range(times):
        state = next_state(state, fetch(client, state, SETTINGS, NOW), spec, NOW)
    return state


def test_301_seen_twice_moves_the_url(server: LocalServer, client: HttpClient) -> None:
    server.script("/old", Reply.redirect(301, "/new"))
    server.script("/new", Reply(200, body=RSS))
    spec = SourceSpec("s", server.url("/old"))
    once = poll(client, SourceState("s", spec.url), spec, 1)
    assert once.url == spec.url and once.moved_to == server.url("/new") and once.moved_count == 1
    twice = poll(client, once, spec, 1)
    assert twice.url == server.url("/new") and twice.moved_to is None
    poll(client, twice, spec, 1)
    assert [r.path for r in server.requests] == ["/old", "/new", "/old", "/new", "/new"]


def test_302_never_moves_the_url(server: LocalServer, client: HttpClient) -> None:
    server.script("/old", Reply.redirect(302, "/new"))
    server.script("/new", Reply(200, body=RSS))
    spec = SourceSpec("s", server.url("/old"))
    state = poll(client, SourceState("s", spec.url), spec, 3)
    assert state.url == spec.url and state.moved_to is None and state.error_count == 0


def test_a_301_that_comes_and_goes_does_not_move_the_url(server: LocalServer, client: HttpClient) -> None:
    server.script("/old", Reply.redirect(301, "/new"), Reply(200, body=RSS), Reply.redirect(301, "/new"))
    server.script("/new", Reply(200, body=RSS))
    spec = SourceSpec("s", server.url("/old"))
    state = poll(client, SourceState("s", spec.url), spec, 3)
    assert state.url == spec.url and state.moved_count == 1


def test_410_retires_the_source(server: LocalServer, client: HttpClient) -> None:
    server.script("/feed", Reply(410))
    spec = SourceSpec("s", server.url("/feed"))
    state = poll(client, SourceState("s", spec.url), spec, 1)
    assert state.retired and state.next_fetch is None and "retired" in (state.last_error or "")


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_sets_the_next_fetch(server: LocalServer, client: HttpClient, status: int) -> None:
    server.script("/feed", Reply(status, headers=(("Retry-After", "20000"),)))
    spec = SourceSpec("s", server.url("/feed"), interval_seconds=600)
    state = poll(client, SourceState("s", spec.url), spec, 1)
    assert state.next_fetch == NOW + timedelta(seconds=20000) and state.error_count == 1


def test_500s_back_off_exponentially_up_to_a_day(server: LocalServer, client: HttpClient) -> None:
    server.script("/feed", Reply(500))
    spec = SourceSpec("s", server.url("/feed"), interval_seconds=3600)
    state = SourceState("s", spec.url)
    waits = []
    for _ in range(6):
        state = poll(client, state, spec, 1)
        assert state.next_fetch is not None
        waits.append(state.next_fetch - NOW)
    assert [w.total_seconds() / 3600 for w in waits] == [2, 4, 8, 16, 24, 24]
    assert state.error_count == 6 and not state.retired and "500" in (state.last_error or "")


def test_a_stalled_server_hits_the_read_timeout(server: LocalServer) -> None:
    server.script("/feed", Reply(200, body=RSS, delay=5))
    settings = FetchSettings(user_agent="t", allow_hosts=("127.0.0.1",), read_timeout=0.2, total_timeout=3)
    with make_client(settings) as client:
        result = fetch(client, SourceState("s", server.url("/feed")), settings, NOW)
    assert result.status == "error" and "read timeout" in (result.error or "")


def test_a_dripping_body_hits_the_total_deadline(server: LocalServer) -> None:
    server.script("/feed", Reply(200, body=RSS, drip=2, drip_interval=0.05))  # ~2 s in all
    settings = FetchSettings(user_agent="t", allow_hosts=("127.0.0.1",), read_timeout=1, total_timeout=0.4)
    with make_client(settings) as client:
        result = fetch(client, SourceState("s", server.url("/feed")), settings, NOW)
    assert result.status == "error" and "total timeout" in (result.error or "")
    assert result.http_status == 200  # the headers came in time; the body did not


def test_a_slow_but_timely_body_is_fine(server: LocalServer, client: HttpClient) -> None:
    server.script("/feed", Reply(200, body=RSS, drip=40, drip_interval=0.01))
    assert fetch(client, SourceState("s", server.url("/feed")), SETTINGS, NOW).body == RSS


def test_an_oversized_body_is_refused(server: LocalServer) -> None:
    settings = FetchSettings(user_agent="t", allow_hosts=("127.0.0.1",), max_body_bytes=1000)
    server.script("/declared", Reply(200, body=b"x" * 5000))
    with make_client(settings) as client:
        result = fetch(client, SourceState("s", server.url("/declared")), settings, NOW)
    assert result.status == "error" and "1000-byte limit" in (result.error or "")


def test_a_gzip_bomb_is_refused_after_decompression(server: LocalServer) -> None:
    settings = FetchSettings(user_agent="t", allow_hosts=("127.0.0.1",), max_body_bytes=2**20)
    server.script("/bomb", Reply(200, body=b"\0" * 30 * 2**20, gzip=True))  # ~30 KiB on the wire
    server.script("/fine", Reply(200, body=RSS * 100, gzip=True))
    with make_client(settings) as client:
        bomb = fetch(client, SourceState("s", server.url("/bomb")), settings, NOW)
        fine = fetch(client, SourceState("s", server.url("/fine")), settings, NOW)
    assert bomb.status == "error" and "after decompression" in (bomb.error or "")
    assert fine.status == "ok" and fine.body == RSS * 100


def test_redirect_limit(server: LocalServer, client: HttpClient) -> None:
    for hop in range(10):
        server.script(f"/r{hop}", Reply.redirect(302, f"/r{hop + 1}"))
    result = fetch(client, SourceState("s", server.url("/r0")), SETTINGS, NOW)
    assert result.status == "error" and "more than 5 redirects" in (result.error or "")
    assert len(server.requests) == 6


def test_a_redirect_loop_ends_at_the_limit(server: LocalServer, client: HttpClient) -> None:
    server.script("/loop", Reply.redirect(301, "/loop"))
    result = fetch(client, SourceState("s", server.url("/loop")), SETTINGS, NOW)
    assert result.status == "error" and "redirects" in (result.error or "")


def test_a_body_cut_short_of_its_content_length_is_an_error(server: LocalServer, client: HttpClient) -> None:
    server.script("/short", Reply(raw=b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n<rss>"))  # then FIN
    result = fetch(client, SourceState("s", server.url("/short")), SETTINGS, NOW)
    assert result.status == "error" and "RemoteProtocolError" in (result.error or "")


def counting_client(opened: list[str]) -> HttpClient:
    """A client on the real transport whose every new TCP connection is recorded."""
    def opener(address: str, port: int, timeout: float | None) -> socket.socket:
        opened.append(f"{address}:{port}")
        return netguard.open_tcp(address, port, timeout)

    policy = netguard.AddressPolicy(frozenset(SETTINGS.allow_hosts))
    pool = netguard.Pool(netguard.GuardedConnector(policy, opener=opener), tls=None)
    return make_client(SETTINGS, transport=KeepAliveTransport(pool))


def test_one_connection_serves_every_fetch_of_a_host(server: LocalServer) -> None:
    server.script("/a", Reply(200, body=RSS, headers=(("ETag", '"a"'),)), Reply(304))
    server.script("/b", Reply(200, body=RSS, gzip=True))
    opened: list[str] = []
    with counting_client(opened) as client:
        state = SourceState("a", server.url("/a"))
        first = fetch(client, state, SETTINGS, NOW)
        second = fetch(client, replace(state, etag=first.etag), SETTINGS, NOW)
        third = fetch(client, SourceState("b", server.url("/b")), SETTINGS, NOW)
    assert (first.status, second.status, third.status) == ("ok", "not_modified", "ok")
    assert third.body == RSS
    assert opened == [f"127.0.0.1:{server.port}"]


def test_a_response_not_read_to_its_end_closes_its_connection(server: LocalServer) -> None:
    server.script("/big", Reply(200, body=b"x" * 5000))
    server.script("/feed", Reply(200, body=RSS))
    settings = replace(SETTINGS, max_body_bytes=1000)
    opened: list[str] = []
    with counting_client(opened) as client:
        refused = fetch(client, SourceState("s", server.url("/big")), settings, NOW)
        fine = fetch(client, SourceState("s", server.url("/feed")), settings, NOW)
    assert refused.status == "error" and fine.status == "ok"
    assert len(opened) == 2  # the unread body's connection was not reused


def test_connection_refused(client: HttpClient) -> None:
    with LocalServer() as gone:
        url = gone.url("/feed")
    result = fetch(client, SourceState("s", url), SETTINGS, NOW)
    assert result.status == "error" and result.http_status is None


def test_fetch_all_serialises_per_host_and_overlaps_across_hosts(client: HttpClient) -> None:
    with LocalServer() as a, LocalServer() as b:
        for path in ("/1", "/2", "/3"):
            a.script(path, Reply(200, body=RSS, delay=0.15))
        b.script("/x", Reply(200, body=RSS, delay=0.3))
        b.script("/y", Reply(200, body=RSS, delay=0.3))
        states = [SourceState(f"a{p}", a.url(p)) for p in ("/1", "/2", "/3")]
        states += [SourceState("bx", b.url("/x")), SourceState("by", b.url("/y"))]
        results = fetch_all(client, states, SETTINGS, NOW, max_workers=4)
        assert [r.source_id for r in results] == [s.source_id for s in states]
        assert all(r.status == "ok" for r in results)
        assert not any_overlap(a.requests) and not any_overlap(b.requests)
        assert any(overlapping(x, y) for x in a.requests for y in b.requests)


# --- the three stages together ------------------------------------------------------------------------


def test_fetch_parse_normalise_against_a_real_server(server: LocalServer, client: HttpClient) -> None:
    # A Turkish feed in undeclared windows-1254, served with a wrong server-default charset.
    served = Reply.feed("legacy-windows-1254-undeclared.rss", "text/html; charset=iso-8859-1")
    server.script("/feed", replace(served, headers=(*served.headers, ("ETag", '"1"'))), Reply(304))
    spec = SourceSpec("tkp", server.url("/feed"), party="tkp", language="tr")
    state = SourceState("tkp", spec.url)
    result = fetch(client, state, SETTINGS, NOW)
    assert result.body is not None
    feed = parse_feed(result.body, result.headers, result.final_url, language=spec.language)
    items = normalise_feed(feed, spec, NOW)
    assert [i.title for i in items] == [
        "Şişecam işçileri için dayanışma çağrısı", "İstanbul'da 1 Mayıs: Taksim yasağı",
    ]
    assert {i.language for i in items} == {"tr"} and items[0].sources[0].party == "tkp"
    state = next_state(state, result, spec, NOW, new_items=len(items))
    again = fetch(client, state, SETTINGS, NOW + timedelta(hours=1))
    assert again.status == "not_modified" and again.body is None and state.item_count == 2
