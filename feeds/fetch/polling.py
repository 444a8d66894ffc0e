"""Polling decisions: given what a fetch found, what to remember and when to fetch next.

Pure functions of (state, fetch result, spec, now); no I/O, no clock.

- Success (ok / not_modified / unchanged): next fetch one interval later; the
  error count resets; the validators (ETag, Last-Modified, body hash) are kept
  for the next conditional GET.
- Failure: exponential backoff per source, interval * 2**errors, capped at a
  day (or at the interval, if that is longer), and never given up for good.
  A 429/503 Retry-After is honoured - we never come back sooner than asked -
  but bounded, so a nonsense value cannot park a source for a year.
- 410 Gone retires the source, with a notice in `last_error`.
- A permanent redirect (301/308) moves the stored URL only once the same
  target has been seen on MOVE_CONFIRMATIONS consecutive fetches: a
  misconfigured server for an afternoon must not lose us the real address.
  302/307 never move it.

Intervals carry no jitter here; the scheduler may add some.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from feeds.fetch import FetchResult
from feeds.model import SourceSpec, SourceState, require_utc

MAX_BACKOFF = timedelta(days=1)
MOVE_CONFIRMATIONS = 2
_MAX_DOUBLINGS = 20  # 2**20 intervals is far past any cap; avoids timedelta overflow


def is_due(state: SourceState, now: datetime) -> bool:
    """Whether the source should be fetched at `now`."""
    return not state.retired and (state.next_fetch is None or state.next_fetch <= require_utc(now))


def backoff(interval: timedelta, errors: int) -> timedelta:
    """The wait after `errors` consecutive failures."""
    cap = max(MAX_BACKOFF, interval)
    return min(interval * 2 ** min(errors, _MAX_DOUBLINGS), cap)


def retry_delay(retry_after: datetime | None, now: datetime) -> timedelta:
    """A server's Retry-After as a wait from `now`, bounded to [0, MAX_BACKOFF]."""
    if retry_after is None:
        return timedelta(0)
    return min(max(retry_after - now, timedelta(0)), MAX_BACKOFF)


def next_state(
    state: SourceState,
    result: FetchResult,
    spec: SourceSpec,
    now: datetime,
    *,
    new_items: int = 0,
    parse_error: str | None = None,
    malformed: str | None = None,
) -> SourceState:
    """The state to store after `result`.

    `parse_error`: the fetched body could not be used (a ParseError further
    down): counted as a failure, and the validators are not stored, so the
    next fetch downloads and parses the feed again. `malformed`: the body was
    not well-formed, but entries were recovered from it (remembered until a
    new body is well-formed).
    """
    if result.source_id != state.source_id:
        raise ValueError(f"result for {result.source_id!r} applied to source {state.source_id!r}")
    now = require_utc(now)
    # One replace of collected changes: this runs for every source in every poll.
    changes: dict[str, Any] = {"last_attempt": now, **_move(state, result)}
    if result.status == "gone":
        notice = f"{result.error}: source retired; change or remove its URL in the configuration"
        changes.update(retired=True, next_fetch=None, last_error=notice)
    elif result.status == "error" or parse_error is not None:
        changes.update(_failed(state, result.error or parse_error or "failed", result.retry_after, spec, now))
    else:
        changes.update(_succeeded(state, result, spec, now, new_items))
        if result.status == "ok":  # a new body was parsed
            changes["malformed"] = malformed
    return replace(state, **changes)


def _succeeded(
    state: SourceState, result: FetchResult, spec: SourceSpec, now: datetime, new_items: int
) -> dict[str, Any]:
    return {
        "etag": result.etag,
        "last_modified": result.last_modified,
        "body_hash": result.body_hash,
        "last_success": now,
        "last_error": None,
        "error_count": 0,
        "retired": False,
        "next_fetch": now + timedelta(seconds=spec.interval_seconds),
        "item_count": state.item_count + new_items,
    }


def _failed(
    state: SourceState, error: str, retry_after: datetime | None, spec: SourceSpec, now: datetime
) -> dict[str, Any]:
    errors = state.error_count + 1
    wait = max(backoff(timedelta(seconds=spec.interval_seconds), errors), retry_delay(retry_after, now))
    return {"error_count": errors, "last_error": error, "next_fetch": now + wait}


def _move(state: SourceState, result: FetchResult) -> dict[str, Any]:
    target = result.permanent_redirect
    if target is None or target == state.url:
        # The old URL answered without moving: a pending move is not consistent.
        # A network failure tells us nothing either way.
        return {"moved_to": None, "moved_count": 0} if result.answered else {}
    count = state.moved_count + 1 if target == state.moved_to else 1
    if count >= MOVE_CONFIRMATIONS:
        return {"url": target, "moved_to": None, "moved_count": 0}
    return {"moved_to": target, "moved_count": count}
