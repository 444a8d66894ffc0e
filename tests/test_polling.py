"""Polling decisions: pure functions of state, fetch result, spec and now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from feeds.fetch import FetchResult
from feeds.fetch.polling import MAX_BACKOFF, backoff, is_due, next_state, retry_delay
from feeds.model import SourceSpec, SourceState

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
URL = "https://party.example/feed"
SPEC = SourceSpec("s", URL, interval_seconds=3600)
HOUR = timedelta(hours=1)


def result(status: str = "ok", **fields: Any) -> FetchResult:
    defaults: dict[str, Any] = {"http_status": 200, "final_url": URL}
    return FetchResult("s", status, URL, fetched_at=NOW, **{**defaults, **fields})  # type: ignore[arg-type]


def test_success_schedules_one_interval_later_and_stores_validators() -> None:
    state = SourceState("s", URL, error_count=3, last_error="boom", item_count=5)
    new = next_state(state, result(etag='"e"', last_modified="lm", body_hash="h"), SPEC, NOW, new_items=2)
    assert new.next_fetch == NOW + HOUR
    assert (new.etag, new.last_modified, new.body_hash) == ('"e"', "lm", "h")
    assert (new.error_count, new.last_error, new.last_success, new.last_attempt) == (0, None, NOW, NOW)
    assert new.item_count == 7


@pytest.mark.parametrize("status", ["not_modified", "unchanged"])
def test_not_modified_and_unchanged_are_successes(status: str) -> None:
    state = SourceState("s", URL, etag='"e"', body_hash="h", error_count=2)
    new = next_state(state, result(status, http_status=304, etag='"e"', body_hash="h"), SPEC, NOW)
    assert (new.error_count, new.next_fetch, new.etag, new.body_hash) == (0, NOW + HOUR, '"e"', "h")


def test_failures_back_off_exponentially_capped_at_a_day_and_never_give_up() -> None:
    state = SourceState("s", URL)
    waits = []
    for _ in range(40):
        state = next_state(state, result("error", http_status=500, error="HTTP 500"), SPEC, NOW)
        assert state.next_fetch is not None
        waits.append(state.next_fetch - NOW)
    assert waits[:6] == [2 * HOUR, 4 * HOUR, 8 * HOUR, 16 * HOUR, MAX_BACKOFF, MAX_BACKOFF]
    assert waits[-1] == MAX_BACKOFF and state.error_count == 40 and not state.retired


def test_failure_keeps_the_validators() -> None:
    state = SourceState("s", URL, etag='"e"', last_modified="lm", body_hash="h")
    new = next_state(state, result("error", http_status=None, error="timeout"), SPEC, NOW)
    assert (new.etag, new.last_modified, new.body_hash, new.last_error) == ('"e"', "lm", "h", "timeout")


def test_a_parse_error_is_a_failure_that_forgets_nothing_but_stores_no_new_validators() -> None:
    state = SourceState("s", URL, etag='"old"', body_hash="old")
    new = next_state(state, result(etag='"new"', body_hash="new"), SPEC, NOW, parse_error="not a feed")
    assert (new.etag, new.body_hash, new.error_count, new.last_error) == ('"old"', "old", 1, "not a feed")


def test_backoff_never_shortens_a_long_interval() -> None:
    assert backoff(timedelta(days=7), 3) == timedelta(days=7)
    assert backoff(HOUR, 10_000) == MAX_BACKOFF


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (NOW + timedelta(hours=5), timedelta(hours=5)),  # honoured when longer than the backoff
        (NOW + timedelta(minutes=1), 2 * HOUR),  # never sooner than our own backoff
        (NOW - timedelta(hours=1), 2 * HOUR),  # in the past
        (NOW + timedelta(days=365), MAX_BACKOFF),  # absurd: bounded
        (None, 2 * HOUR),  # missing or malformed
    ],
)
def test_retry_after_is_honoured_but_bounded(retry_after: datetime | None, expected: timedelta) -> None:
    failed = result("error", http_status=503, retry_after=retry_after)
    new = next_state(SourceState("s", URL), failed, SPEC, NOW)
    assert new.next_fetch == NOW + expected


def test_retry_delay_bounds() -> None:
    assert retry_delay(None, NOW) == timedelta(0)
    assert retry_delay(NOW - HOUR, NOW) == timedelta(0)
    assert retry_delay(NOW + timedelta(days=3), NOW) == MAX_BACKOFF


def test_gone_retires_with_a_notice() -> None:
    new = next_state(SourceState("s", URL), result("gone", http_status=410, error="HTTP 410 Gone"), SPEC, NOW)
    assert new.retired and new.next_fetch is None
    assert new.last_error is not None and "410" in new.last_error and "retired" in new.last_error
    assert not is_due(new, NOW + timedelta(days=1000))


def test_a_success_after_retirement_revives_the_source() -> None:
    assert not next_state(SourceState("s", URL, retired=True), result(), SPEC, NOW).retired


NEW = "https://new.example/feed"


def test_a_permanent_redirect_moves_the_url_on_the_second_consistent_sighting() -> None:
    once = next_state(SourceState("s", URL), result(permanent_redirect=NEW), SPEC, NOW)
    assert (once.url, once.moved_to, once.moved_count) == (URL, NEW, 1)
    twice = next_state(once, result(permanent_redirect=NEW), SPEC, NOW)
    assert (twice.url, twice.moved_to, twice.moved_count) == (NEW, None, 0)


def test_a_different_target_restarts_the_count() -> None:
    state = SourceState("s", URL, moved_to="https://other.example/", moved_count=1)
    new = next_state(state, result(permanent_redirect=NEW), SPEC, NOW)
    assert (new.url, new.moved_to, new.moved_count) == (URL, NEW, 1)


def test_an_answer_without_the_move_resets_it_but_a_network_failure_does_not() -> None:
    state = SourceState("s", URL, moved_to=NEW, moved_count=1)
    answered = next_state(state, result("not_modified", http_status=304), SPEC, NOW)
    assert (answered.moved_to, answered.moved_count) == (None, 0)
    silent = next_state(state, result("error", http_status=None, error="timeout"), SPEC, NOW)
    assert (silent.moved_to, silent.moved_count) == (NEW, 1)


def test_a_move_seen_on_a_failing_fetch_still_counts() -> None:
    state = SourceState("s", URL, moved_to=NEW, moved_count=1)
    failed = result("error", http_status=500, error="HTTP 500", permanent_redirect=NEW)
    new = next_state(state, failed, SPEC, NOW)
    assert new.url == NEW and new.error_count == 1


def test_is_due() -> None:
    assert is_due(SourceState("s", URL), NOW)
    assert is_due(SourceState("s", URL, next_fetch=NOW), NOW)
    assert not is_due(SourceState("s", URL, next_fetch=NOW + HOUR), NOW)


def test_a_result_for_another_source_is_a_bug() -> None:
    with pytest.raises(ValueError, match="applied to source"):
        next_state(SourceState("other", URL), result(), SPEC, NOW)
