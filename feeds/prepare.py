"""The CPU half of ingesting a fetched feed: parse → normalise → tag → band and identity keys.

`feeds.pipeline` runs this half for many sources at once in worker processes
(a `Preparer`), while its own process does the SQLite half (deduplicate →
store) of the sources already prepared: both cores work on a cold ingest. The
half here is pure - bytes, the source, `now`, the guid map of the last fetch
and the tagger in, plain frozen values out - so what runs in a worker is
exactly what would run in-process. Each worker gets the tagger once, when it
starts. Small batches are prepared in-process: starting workers costs
more than they save.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from feeds import forkserver
from feeds.dedupe.keys import batch_keys
from feeds.dedupe.titles import title_bands
from feeds.errors import ParseError
from feeds.model import Item, SourceSpec
from feeds.normalise import guid_links, normalise_feed
from feeds.parse import has_something, parse_feed
from feeds.tag import Tagger, tag_item

log = logging.getLogger(__name__)

# Fewer sources with a new body than this are prepared in-process.
MIN_POOL_BATCH = 40
C = TypeVar("C")  # what the caller keeps beside each job
# Jobs sent to the workers and not handed back yet: enough to keep them busy while this
# process stores a batch, few enough that prepared feeds do not pile up in memory.
IN_FLIGHT = 64


@dataclass(frozen=True, slots=True)
class Job:
    """One fetched feed to prepare."""

    body: bytes
    headers: Mapping[str, str]
    url: str  # the final URL: the base for relative links
    spec: SourceSpec
    now: datetime
    previous_guids: Mapping[str, str]  # the source's guid -> link map of its last fetch


@dataclass(frozen=True, slots=True)
class Prepared:
    """A prepared feed: its tagged items with their title band keys, or why it is unusable."""

    items: tuple[Item, ...] = ()
    bands: tuple[tuple[int, ...], ...] = ()
    keys: tuple[tuple[str, ...], ...] = ()  # each item's identity keys
    guid_links: Mapping[str, str] | None = None  # None: nothing was parsed
    parse_error: str | None = None
    empty_entries: int = 0  # entries with nothing usable: no id, link, title, text or attached file
    recovered: int = 0  # entries kept from a document that was not well-formed
    malformed: str | None = None  # what made it not well-formed (feeds.parse.ParsedFeed.malformed)
    encoding_note: str | None = None  # ParsedFeed.encoding_note: logged by the main process


def prepare(job: Job, tagger: Tagger) -> Prepared:
    """Parse, normalise, tag, band and key one feed; a ParseError comes back as `parse_error`."""
    try:
        parsed = parse_feed(job.body, job.headers, job.url, language=job.spec.language)
    except ParseError as exc:
        return Prepared(parse_error=str(exc))
    items = [tag_item(tagger, item) for item in normalise_feed(parsed, job.spec, job.now, job.previous_guids)]
    bands = title_bands([item.title for item in items], [item.title_derived for item in items])
    empty = sum(1 for entry in parsed.entries if not has_something(entry))
    return Prepared(tuple(items), tuple(bands), tuple(batch_keys(items)), guid_links(parsed),
                    empty_entries=empty, recovered=parsed.recovered, malformed=parsed.malformed,
                    encoding_note=parsed.encoding_note)


def prepare_all(jobs: Sequence[Job], tagger: Tagger, workers: int) -> Iterator[Prepared]:
    """`prepare` of every job, in order; in `workers` processes if there are enough jobs."""
    with Preparer[None](tagger, workers, len(jobs)) as preparer:
        for slot, job in enumerate(jobs):
            preparer.add(slot, job, None)
        yield from (prepared for _, prepared in preparer.rest())


class Preparer(Generic[C]):
    """Prepares jobs as they arrive and hands them back in slot order.

    The caller numbers the `slots` it expects (the sources it fetches), then
    `add`s a job or `skip`s each slot in any order (fetches end in any order).
    `ready` gives what is prepared in slot order without waiting, so the
    caller stores the first feeds while the rest are fetched and parsed;
    `rest` waits for the others. Jobs go to `workers` processes once enough
    have come to pay for starting them, at most IN_FLIGHT at a time (lowest
    slots first), so prepared feeds do not pile up in memory while this
    process stores. A bug in a worker re-raises here. Workers that cannot
    start (no POSIX semaphores in some containers) or that die (the OOM
    killer) are given up with a warning, and this process prepares the rest.
    """

    def __init__(self, tagger: Tagger, workers: int, slots: int) -> None:
        self._tagger, self._workers, self._slots = tagger, workers, slots
        self._jobs: dict[int, tuple[C, Job]] = {}
        self._futures: dict[int, Future[Prepared]] = {}  # sent to a worker, not handed back
        self._waiting: list[int] = []  # heap of slots not sent yet
        self._skipped: set[int] = set()
        self._next = 0  # the first slot not handed back yet
        self._pool: ProcessPoolExecutor | None = None
        if workers >= 2 and slots >= MIN_POOL_BATCH:
            # Starting the forkserver imports the parsing stack (a second or so): do it while
            # the first fetches are on the wire, not when the first body arrives. It stays up
            # for later runs, so the steady state never pays for it.
            forkserver.start_in_background()

    def __enter__(self) -> Preparer[C]:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def add(self, slot: int, job: Job, context: C) -> None:
        self._jobs[slot] = (context, job)
        heapq.heappush(self._waiting, slot)
        if self._pool is None and self._workers >= 2 and len(self._jobs) >= MIN_POOL_BATCH:
            self._start_pool()
        self._send()

    def skip(self, slot: int) -> None:
        self._skipped.add(slot)

    def ready(self) -> Iterator[tuple[C, Prepared]]:
        while self._next < self._slots:
            slot = self._next
            if slot not in self._skipped:
                if slot not in self._jobs or self._pool is None:
                    return  # not fetched yet, or prepared in-process by `rest`
                future = self._future(slot)
                if future is not None and not future.done():
                    return
            self._next += 1
            if slot not in self._skipped:
                yield self._hand_back(slot)

    def rest(self) -> Iterator[tuple[C, Prepared]]:
        for slot in range(self._next, self._slots):
            self._next = slot + 1
            if slot not in self._skipped:
                yield self._hand_back(slot)

    def _hand_back(self, slot: int) -> tuple[C, Prepared]:
        context, job = self._jobs[slot]
        future = self._future(slot) if self._pool is not None else None
        try:
            prepared = future.result() if future is not None else prepare(job, self._tagger)
        except BrokenProcessPool as exc:
            self._give_up_workers(exc)
            prepared = prepare(job, self._tagger)
        self._futures.pop(slot, None)
        del self._jobs[slot]
        self._send()
        return context, prepared

    def _future(self, slot: int) -> Future[Prepared] | None:
        """The slot's future; sent now if the window was full (the caller waits for this one).
        None if the workers were given up."""
        if slot not in self._futures:
            self._submit(slot)
        return self._futures.get(slot)

    def _send(self) -> None:
        while self._pool is not None and self._waiting and len(self._futures) < IN_FLIGHT:
            slot = heapq.heappop(self._waiting)
            if slot in self._jobs and slot not in self._futures:  # not sent early by `_future`
                self._submit(slot)

    def _submit(self, slot: int) -> None:
        assert self._pool is not None
        try:  # the first submits start the workers
            self._futures[slot] = self._pool.submit(_prepare_in_worker, self._jobs[slot][1])
        except (BrokenProcessPool, OSError) as exc:
            self._give_up_workers(exc)

    def _start_pool(self) -> None:
        try:
            self._pool = ProcessPoolExecutor(self._workers, mp_context=forkserver.context(),
                                             initializer=_start_worker, initargs=(self._tagger,))
        except OSError as exc:
            self._give_up_workers(exc)

    def _give_up_workers(self, exc: BaseException) -> None:
        """Prepare every job not handed back yet in this process, from now on."""
        log.warning("parse workers failed, preparing feeds in this process instead: %s: %s",
                    type(exc).__name__, exc)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool, self._workers = None, 1
        self._futures.clear()


_worker_tagger: Tagger | None = None  # set once in each worker process


def _start_worker(tagger: Tagger) -> None:
    global _worker_tagger
    _worker_tagger = tagger


def _prepare_in_worker(job: Job) -> Prepared:
    assert _worker_tagger is not None, "worker started without a tagger"
    return prepare(job, _worker_tagger)
