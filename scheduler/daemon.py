"""`partyfeeds serve`: the long-running service.

One APScheduler job per source at its own interval (with jitter; never two
runs of one source at once; missed runs coalesced), a job that re-reads the
seed documents when they change, and a debounced publish after new items.
The HTTP server serves the published folder. SIGTERM/SIGINT stop cleanly;
SIGHUP reloads the configuration (a bad one is refused, the old one runs on).

Threads: jobs run in APScheduler's pool. Network I/O happens outside the
store lock, with at most one request at a time per host; every use of the
SQLite store holds `store_lock`, so transactions never interleave.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from feeds import pipeline, polling
from feeds.errors import PartyfeedsError
from feeds.fetch import fetch, host_key
from feeds.model import SourceSpec, SourceState
from feeds.registry import load_registry
from feeds.seeds import seed_files
from feeds.tag import Tagger
from feeds.websub import notify_hub
from scheduler import jobs, systemd
from scheduler.config import Config, load_config
from scheduler.metrics import DaemonMetrics
from scheduler.server import FeedServer

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 3.0
FEED_SUFFIXES = (".atom", ".json")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Daemon:
    """The service: scheduler, jobs and HTTP server around one pipeline context."""

    def __init__(self, config: Config) -> None:
        self.context = jobs.Context.open(config)
        self.metrics = DaemonMetrics.create()
        self.store_lock = threading.RLock()
        self._host_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._host_locks_guard = threading.Lock()
        self.stopping = threading.Event()
        self._running_jobs = 0
        self._running_guard = threading.Lock()
        self._publish_pending = threading.Lock()
        # The sources' states as last stored, kept here so /healthz answers without the store lock
        # (a publish or a large ingest holds it for seconds).
        self._states: dict[str, SourceState] = dict(self.context.store.source_states())
        self._states_guard = threading.Lock()
        self._seed_fingerprint: tuple[Any, ...] = ()
        self.scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(max(2, config.fetch_workers))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        settings = config.daemon
        # Fixed when the server and the fetch threads start: a reload cannot change them.
        self._started_with = (settings.host, settings.port, settings.idle_timeout, settings.max_connections,
                              settings.backlog, config.fetch_workers)
        self.server = FeedServer(config.output_dir, settings.host, settings.port, health=self.health,
                                 metrics=self.metrics.render, on_response=self.metrics.count_response,
                                 idle_timeout=settings.idle_timeout, max_connections=settings.max_connections,
                                 backlog=settings.backlog)

    @property
    def config(self) -> Config:
        return self.context.config

    # -- life cycle ----------------------------------------------------------

    def start(self) -> None:
        """Ingest seeds and publish once, then serve and schedule."""
        self._ingest_changed_seeds()
        self.publish_now()
        self.server.start()
        now = utcnow()
        for spec in self.config.sources:
            self._schedule_source(spec, now)
        self.scheduler.add_job(self._guarded, IntervalTrigger(seconds=self.config.daemon.seeds_check_seconds),
                               args=[self.check_seeds], id="seeds", name="seeds")
        self.scheduler.start()
        systemd.notify("READY=1")
        log.info("serve status=started url=%s sources=%d", self.server.url, len(self.config.sources))

    def stop(self) -> None:
        """Stop taking work, let running jobs finish briefly, close everything."""
        systemd.notify("STOPPING=1")
        self.stopping.set()
        self.server.stop()
        self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self._running_jobs and time.monotonic() < deadline:
            time.sleep(0.05)
        with self.store_lock:  # no transaction is open while we hold it
            self.context.close()
        log.info("serve status=stopped unfinished_jobs=%d", self._running_jobs)

    # -- jobs ----------------------------------------------------------------

    def _guarded(self, job: Any, *args: Any) -> None:
        """Run a job unless stopping; count it so stop() can wait for it."""
        if self.stopping.is_set():
            return
        with self._running_guard:
            self._running_jobs += 1
        try:
            job(*args)
        except Exception:
            log.exception("job failed: %s%r", getattr(job, "__name__", job), args)
        finally:
            with self._running_guard:
                self._running_jobs -= 1

    def _schedule_source(self, spec: SourceSpec, now: datetime) -> None:
        if not spec.enabled:
            return
        with self.store_lock:
            state = self.context.store.source_state(spec.id)
        jitter = self.config.daemon.jitter_seconds
        # After a restart each source resumes at its stored time; new ones are spread out.
        first = state.next_fetch if state and state.next_fetch and state.next_fetch > now else \
            now + timedelta(seconds=random.uniform(0, jitter))  # spreading, not security
        self.scheduler.add_job(self._guarded, IntervalTrigger(seconds=spec.interval_seconds, jitter=jitter),
                               args=[self.poll_source, spec.id], id=f"source:{spec.id}", name=spec.id,
                               next_run_time=first, replace_existing=True)

    def poll_source(self, source_id: str) -> None:
        spec = next((s for s in self.config.sources if s.id == source_id), None)
        if spec is None:
            return
        now = utcnow()
        with self.store_lock:
            state = pipeline.initial_state(spec, self.context.store.source_state(spec.id))
        # A healthy source runs on its trigger; a failing one waits out its backoff.
        if state.retired or (state.error_count and not polling.is_due(state, now)):
            return
        with self._host_lock(host_key(state.url)):
            result = fetch(self.context.client, state, self.config.fetch, now)
        if self.stopping.is_set():
            return  # the fetch may have been cut short by the shutdown: record nothing
        with self.store_lock:
            report = pipeline.ingest_result(self.context.store, self.context.tagger, spec, state, result, now)
            after = self.context.store.source_state(spec.id)
        if after is not None:
            with self._states_guard:
                self._states[spec.id] = after
        self._count(report, after.last_success if after else None)
        if report.ingest.new or report.ingest.merged or report.ingest.revised or \
                (after is not None and pipeline.health_events(state, after, now)):
            self.request_publish()

    def _host_lock(self, host: str) -> threading.Lock:
        with self._host_locks_guard:
            return self._host_locks[host]

    def _count(self, report: pipeline.SourceReport, last_success: datetime | None) -> None:
        source = report.source_id
        self.metrics.fetches.inc(source=source, status=report.status)
        if report.status in ("error", "gone"):
            self.metrics.fetch_errors.inc(source=source)
        if report.ingest.new:
            self.metrics.items_new.inc(report.ingest.new, source=source)
        if report.ingest.merged:
            self.metrics.items_merged.inc(report.ingest.merged, source=source)
        if last_success is not None:
            self.metrics.last_success.set(last_success.timestamp(), source=source)

    def check_seeds(self) -> None:
        """The seeds job: re-ingest changed seed documents, publish what they changed."""
        if self._ingest_changed_seeds():
            self.request_publish()

    def _ingest_changed_seeds(self) -> bool:
        """Ingest the seed documents if any changed (by size and mtime); True if items changed."""
        fingerprint = _fingerprint(seed_files(self.config.seed_paths))
        if fingerprint == self._seed_fingerprint:
            return False
        with self.store_lock:
            report = pipeline.ingest_seeds(self.context.store, self.context.tagger, self.config.seed_paths,
                                           utcnow(), self.config.seed_language, self.config.seed_publisher)
        self._seed_fingerprint = fingerprint
        return bool(report.new or report.merged or report.revised)

    def request_publish(self) -> None:
        """Publish once, `publish_delay` after the first request of a burst."""
        if not self._publish_pending.acquire(blocking=False):
            return  # a publish is already scheduled: this request rides along
        run_at = utcnow() + timedelta(seconds=self.config.daemon.publish_delay)
        # A job of its own each time, not a fixed id: with one id, a publish requested while the
        # previous one still ran was skipped (max_instances) and left the pending flag held, so
        # nothing was ever published again. Two publishes at once queue on the store lock.
        self.scheduler.add_job(self._guarded, "date", run_date=run_at, args=[self._scheduled_publish],
                               name="publish")

    def _scheduled_publish(self) -> None:
        self._publish_pending.release()  # requests from now on schedule the next publish
        self.publish_now()

    def publish_now(self) -> None:
        started = time.monotonic()
        with self.store_lock:
            report = jobs.publish(self.context, utcnow())
        self.metrics.publish_duration.observe(time.monotonic() - started)
        hub = self.config.site.hub_url
        base = self.config.site.base_url
        changed = [base + path for path in report.written if path.endswith(FEED_SUFFIXES)]
        if hub and changed:
            notify_hub(self.context.client, hub, changed)

    # -- operations ----------------------------------------------------------

    def reload(self) -> None:
        """Re-read the config file; apply it if valid, else keep running the old one."""
        try:
            new = load_config(self.config.path)
            registry = load_registry(new.parties_path, new.topics_path, new.registry_overrides)
            jobs.check_source_parties(new, registry)
        except PartyfeedsError as exc:
            log.error("reload status=rejected error=%r (the previous configuration keeps running)", str(exc))
            return
        new = self._keep_fixed(new)
        old, seeds_check = {s.id: s for s in self.config.sources}, self.config.daemon.seeds_check_seconds
        fresh = {s.id: s for s in new.sources}
        with self.store_lock:
            self.context.config, self.context.registry = new, registry
            self.context.tagger = Tagger(registry)
            if new.fetch != self.context.client_settings:
                self.context.reopen_client()
        now = utcnow()
        for source_id in old.keys() - fresh.keys():
            self._unschedule(source_id)
        changed = [s for s in new.sources if old.get(s.id) != s]
        for spec in changed:
            self._unschedule(spec.id)
            self._schedule_source(spec, now)
        if new.daemon.seeds_check_seconds != seeds_check:
            every = IntervalTrigger(seconds=new.daemon.seeds_check_seconds)
            self.scheduler.reschedule_job("seeds", trigger=every)
        log.info("reload status=ok added=%d removed=%d changed=%d", len(fresh.keys() - old.keys()),
                 len(old.keys() - fresh.keys()), len([s for s in changed if s.id in old]))
        self._seed_fingerprint = ()
        self.scheduler.add_job(self._guarded, args=[self.check_seeds], id="seeds-now", name="seeds",
                               replace_existing=True)
        # The site, the registry's labels or the feed options may have changed with no item
        # moving; a publish of unchanged inputs writes nothing.
        self.request_publish()

    def _keep_fixed(self, new: Config) -> Config:
        """`new`, with what only a restart can change kept as it is, and a warning if it differs."""
        # The store stays open and the server serves one folder: publishing to a new place would
        # go where nothing is served.
        kept = replace(new, database=self.config.database, output_dir=self.config.output_dir)
        if kept != new:
            log.warning("reload: storage.database or output.directory changed; takes effect after a restart")
        daemon = new.daemon
        if (daemon.host, daemon.port, daemon.idle_timeout, daemon.max_connections, daemon.backlog,
                new.fetch_workers) != self._started_with:
            log.warning("reload: server.host, server.port, server.idle_timeout, server.max_connections, "
                        "server.backlog or fetch.workers changed; takes effect after a restart")
        return kept

    def _unschedule(self, source_id: str) -> None:
        job = self.scheduler.get_job(f"source:{source_id}")
        if job is not None:
            job.remove()

    def health(self) -> Mapping[str, Any]:
        """What /healthz reports: the scheduler's state and the failing sources, from memory (a
        liveness probe must not wait for a publish that holds the store)."""
        running = self.scheduler.running and not self.stopping.is_set()
        with self._states_guard:
            states = [self._states.get(s.id) for s in self.config.sources if s.enabled]
        failing = {s.source_id: s.last_error for s in states
                   if s is not None and (s.error_count or s.retired)}
        return {"status": "ok" if running else "stopping", "scheduler": "running" if running else "stopped",
                "sources": len(states), "failing_sources": failing}


def _fingerprint(paths: list[Path]) -> tuple[Any, ...]:
    found = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def serve(config: Config) -> int:
    """Run until SIGTERM or SIGINT; SIGHUP reloads the configuration."""
    daemon = Daemon(config)
    stop, reload = threading.Event(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
    daemon.start()
    while not stop.wait(0.2):
        if reload.is_set():
            reload.clear()
            daemon.reload()
    daemon.stop()
    logging.shutdown()
    # Pool threads may still sit in a network read (bounded by fetch.total_timeout); all
    # state is committed and closed, so do not let them hold up the exit.
    os._exit(0)
