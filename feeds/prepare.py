"""The CPU half of ingesting a fetched feed: parse → normalise → tag → band keys.

`feeds.pipeline` runs this half for many sources at once in worker processes
(`prepare_all`), while its own process does the SQLite half (deduplicate →
store) of the sources already prepared: both cores work on a cold ingest. The
half here is pure - bytes, the source, `now`, the guid map of the last fetch
and the tagger in, plain frozen values out - so what runs in a worker is
exactly what would run in-process. Each worker gets the tagger once, when it
starts. Small batches are prepared in-process: starting workers costs
more than they save.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from feeds import dedupe
from feeds.errors import ParseError
from feeds.model import Item, SourceSpec
from feeds.normalise import guid_links, normalise_feed
from feeds.parse import parse_feed
from feeds.tag import Tagger, tag_item

# Fewer sources with a new body than this are prepared in-process.
MIN_POOL_BATCH = 40
_CHUNK = 4  # sources per task sent to a worker


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


def prepare(job: Job, tagger: Tagger) -> Prepared:
    """Parse, normalise, tag, band and key one feed; a ParseError comes back as `parse_error`."""
    try:
        parsed = parse_feed(job.body, job.headers, job.url, language=job.spec.language)
    except ParseError as exc:
        return Prepared(parse_error=str(exc))
    items = [tag_item(tagger, item) for item in normalise_feed(parsed, job.spec, job.now, job.previous_guids)]
    bands = dedupe.title_bands([item.title for item in items])
    keys = tuple(dedupe.identity_keys(item) for item in items)
    return Prepared(tuple(items), tuple(bands), keys, guid_links(parsed))


def prepare_all(jobs: Sequence[Job], tagger: Tagger, workers: int) -> Iterator[Prepared]:
    """`prepare` of every job, in order; in `workers` processes if there are enough jobs.

    Results come back as soon as they are ready in order, so the caller stores the
    first sources while the workers parse the rest. A bug in a worker re-raises here.
    """
    if workers < 2 or len(jobs) < MIN_POOL_BATCH:
        yield from (prepare(job, tagger) for job in jobs)
        return
    # forkserver: a fork of this (threaded) process could inherit a lock held by another thread.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(tagger,)) as pool:
        yield from pool.map(_prepare_in_worker, jobs, chunksize=_CHUNK)


_worker_tagger: Tagger | None = None  # set once in each worker process


def _start_worker(tagger: Tagger) -> None:
    global _worker_tagger
    _worker_tagger = tagger


def _prepare_in_worker(job: Job) -> Prepared:
    assert _worker_tagger is not None, "worker started without a tagger"
    return prepare(job, _worker_tagger)
