"""Hostile HTTP servers on 127.0.0.1: every case ends with an error on that source only.

Each case of tests/hostile_cases.py is served by a real local server. The
settings give a read timeout (30 s) far above the total deadline (0.6 s), so a
stalled server can only be cut off in time by the deadline holding inside a
blocking read: the error says "total timeout", never "read timeout".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from feeds.fetch import fetch, fetch_all, make_client
from feeds.fetch.polling import MAX_BACKOFF, next_state
from feeds.model import SourceSpec, SourceState
from tests.hostile_cases import RSS, SETTINGS, HttpCase, http_cases
from tests.localserver import LocalServer, Reply

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        for case in http_cases():
            local.script(case.path, *case.replies)
            for path, replies in case.extra:
                local.script(path, *replies)
        local.script("/good", Reply(200, body=RSS))
        yield local


@pytest.mark.parametrize("case", http_cases(), ids=lambda case: case.name)
def test_each_hostile_server_ends_in_an_error_for_its_source(server: LocalServer, case: HttpCase) -> None:
    with make_client(SETTINGS) as client:
        result = fetch(client, SourceState(case.name, server.url(case.path)), SETTINGS, NOW)
    assert result.status == "error", result
    assert case.error in (result.error or ""), result.error
    assert "http://" in (result.error or ""), result.error  # the operator reads where it went wrong
    assert "read timeout" not in (result.error or "")
    assert result.body is None
    state = next_state(SourceState(case.name, server.url(case.path)), result, SourceSpec(case.name, "x"), NOW)
    assert state.error_count == 1 and state.next_fetch is not None
    assert state.next_fetch - NOW <= MAX_BACKOFF  # an absurd Retry-After parks nothing for long


def test_hostile_servers_among_a_good_one_in_one_run(server: LocalServer) -> None:
    states = [SourceState(case.name, server.url(case.path)) for case in http_cases()]
    states.insert(len(states) // 2, SourceState("good", server.url("/good")))
    with make_client(SETTINGS) as client:
        results = fetch_all(client, states, SETTINGS, NOW, max_workers=8)
    by_id = {result.source_id: result for result in results}
    assert by_id["good"].status == "ok" and by_id["good"].body == RSS
    assert all(result.status == "error" for source, result in by_id.items() if source != "good")


def test_the_local_servers_never_saw_the_private_redirect_target(server: LocalServer) -> None:
    # redirect-to-private points at localhost:9: the guard refuses before any connection.
    with make_client(SETTINGS) as client:
        result = fetch(client, SourceState("p", server.url("/redirect-to-private")), SETTINGS, NOW)
    assert "refused: localhost resolves to" in (result.error or "")


def test_a_retry_after_of_many_digits_is_ignored_not_a_crash(server: LocalServer) -> None:
    with make_client(SETTINGS) as client:
        result = fetch(client, SourceState("r", server.url("/429-enormous-retry-after")), SETTINGS, NOW)
    assert result.http_status == 429 and result.retry_after is None


def test_the_year_9999_retry_after_is_bounded(server: LocalServer) -> None:
    with make_client(SETTINGS) as client:
        result = fetch(client, SourceState("r", server.url("/503-year-9999")), SETTINGS, NOW)
    assert result.retry_after is not None and result.retry_after <= NOW + timedelta(days=30)
