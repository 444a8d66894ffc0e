"""The ingest engine: one path from a poll to stored items, for `once` and `serve` alike.

    poll(source) → fetch:   a bounded pool of threads, one request at a time per host
                            (feeds/fetch/hosts.py); no thread ever waits for a busy host
                 → prepare: parse → normalise → tag → keys, on a thread of its own, or in
                            worker processes once a backlog builds up (feeds/prepare.py)
                 → accept:  the writer thread deduplicates and stores, a batch of sources
                            per short transaction (feeds/dedupe/accept.py)

The writer thread is the only user of the store the engine is given: every write of ingest
happens there, one transaction at a time, and nothing slow (network, parsing) happens inside
a transaction. Seed documents are read and tagged on the caller's thread and accepted by the
writer too (`ingest_seeds`, feeds/seedingest.py). `once` runs the engine `ordered`: sources
are stored in the order they were given, whatever order their fetches end in, so a run is
reproducible. The daemon runs it unordered: a source is stored as soon as it is prepared, so
a slow host delays only its own sources.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from feeds.dedupe.accept import accept_batch
from feeds.errors import StoreError
from feeds.fetch import FetchResult, FetchSettings, HostQueues, HttpClient, host_key, polling
from feeds.kinds import kind_of
from feeds.model import Item, SourceSpec, SourceState
from feeds.parse.seeds import DEFAULT_PUBLISHER
from feeds.prepare import Job, Prepared, PrepareStage
from feeds.reports import IngestReport, Progress, SourceReport, Step, health_events, source_line
from feeds.seedingest import accept_seed_chunk, log_seed_document, read_seeds, with_last
from feeds.store.interface import Storage
from feeds.tag import Tagger

log = logging.getLogger(__name__)

# Sources stored per transaction when several are ready at once (a cold start, a backlog): a
# commit per source cost as much as storing its items. Each source still commits whole or not
# at all. A commit writes every page its saves dirtied, and band and key inserts land all over
# their indexes: 100 sources (~1,000 items) write those pages a third as often as 25 did.
SOURCES_PER_COMMIT = 100
# Seed items per transaction: a document of 12,000 headlines in one transaction kept every
# other writer (the sources, a publish) waiting for seconds.
# How long the first poll ready to store may wait for others to fill its transaction while more
# are on their way: a commit per source cost more than its saves in a steady-state cycle.
COMMIT_WAIT = 0.5
# Fetched bodies handed to prepare and not yet stored: enough to keep the workers busy while the
# writer stores a batch, few enough that prepared feeds do not pile up in memory.
PREPARE_WINDOW = 128

Done = Callable[[SourceReport | None, SourceState | None, BaseException | None], None]


@dataclass(frozen=True, slots=True)
class Setup:
    """What a poll uses besides its source; replaced whole by `Ingest.configure` on a reload."""

    client: HttpClient
    settings: FetchSettings
    tagger: Tagger


class _Shared:
    """A Setup and the fetches using its client: a retired client closes when its last fetch ends."""

    def __init__(self, setup: Setup, owns_client: bool) -> None:
        self.setup, self.owns = setup, owns_client
        self._users, self._retired = 0, False
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self._users += 1

    def leave(self) -> None:
        with self._lock:
            self._users -= 1
            close = self._retired and not self._users
        if close:
            self._close()

    def retire(self, *, close: bool = True) -> None:
        with self._lock:
            self._retired, self.owns = True, self.owns and close
            close = not self._users
        if close:
            self._close()

    def _close(self) -> None:
        if self.owns:
            self.setup.client.close()


@dataclass(slots=True, eq=False)
class _Poll:
    """One source on its way through the engine."""

    ticket: int
    spec: SourceSpec
    state: SourceState
    shared: _Shared  # the setup its fetch started with (its tagger prepares it)
    done: Done | None
    now: datetime | None = None  # when its fetch started
    result: FetchResult | None = None
    prepared: Prepared | None = None
    dispatched: float = 0.0  # monotonic time it was handed to prepare


@dataclass(slots=True)
class IngestStats:
    """Where the time of ingest goes (seconds summed over threads), for the benchmark."""

    fetched: int = 0
    prepared: int = 0
    stored: int = 0
    transactions: int = 0
    fetch_seconds: float = 0.0  # in requests, over all fetch threads
    prepare_seconds: float = 0.0  # from a body's hand-off to prepare until it was back, prepared
    store_seconds: float = 0.0  # in the writer's transactions


class _Inbox:
    """The writer's messages. A message that does not wake it waits for the next that does, or
    for the writer's own timeout."""

    def __init__(self) -> None:
        self._messages: deque[tuple[Any, ...]] = deque()
        self._ready = threading.Condition(threading.Lock())

    def put(self, message: tuple[Any, ...], *, wake: bool) -> None:
        with self._ready:
            self._messages.append(message)
            if wake:
                self._ready.notify()

    def take(self, timeout: float) -> list[tuple[Any, ...]]:
        """Every message so far; waits up to `timeout` seconds for a waking one if there are none."""
        with self._ready:
            if not self._messages and timeout > 0:
                self._ready.wait(timeout)
            taken = list(self._messages)
            self._messages.clear()
        return taken


class Ingest:
    """The engine: `poll` sources (the daemon) or `run` them all (`once`); see the module doc.

    `clock` gives each fetch its `now` (the daemon: the real clock); without one, every fetch
    uses the `now` given to `run`. `on_store_error` hears of each failed commit (a StoreError:
    the sources in it are left as they were, to be polled again) and of the next good one (None).
    """

    def __init__(self, store: Storage, setup: Setup, *, fetch_workers: int = 8, parse_workers: int = 1,
                 ordered: bool = False, clock: Callable[[], datetime] | None = None,
                 owns_client: bool = False, expected: int = 0,
                 on_store_error: Callable[[StoreError | None], None] | None = None) -> None:
        self._store = store
        self._shared = _Shared(setup, owns_client)
        self._hosts = HostQueues(fetch_workers)
        self._prepare = PrepareStage(parse_workers, expected=expected)
        self._ordered, self._clock, self._on_store_error = ordered, clock, on_store_error
        self._inbox = _Inbox()
        self._lock = threading.Lock()
        self._active: set[str] = set()  # sources queued, fetching, preparing or waiting to be stored
        self._on_wire = 0  # polls queued for their host or fetching
        self._tickets = itertools.count()
        self._closed = False
        self.stats = IngestStats()
        # The writer's own state: only its thread touches these.
        self._fetched: list[tuple[int, _Poll]] = []  # heap of bodies waiting for a prepare slot
        self._ready: dict[int, _Poll | None] = {}  # ticket -> poll to store (None: nothing to store)
        self._next = 0  # ordered: the ticket to store next
        self._ready_since = 0.0  # monotonic time the oldest of `_ready` (or the last batch) became ready
        self._preparing = 0
        self._undated: Undated | None = None
        self._failing = False
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._writer.start()

    # -- what callers use -------------------------------------------------------------------

    @property
    def setup(self) -> Setup:
        return self._shared.setup

    def configure(self, setup: Setup, *, owns_client: bool) -> None:
        """Use `setup` for polls from now on; fetches in flight finish on the old one, whose
        client (if the engine owns it) closes when they are done."""
        with self._lock:
            old = self._shared
            same = old.setup.client is setup.client  # then it stays open, owned as it was
            self._shared = _Shared(setup, old.owns if same else owns_client)
        old.retire(close=not same)

    def poll(self, spec: SourceSpec, state: SourceState, done: Done | None = None, *,
             now: datetime | None = None) -> bool:
        """Queue a fetch of `spec` (from `state`); False if it is queued or in flight already,
        or the engine is closing. `done` hears how it ended, from the writer thread."""
        with self._lock:
            if self._closed or spec.id in self._active:
                return False
            self._active.add(spec.id)
            self._on_wire += 1
            poll = _Poll(next(self._tickets), spec, state, self._shared, done, now)
        self._hosts.submit(host_key(state.url), partial(self._fetch, poll))
        return True

    def run(self, sources: Sequence[tuple[SourceSpec, SourceState]], now: datetime,
            progress: Progress | None = None) -> list[SourceReport]:
        """Poll every source once and wait until each is stored; reports in `sources` order.
        A failed commit (StoreError) or a bug in a stage is raised once all have ended.
        `progress` hears of each source stored, with the items new and merged so far."""
        reports: dict[str, SourceReport] = {}
        counts = {"new": 0, "merged": 0}
        errors: list[BaseException] = []
        left = [len(sources)]
        finished = threading.Event()

        def done(report: SourceReport | None, _state: SourceState | None,
                 error: BaseException | None) -> None:
            if report is not None:
                reports[report.source_id] = report
                counts["new"] += report.ingest.new
                counts["merged"] += report.ingest.merged
            if progress is not None:
                progress(Step("sources", len(sources), 1, dict(counts)))
            if error is not None:
                errors.append(error)
            left[0] -= 1  # only the writer thread calls this
            if not left[0]:
                finished.set()

        if not sources:
            return []
        for spec, state in sources:
            if not self.poll(spec, state, done, now=now):
                raise ValueError(f"source {spec.id} given twice")
        finished.wait()
        if errors:
            raise errors[0]
        return [reports[spec.id] for spec, _ in sources]

    def call(self, work: Callable[[Storage], Any]) -> Any:
        """Run `work(store)` on the writer thread, between two batches; its result or exception."""
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the ingest engine has stopped")
            self._inbox.put(("call", work, future), wake=True)
        return future.result()

    def ingest_seeds(self, paths: Sequence[Path], now: datetime, language: str | None = None,
                     publisher: str = DEFAULT_PUBLISHER, progress: Progress | None = None) -> IngestReport:
        """Every seed document that changed since it was last ingested, read and tagged on this
        thread a chunk at a time, each chunk stored by the writer (feeds/seedingest.py): sources
        are stored between two chunks."""
        report = IngestReport()
        marks = self.call(lambda store: store.seed_marks())
        for document in read_seeds(self.setup.tagger, paths, now, language, publisher, report, marks,
                                   progress):
            before, changed = report.counts(), 0
            for chunk, last in with_last(document.chunks):  # tagged here, stored by the writer
                self.call(partial(accept_seed_chunk, document=document, chunk=chunk, last=last, now=now,
                                  report=report))
                changed += len(chunk)
            log_seed_document(document, report, before, changed)
        return report

    def busy(self) -> int:
        """Sources queued, fetching, preparing or waiting to be stored."""
        with self._lock:
            return len(self._active)

    def close(self, grace: float | None = None) -> bool:
        """Take no more polls and drop the queued fetches; the writer stores what is prepared
        and stops. Waits `grace` seconds (None: as long as it takes) for it; True if it stopped.
        Fetches still on the wire are not recorded: their sources are polled again next time."""
        with self._lock:
            self._closed = True
        self._hosts.close(wait=grace is None)
        self._inbox.put(("stop",), wake=True)
        self._writer.join(grace)
        stopped = not self._writer.is_alive()
        if stopped:
            self._prepare.close()
        self._shared.retire()
        return stopped

    def __enter__(self) -> Ingest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- fetch threads ----------------------------------------------------------------------

    def _fetch(self, poll: _Poll) -> None:
        with self._lock:  # the setup current when the fetch starts, kept open until it ends
            poll.shared = self._shared
            poll.shared.enter()
        setup = poll.shared.setup
        poll.now = self._clock() if self._clock is not None else poll.now
        assert poll.now is not None, "a poll needs `now` or an engine clock"
        started = time.monotonic()
        try:
            poll.result = kind_of(poll.spec).fetch(setup.client, poll.state, setup.settings, poll.now)
        except BaseException as exc:  # a bug: the writer releases the source and reports it
            self._inbox.put(("lost", poll, exc), wake=True)
            raise
        finally:
            poll.shared.leave()
            self.stats.fetch_seconds += time.monotonic() - started  # approximate across threads
            with self._lock:
                self._on_wire -= 1
                last = not self._on_wire
        # A body wakes the writer (it goes to prepare); the others (not modified, unchanged,
        # failed) wait for a full transaction, the last fetch, or the writer's COMMIT_WAIT tick:
        # waking it for each cost more CPU than their requests in a steady-state cycle.
        self._inbox.put(("fetched", poll), wake=_has_body(poll.result) or last)

    # -- the writer thread ------------------------------------------------------------------

    def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            for message in self._inbox.take(timeout=self._wait()):
                stopping = self._take(message) or stopping
            self._dispatch()
            while batch := self._next_batch(final=stopping):
                self._commit(batch)
                self._dispatch()  # the commit freed room in the prepare window

    def _wait(self) -> float:
        """How long the writer may sleep: until the oldest poll ready to store has waited
        COMMIT_WAIT, and no longer than COMMIT_WAIT (messages that do not wake it wait so long)."""
        if not self._ready or (self._ordered and self._next not in self._ready):
            return COMMIT_WAIT
        return max(0.0, self._ready_since + COMMIT_WAIT - time.monotonic())

    def _refuse_calls(self) -> None:
        """After the stop: calls still queued fail rather than leave their callers waiting."""
        for message in self._inbox.take(timeout=0):
            if message[0] == "call":
                message[2].set_exception(RuntimeError("the ingest engine has stopped"))

    def _take(self, message: tuple[Any, ...]) -> bool:
        """File one message; True for "stop"."""
        kind = message[0]
        if kind == "stop":
            return True
        if kind == "call":
            _kind, work, future = message
            try:
                future.set_result(work(self._store))
            except BaseException as exc:
                future.set_exception(exc)
        elif kind == "fetched":
            poll = message[1]
            self.stats.fetched += 1
            if _has_body(poll.result):
                heapq.heappush(self._fetched, (poll.ticket, poll))
            else:
                self._make_ready(poll.ticket, poll)
        elif kind == "prepared":
            _kind, poll, prepared = message
            self.stats.prepared += 1
            self.stats.prepare_seconds += time.monotonic() - poll.dispatched
            if isinstance(prepared, BaseException):
                self._lose(poll, prepared)
            else:
                poll.prepared = prepared
                self._make_ready(poll.ticket, poll)
        elif kind == "lost":
            self._lose(message[1], message[2])
        return False

    def _make_ready(self, ticket: int, poll: _Poll | None) -> None:
        if not self._ready:
            self._ready_since = time.monotonic()
        self._ready[ticket] = poll

    def _dispatch(self) -> None:
        """Hand fetched bodies to prepare, lowest ticket first, while the window has room (and
        always the ticket an ordered engine stores next, or it would wait for itself)."""
        while self._fetched and (self._preparing < PREPARE_WINDOW or
                                 (self._ordered and self._fetched[0][0] == self._next)):
            _ticket, poll = heapq.heappop(self._fetched)
            try:
                job = _job(self._store, poll)
            except StoreError as exc:
                self._lose(poll, exc)
                continue
            self._preparing += 1
            poll.dispatched = time.monotonic()
            self._prepare.submit(job, poll.shared.setup.tagger, partial(self._prepared, poll))

    def _prepared(self, poll: _Poll, prepared: Prepared | BaseException) -> None:
        self._inbox.put(("prepared", poll, prepared), wake=True)

    def _next_batch(self, *, final: bool = False) -> list[_Poll | None]:
        """The next polls to store: in ticket order from the next one (ordered), or as they
        came (unordered); at most SOURCES_PER_COMMIT. Fewer only if no others are on their way,
        the oldest has waited COMMIT_WAIT, or the engine is stopping (`final`)."""
        if self._ordered:
            tickets = list(itertools.takewhile(self._ready.__contains__,
                                               range(self._next, self._next + SOURCES_PER_COMMIT)))
        else:
            tickets = list(itertools.islice(self._ready, SOURCES_PER_COMMIT))
        if not tickets:
            return []
        if len(tickets) < SOURCES_PER_COMMIT and not final and not self._must_commit():
            return []
        if self._ordered:
            self._next += len(tickets)
        batch = [self._ready.pop(ticket) for ticket in tickets]
        self._ready_since = time.monotonic()
        return batch

    def _must_commit(self) -> bool:
        """Whether what is ready should be stored now, though it would not fill a transaction:
        it has waited COMMIT_WAIT, or no other poll can become ready before a commit (none on
        the wire or being prepared; fetched bodies wait for room in the prepare window)."""
        if time.monotonic() - self._ready_since >= COMMIT_WAIT or self._preparing >= PREPARE_WINDOW:
            return True
        with self._lock:
            active = len(self._active)
        waiting = sum(poll is not None for poll in self._ready.values()) + len(self._fetched)
        return active <= waiting

    def _commit(self, batch: Sequence[_Poll | None]) -> None:
        polls = [poll for poll in batch if poll is not None]
        if not polls:
            return
        started = time.monotonic()
        try:
            with self._store.transaction():
                done = self._store_batch(polls)
        except StoreError as exc:
            log.error("ingest status=error sources=%d error=%r (they are polled again next time)",
                      len(polls), str(exc))
            self._failing = True
            if self._on_store_error is not None:
                self._on_store_error(exc)
            for poll in polls:
                self._release(poll, None, None, exc)
            return
        except Exception as exc:  # a bug: log it with its traceback; the others go on
            log.exception("ingest of %s failed", ", ".join(poll.spec.id for poll in polls))
            for poll in polls:
                self._release(poll, None, None, exc)
            return
        self.stats.store_seconds += time.monotonic() - started
        self.stats.transactions += 1
        self.stats.stored += len(polls)
        if self._failing:
            self._failing = False
            if self._on_store_error is not None:
                self._on_store_error(None)
        for poll, (report, state) in zip(polls, done, strict=True):
            log_source(report, state)
            self._release(poll, report, state, None)

    def _store_batch(self, polls: Sequence[_Poll]) -> list[tuple[SourceReport, SourceState]]:
        """Store each poll inside the caller's transaction: prepared feeds one by one, the
        rest (not modified, unchanged, failed: the steady state) together."""
        done: dict[int, tuple[SourceReport, SourceState]] = {}
        quiet = [poll for poll in polls if poll.prepared is None]
        for poll in polls:
            if poll.prepared is not None:
                assert poll.result is not None and poll.now is not None
                done[poll.ticket] = store_prepared(self._store, poll.spec, poll.state, poll.result,
                                                    poll.prepared, self._undated_at(poll.now))
        for poll, stored in zip(quiet, _store_quiet(self._store, quiet), strict=True):
            done[poll.ticket] = stored
        return [done[poll.ticket] for poll in polls]

    def _undated_at(self, now: datetime) -> Undated:
        if self._undated is None or self._undated.now != now:
            self._undated = Undated(now)
        return self._undated

    def _lose(self, poll: _Poll, error: BaseException) -> None:
        """A poll that cannot be stored (a bug, or the store failing): release it, skip its ticket."""
        if not isinstance(error, StoreError):
            log.error("ingest of %s failed: %s: %s", poll.spec.id, type(error).__name__, error,
                      exc_info=error)
        if poll.prepared is None and poll.dispatched:
            self._preparing -= 1
        self._make_ready(poll.ticket, None)
        self._release(poll, None, None, error)

    def _release(self, poll: _Poll, report: SourceReport | None, state: SourceState | None,
                 error: BaseException | None) -> None:
        if poll.prepared is not None:
            self._preparing -= 1
        with self._lock:
            self._active.discard(poll.spec.id)
        if poll.done is not None:
            try:
                poll.done(report, state, error)
            except Exception:
                log.exception("a poll's callback failed")


def _has_body(result: FetchResult | None) -> bool:
    return result is not None and result.status == "ok" and result.body is not None


def _job(store: Storage, poll: _Poll) -> Job:
    assert poll.result is not None and poll.now is not None
    return job_for(store, poll.spec, poll.result, poll.now)


def job_for(store: Storage, spec: SourceSpec, result: FetchResult, now: datetime) -> Job:
    """What prepare needs of a fetched body: the body, its headers and URL, and the source's
    guid map from its last fetch."""
    assert result.body is not None
    return Job(result.body, result.headers, result.final_url, spec, now, store.guid_links(spec.id))


def store_prepared(store: Storage, spec: SourceSpec, state: SourceState, result: FetchResult,
                    prepared: Prepared | None, undated: Undated) -> tuple[SourceReport, SourceState]:
    """Deduplicate and store a prepared feed inside the caller's transaction: its items, guid
    map and state commit together. The report and the new state."""
    now = undated.now
    report = SourceReport(spec.id, result.status, result.error, moved_to=result.permanent_redirect)
    parse_error = prepared.parse_error if prepared is not None else None
    if parse_error is not None:
        report.status, report.error = "error", parse_error
    if prepared is not None and prepared.guid_links is not None:
        for outcome in accept_batch(store, [(item, "") for item in undated.apart(prepared.items)], now,
                                    prepared.bands, prepared.keys):
            report.ingest.count(outcome)
        store.save_guid_links(spec.id, prepared.guid_links)
        report.ingest.empty, report.ingest.recovered = prepared.empty_entries, prepared.recovered
        report.malformed = prepared.malformed
        report.encoding_note = prepared.encoding_note
    new_state = polling.next_state(state, result, spec, now, new_items=report.ingest.new,
                                   parse_error=parse_error, malformed=report.malformed)
    new_state = replace(new_state, item_count=store.source_item_count(spec.id))
    store.save_source_state(new_state)
    for event in health_events(state, new_state, now):
        store.add_source_event(event)
    return report, new_state


def _store_quiet(store: Storage, polls: Sequence[_Poll]) -> list[tuple[SourceReport, SourceState]]:
    """Record fetches that brought no new body inside the caller's transaction: the same states
    and health events `_store_prepared` gives them, in a few statements for all.

    Nothing of a quiet source's items changed, so its state keeps its item count: only a count
    of 0 (not known: a state from before counts were kept) is counted, not the items of every
    source of a cycle (a million rows in a store of a million). What else moves a count (an
    operator's split, an upgrade of the rules) makes the source's next poll bring a body."""
    if not polls:
        return []
    unknown = [poll.spec.id for poll in polls if not poll.state.item_count]
    counts = store.source_item_counts(unknown) if unknown else {}
    done, events = [], []
    for poll in polls:
        result = poll.result
        assert result is not None and poll.now is not None
        new_state = polling.next_state(poll.state, result, poll.spec, poll.now)
        count = counts.get(poll.spec.id, new_state.item_count)
        if new_state.item_count != count:
            new_state = replace(new_state, item_count=count)
        events += health_events(poll.state, new_state, poll.now)
        done.append((SourceReport(poll.spec.id, result.status, result.error,
                                  moved_to=result.permanent_redirect), new_state))
    store.save_source_states([state for _, state in done])
    for event in events:
        store.add_source_event(event)
    return done


class Undated:
    """First-seen times for the entries of one run that give no date (normalise dates them `now`,
    the fetch time): each a microsecond before the one before it, in the order they are stored,
    so they keep their feed's order and no two entries share an `updated` (readers and the W3C
    validator tell entries apart by it). Seed items count down from `now` in whole seconds, so
    the two never meet. A stored item keeps the first of its first-seen times (merge)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._taken = 0

    def apart(self, items: Sequence[Item]) -> list[Item]:
        return [self._apart(item) if item.updated == self.now else item for item in items]

    def _apart(self, item: Item) -> Item:
        self._taken += 1
        at = self.now - timedelta(microseconds=self._taken)
        return replace(item, published=min(item.published, at), updated=at)


def log_source(report: SourceReport, state: SourceState) -> None:
    """The source's one INFO line (a WARNING if it failed), from this module's logger."""
    level, line = source_line(report, state)
    log.log(level, "%s", line)

