"""`partyfeeds serve`: the long-running service.

One APScheduler job per source at its own interval (with jitter; missed runs coalesced), a job
that re-reads the seed documents when they change, and a debounced publish after new items.
The HTTP server serves the published folder. SIGTERM/SIGINT stop cleanly; SIGHUP reloads the
configuration (a bad one is refused, the old one runs on).

Threads: a source's job only hands the source to the ingest engine (feeds/ingest.py) and
returns, so no job waits for a host or for the store. The engine fetches on per-host queues,
prepares off the writer, and stores on its one writer thread. Publishing has a connection of
its own and reads committed state (SQLite WAL) while the writer writes; the jobs' small reads
(a source's state) have another. /healthz and /metrics answer from memory.
"""

from __future__ import annotations

import logging
import random
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from feeds import pipeline
from feeds import store as storage
from feeds.errors import ConfigError, PartyfeedsError, StoreError
from feeds.fetch import make_client, polling
from feeds.model import SourceEvent, SourceSpec, SourceState
from feeds.parse.seeds import seed_files
from feeds.publish import hooks
from feeds.tag import Tagger
from feeds.tag.registry import Registry, load_registry
from scheduler import jobs, systemd
from scheduler.config import Config, load_config
from scheduler.metrics import DaemonMetrics
from scheduler.server import FeedServer

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 3.0
JOB_THREADS = 4  # jobs are short (a poll hands its source on); a publish and a seeds run may overlap
STORE_RETRY_SECONDS = 30.0  # a failed publish is tried again after this
SWITCH_INTERVAL = 0.001  # seconds a thread holds the GIL before another may take it (see serve)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _View:
    """The configuration and what is built from it: replaced whole by a reload."""

    config: Config
    registry: Registry
    tagger: Tagger


class Daemon:
    """The service: scheduler, ingest engine and HTTP server around one store."""

    def __init__(self, config: Config) -> None:
        if config.database == ":memory:":
            raise ConfigError("the daemon needs a database file (its readers open their own "
                              "connections, and items must survive a restart)",
                              path=str(config.path), key="storage.database")
        self.context = jobs.Context.open(config)  # the writer's store, and the first HTTP client
        self._view = _View(config, self.context.registry, self.context.tagger)
        self.metrics = DaemonMetrics.create()
        self._publisher = storage.connect(config.database, cache_bands=False)  # used by one publish at a time
        self._publish_lock = threading.Lock()
        self._reads = storage.connect(config.database, cache_bands=False)  # a source's state, before its poll
        self._reads_lock = threading.Lock()
        self.engine = pipeline.Ingest(
            self.context.store, pipeline.Setup(self.context.client, config.fetch, self.context.tagger),
            fetch_workers=config.fetch_workers, parse_workers=config.processes, clock=utcnow,
            owns_client=True, on_store_error=self._ingest_store_error)
        # What follows each publish: the health feed, the metrics, the WebSub pings.
        self._after_publish = (hooks.health_feed(), self._observe_publish,
                               hooks.websub_pings(lambda: self.engine.setup.client))
        self.stopping = threading.Event()
        self._running_jobs = 0
        self._running_guard = threading.Lock()
        self._publish_pending = threading.Lock()
        # The sources' states as last stored, kept here so /healthz answers without the store.
        self._states: dict[str, SourceState] = dict(self._read(lambda store: store.source_states()))
        self._states_guard = threading.Lock()
        self._store_trouble: dict[str, tuple[datetime, str]] = {}  # "ingest"/"publish" failing: since, error
        # Failures not in the stored health history yet: since, error, when it recovered.
        self._unrecorded: dict[str, tuple[datetime, str, datetime | None]] = {}
        self._seed_fingerprint: tuple[Any, ...] = ()
        self.scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(JOB_THREADS)},
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
        return self._view.config

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
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        stored = self.engine.close(grace=STOP_GRACE_SECONDS)
        while self._running_jobs and time.monotonic() < deadline:
            time.sleep(0.05)
        if stored and not self._running_jobs:  # else a thread may still use a connection: leave them
            self._close_stores()  # a fetch still in a read is not waited for: it is not recorded
        log.info("serve status=stopped unfinished_jobs=%d", self._running_jobs + (not stored))

    def close(self) -> None:
        """Close the engine and every connection (after `stop`, or in tests)."""
        self.engine.close()  # and the HTTP client, once its fetches end
        self._close_stores()

    def _close_stores(self) -> None:
        self.context.store.close()
        self._publisher.close()
        self._reads.close()

    # -- jobs ----------------------------------------------------------------

    def _guarded(self, job: Any, *args: Any) -> None:
        """Run a job unless stopping; count it so stop() can wait for it."""
        if self.stopping.is_set():
            return
        with self._running_guard:
            self._running_jobs += 1
        try:
            job(*args)
        except StoreError as exc:  # logged once, in one line; /healthz says it until it clears
            log.error("job %s status=error error=%r", getattr(job, "__name__", job), str(exc))
        except Exception:
            log.exception("job failed: %s%r", getattr(job, "__name__", job), args)
        finally:
            with self._running_guard:
                self._running_jobs -= 1

    def _read(self, read: Any) -> Any:
        with self._reads_lock, self._reads.errors():
            return read(self._reads)

    def _schedule_source(self, spec: SourceSpec, now: datetime) -> None:
        if not spec.enabled:
            return
        state = self._read(lambda store: store.source_state(spec.id))
        jitter = self.config.daemon.jitter_seconds
        # After a restart each source resumes at its stored time; new ones are spread out.
        first = state.next_fetch if state and state.next_fetch and state.next_fetch > now else \
            now + timedelta(seconds=random.uniform(0, jitter))  # spreading, not security
        self.scheduler.add_job(self._guarded, IntervalTrigger(seconds=spec.interval_seconds, jitter=jitter),
                               args=[self.poll_source, spec.id], id=f"source:{spec.id}", name=spec.id,
                               next_run_time=first, replace_existing=True)

    def poll_source(self, source_id: str) -> bool:
        """Hand the source to the engine (it fetches, prepares and stores it in its own threads);
        False if it was not due, or is still on its way from the last poll."""
        spec = next((s for s in self.config.sources if s.id == source_id), None)
        if spec is None:
            return False
        stored = self._read(lambda store: store.source_state(spec.id))
        state = pipeline.initial_state(spec, stored)
        # A healthy source runs on its trigger; a failing one waits out its backoff.
        if state.retired or (state.error_count and not polling.is_due(state, utcnow())):
            return False
        if not self.engine.poll(spec, state, self._polled):
            self.metrics.polls_waiting.labels(source=spec.id).inc()
            log.debug("source=%s poll skipped: the last one is still queued or in flight", spec.id)
            return False
        return True

    def _polled(self, report: pipeline.SourceReport | None, after: SourceState | None,
                error: BaseException | None) -> None:
        """A poll ended (on the engine's writer thread): count it, publish what it changed."""
        if report is None or after is None:
            return  # not stored (the store failed, or a bug): logged by the engine
        with self._states_guard:
            before, self._states[report.source_id] = self._states.get(report.source_id), after
        self._count(report, after.last_success)
        events = pipeline.health_events(before, after, after.last_attempt or utcnow()) if before else []
        if report.ingest.new or report.ingest.merged or report.ingest.revised or events:
            self.request_publish()

    def _count(self, report: pipeline.SourceReport, last_success: datetime | None) -> None:
        source = report.source_id
        self.metrics.fetches.labels(source=source, status=report.status).inc()
        if report.status in ("error", "gone"):
            self.metrics.fetch_errors.labels(source=source).inc()
        if report.ingest.new:
            self.metrics.items_new.labels(source=source).inc(report.ingest.new)
        if report.ingest.merged:
            self.metrics.items_merged.labels(source=source).inc(report.ingest.merged)
        if last_success is not None:
            self.metrics.last_success.labels(source=source).set(last_success.timestamp())

    def check_seeds(self) -> None:
        """The seeds job: re-ingest changed seed documents, publish what they changed."""
        if self._ingest_changed_seeds():
            self.request_publish()

    def _ingest_changed_seeds(self) -> bool:
        """Ingest the seed documents if any changed (by size and mtime); True if items changed.
        Read and tagged on this thread, stored by the engine's writer."""
        config = self.config
        fingerprint = _fingerprint(seed_files(config.seed_paths))
        if fingerprint == self._seed_fingerprint:
            return False
        report = self.engine.ingest_seeds(config.seed_paths, utcnow(), config.seed_language,
                                          config.seed_publisher)
        self._seed_fingerprint = fingerprint
        return bool(report.new or report.merged or report.revised)

    def request_publish(self) -> None:
        """Publish once, `publish_delay` after the first request of a burst."""
        if not self._publish_pending.acquire(blocking=False):
            return  # a publish is already scheduled: this request rides along
        wait = self.config.daemon.publish_delay
        # A job of its own each time, not a fixed id: with one id, a publish requested while the
        # previous one still ran was skipped (max_instances) and left the pending flag held, so
        # nothing was ever published again. Two publishes at once queue on the publish lock.
        try:
            self.scheduler.add_job(self._guarded, "date", run_date=utcnow() + timedelta(seconds=wait),
                                   args=[self._scheduled_publish], name="publish")
        except Exception:  # the scheduler is shut down: nothing will publish
            self._publish_pending.release()
            raise

    def _scheduled_publish(self) -> None:
        self._publish_pending.release()  # requests from now on schedule the next publish
        self.publish_now()

    def publish_now(self) -> None:
        """Publish on the publisher's connection. If the store fails, the files already published
        stay served, health.atom says so, and the publish is tried again later."""
        view = self._view
        with self._publish_lock:
            now = utcnow()
            try:
                self._record_store_history(now)
                jobs.publish(self._publisher, view.config, view.registry, now, self._after_publish)
            except StoreError as exc:
                self._store_failed("publish", exc, now)
                self._publish_health_only(view, now)
                self._retry_publish()
                return
            self._store_trouble.pop("publish", None)

    def _retry_publish(self) -> None:
        """Publish again in STORE_RETRY_SECONDS (one retry pending at a time; a publish that new
        items ask for meanwhile still runs at once)."""
        if self.stopping.is_set() or not self.scheduler.running:
            return
        self.scheduler.add_job(self._guarded, "date", args=[self.publish_now], id="publish-retry",
                               name="publish", replace_existing=True,
                               run_date=utcnow() + timedelta(seconds=STORE_RETRY_SECONDS))

    def _observe_publish(self, published: hooks.Published) -> None:
        self.metrics.publish_duration.observe(published.seconds)

    # -- a failing store -----------------------------------------------------

    def _ingest_store_error(self, error: StoreError | None) -> None:
        """From the engine's writer: a commit failed (its sources are polled again), or one
        succeeded after failures (None)."""
        now = utcnow()
        if error is None:
            self._store_recovered("ingest", now)
        else:
            self._store_failed("ingest", error, now)
        self.request_publish()  # health.atom tells the operator either way

    def _store_failed(self, part: str, error: StoreError, now: datetime) -> None:
        since = self._store_trouble.get(part, (now, ""))[0]
        self._store_trouble[part] = (since, str(error))
        self._unrecorded[part] = (since, str(error), None)
        log.error("store status=error part=%s error=%r", part, str(error))

    def _store_recovered(self, part: str, now: datetime) -> None:
        if self._store_trouble.pop(part, None) is not None and part in self._unrecorded:
            since, error, _ = self._unrecorded[part]
            self._unrecorded[part] = (since, error, now)
            log.info("store status=ok part=%s (recovered)", part)

    def _trouble_events(self) -> list[SourceEvent]:
        """The store's failures (and recoveries) not stored yet, as health events."""
        events = []
        for part, (since, error, recovered) in sorted(dict(self._unrecorded).items()):
            events.append(SourceEvent(f"database ({part})", since, "failure", error))
            if recovered is not None:
                events.append(SourceEvent(f"database ({part})", recovered, "recovery", ""))
        return events

    def _publish_health_only(self, view: _View, now: datetime) -> None:
        """Write health.atom with the store's failure, reading what still can be read."""
        try:
            pipeline.publish_health(self._publisher, view.config.site, view.config.output_dir,
                                    pipeline.PublishReport(), now=now, extra=self._trouble_events())
        except PartyfeedsError as exc:
            log.error("publish of health.atom failed: %s", exc)

    def _record_store_history(self, now: datetime) -> None:
        """Store the database's failures and recoveries in the health history, once it takes
        writes again (a StoreError if it still does not). A failure of publishing itself has
        recovered if this transaction commits."""
        if not self._unrecorded:
            return
        events = self._trouble_events()
        if "publish" in self._unrecorded and self._unrecorded["publish"][2] is None:
            events.append(SourceEvent("database (publish)", now, "recovery", ""))
        with self._publisher.transaction():
            for event in events:
                self._publisher.add_source_event(event)
        for part, (_since, _error, recovered) in list(self._unrecorded.items()):
            if recovered is not None or part == "publish":
                del self._unrecorded[part]

    # -- operations ----------------------------------------------------------

    def reload(self) -> None:
        """Re-read the config file; apply it if valid, else keep running the old one. The new
        configuration, registry, tagger and client are swapped in whole; fetches in flight end
        on the old client, which closes after them."""
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
        tagger = Tagger(registry)
        current = self.engine.setup
        if new.fetch != current.settings:
            self.engine.configure(pipeline.Setup(make_client(new.fetch), new.fetch, tagger), owns_client=True)
        else:
            self.engine.configure(replace(current, tagger=tagger), owns_client=False)
        self._view = _View(new, registry, tagger)
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
        trouble = {part: error for part, (_since, error) in dict(self._store_trouble).items()}
        status = "stopping" if not running else "error" if trouble else "ok"
        report: dict[str, Any] = {"status": status, "scheduler": "running" if running else "stopped",
                  "sources": len(states), "failing_sources": failing, "polls_in_progress": self.engine.busy()}
        if trouble:
            report["store"] = trouble
        return report


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
    # The GIL passes between threads every 5 ms by default: a request to /healthz that needs it a
    # few times waited up to ~110 ms behind a publish rendering on another thread. 1 ms keeps the
    # server's threads responsive for little cost to the busy ones.
    sys.setswitchinterval(SWITCH_INTERVAL)
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
    return 0
