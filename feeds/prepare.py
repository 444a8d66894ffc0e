"""The CPU half of ingesting a fetched feed: parse → normalise → tag → band and identity keys.

The ingest engine (feeds/ingest.py) runs this half off its writer thread, in
worker processes when a backlog builds up (a `PrepareStage`), while the writer
does the SQLite half (deduplicate → store) of the sources already prepared:
both cores work on a cold ingest. The half here is pure - bytes, the source,
`now`, the guid map of the last fetch and the tagger in, plain frozen values
out - so what runs in a worker is exactly what would run in-process. Each
worker gets the tagger once, when it starts. A few feeds are prepared
in-process: starting workers costs more than they save.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime

from feeds import forkserver
from feeds.dedupe.keys import batch_keys
from feeds.dedupe.titles import title_bands
from feeds.errors import ParseError
from feeds.kinds import kind_of
from feeds.model import Item, SourceSpec
from feeds.parse import has_something
from feeds.parse.normalise import guid_links, normalise_feed
from feeds.tag import Tagger, tag_item

log = logging.getLogger(__name__)

# Jobs waiting to be prepared before worker processes are started: starting them costs more
# than a few feeds take to prepare in-process.
MIN_POOL_BATCH = 40


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


Done = Callable[[Prepared | BaseException], None]  # where a prepared job goes


def prepare(job: Job, tagger: Tagger) -> Prepared:
    """Parse, normalise, tag, band and key one feed; a ParseError comes back as `parse_error`."""
    try:
        parsed = kind_of(job.spec).parse(job.body, job.headers, job.url, job.spec)
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
    done: list[Future[Prepared]] = []
    with PrepareStage(workers, expected=len(jobs)) as stage:
        for job in jobs:
            future: Future[Prepared] = Future()
            done.append(future)
            stage.submit(job, tagger, _resolver(future))
        for future in done:
            yield future.result()


def _resolver(future: Future[Prepared]) -> Done:
    def resolve(prepared: Prepared | BaseException) -> None:
        if isinstance(prepared, BaseException):
            future.set_exception(prepared)
        else:
            future.set_result(prepared)
    return resolve


class PrepareStage:
    """Prepares jobs off the caller's thread; each result goes to the job's `done` callback
    (called from a stage thread: it should only hand the result on).

    Jobs are prepared on one thread of this process, unless a backlog builds up: once
    MIN_POOL_BATCH jobs are waiting (a cold start, a daemon catching up) and `workers` >= 2,
    they go to `workers` processes, which then stay up for later backlogs. Each pool of
    workers gets the tagger once, when it starts; a job with another tagger (the registry was
    reloaded) starts a new pool and lets the old one finish its jobs. Workers that cannot
    start (no POSIX semaphores in some containers) or that die (the OOM killer) are given up
    with a warning, and this process prepares their jobs. A bug in a worker reaches `done` as
    the exception.
    """

    def __init__(self, workers: int, *, expected: int = 0) -> None:
        """`expected`: jobs the caller knows are coming; enough of them start the workers'
        forkserver now, while the first fetches are on the wire (it takes a second or so)."""
        self._workers = workers
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="prepare")
        self._pool: ProcessPoolExecutor | None = None
        self._pool_tagger: Tagger | None = None
        self._pending = 0  # submitted, not handed back
        self._lock = threading.Lock()
        # Enough jobs known to be coming go to the workers from the first: a feed prepared on
        # this process's thread takes the GIL from the writer.
        self._pool_from_start = workers >= 2 and expected >= MIN_POOL_BATCH
        if self._pool_from_start:
            forkserver.start_in_background()

    def __enter__(self) -> PrepareStage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for the jobs submitted, then stop the thread and the workers."""
        self._thread.shutdown(wait=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def submit(self, job: Job, tagger: Tagger, done: Done) -> None:
        with self._lock:
            self._pending += 1
            pool = self._pool_for(tagger)
        if pool is not None:
            try:
                future = pool.submit(_prepare_in_worker, job)
            except (BrokenProcessPool, OSError, RuntimeError) as exc:
                self._give_up_workers(pool, exc)
            else:
                future.add_done_callback(lambda f: self._from_worker(f, job, tagger, done))
                return
        self._thread.submit(self._in_process, job, tagger, done)

    def _pool_for(self, tagger: Tagger) -> ProcessPoolExecutor | None:
        """The pool a new job goes to (None: this process); under the lock."""
        if self._workers < 2 or (self._pool is None and self._pending < MIN_POOL_BATCH
                                 and not self._pool_from_start):
            return None
        if self._pool is not None and self._pool_tagger is not tagger:
            self._pool.shutdown(wait=False)  # its jobs finish; later ones go to a pool with this tagger
            self._pool = None
        if self._pool is None:
            try:
                self._pool = ProcessPoolExecutor(self._workers, mp_context=forkserver.context(),
                                                 initializer=_start_worker, initargs=(tagger,))
            except OSError as exc:
                self._workers = 1
                self._warn(exc)
                return None
            self._pool_tagger = tagger
        return self._pool

    def _in_process(self, job: Job, tagger: Tagger, done: Done) -> None:
        try:
            prepared: Prepared | BaseException = prepare(job, tagger)
        except Exception as exc:  # a bug: the caller re-raises it
            prepared = exc
        self._hand_back(done, prepared)

    def _from_worker(self, future: Future[Prepared], job: Job, tagger: Tagger, done: Done) -> None:
        try:
            prepared: Prepared | BaseException = future.result()
        except BrokenProcessPool as exc:
            self._give_up_workers(None, exc)
            self._thread.submit(self._in_process, job, tagger, done)
            return
        except BaseException as exc:
            prepared = exc
        self._hand_back(done, prepared)

    def _hand_back(self, done: Done, prepared: Prepared | BaseException) -> None:
        with self._lock:
            self._pending -= 1
        done(prepared)

    def _give_up_workers(self, pool: ProcessPoolExecutor | None, exc: BaseException) -> None:
        """Prepare every job from now on in this process (warned once)."""
        with self._lock:
            if self._workers < 2:
                return
            broken, self._pool, self._workers = self._pool or pool, None, 1
        self._warn(exc)
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _warn(exc: BaseException) -> None:
        log.warning("parse workers failed, preparing feeds in this process instead: %s: %s",
                    type(exc).__name__, exc)


_worker_tagger: Tagger | None = None  # set once in each worker process


def _start_worker(tagger: Tagger) -> None:
    global _worker_tagger
    _worker_tagger = tagger
    forkserver.lower_priority()


def _prepare_in_worker(job: Job) -> Prepared:
    assert _worker_tagger is not None, "worker started without a tagger"
    return prepare(job, _worker_tagger)
