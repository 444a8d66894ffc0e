"""Host politeness: one request at a time per host, and no thread ever waits for a host.

Each host (name and port, `host_key`) has a queue of tasks. A host with tasks and none
running is handed to a bounded pool of threads; a thread runs one of its tasks, then puts
the host back at the end of the pool's queue if it has more. So a thread only ever gets a
host that is free: a slow or hanging host delays its own sources and holds at most one
thread, and every other host is served in turn (round robin across hosts, a burst each).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial

log = logging.getLogger(__name__)

Task = Callable[[], None]
# How long a thread may go on with one host's tasks while other hosts wait for a thread. A
# host's requests in a row reuse its kept-alive connection: handing the host back after every
# task let the other hosts' connections push it out of the client's idle pool, and a
# steady-state cycle of 1,000 sources on 50 hosts cost 2.6 times the CPU. A host that takes
# longer than this per request (a slow one) is handed back after each.
BURST_SECONDS = 0.5


class _Threads:
    """`count` daemon threads running calls from one queue. Not concurrent.futures: the process
    joins its threads at exit, so a fetch hung in a read (up to `fetch.total_timeout`) held up the
    daemon's exit after SIGTERM. A fetch cut short by the exit is not recorded, and is polled
    again after the restart."""

    def __init__(self, count: int, name: str) -> None:
        self._calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{n}", daemon=True)
                         for n in range(count)]
        self._closed = False
        for thread in self._threads:
            thread.start()

    def submit(self, call: Callable[[], None]) -> None:
        if self._closed:
            raise RuntimeError("the threads are closed")
        self._calls.put(call)

    def close(self, *, wait: bool) -> None:
        """Drop the calls not started; `wait`: until the running ones end."""
        self._closed = True
        with contextlib.suppress(queue.Empty):
            while True:
                self._calls.get_nowait()
        for _ in self._threads:
            self._calls.put(None)
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            try:
                call()
            except Exception:  # a bug: logged, and the thread goes on with the next call
                log.exception("a fetch thread's call failed")


class HostQueues:
    """Run tasks on `workers` threads, never two of one host at once, in order per host."""

    def __init__(self, workers: int, *, name: str = "fetch") -> None:
        self._pool = _Threads(max(1, workers), name)
        self._queues: dict[str, deque[Task]] = {}  # a host is here while it has a task queued or running
        self._waiting_hosts = 0  # hosts handed to the pool that no thread has taken yet
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> HostQueues:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(wait=True)

    def submit(self, host: str, task: Task) -> None:
        """Queue `task` behind the host's others. A task must not raise: it reports its own
        outcome (an exception is logged as a bug and the host's next task runs)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("host queues are closed")
            waiting = self._queues.get(host)
            if waiting is not None:
                waiting.append(task)
                return
            self._queues[host] = deque([task])
            self._waiting_hosts += 1
        self._pool.submit(partial(self._run_next, host))

    def waiting(self) -> int:
        """Tasks queued or running, over all hosts."""
        with self._lock:
            return sum(len(tasks) for tasks in self._queues.values())

    def close(self, *, wait: bool) -> None:
        """Take no more tasks and drop the queued ones; `wait`: until the running ones end."""
        with self._lock:
            self._closed = True
            for tasks in self._queues.values():
                while len(tasks) > 1:  # the head is running (or about to): _run_next pops it
                    tasks.pop()
        self._pool.close(wait=wait)

    def _run_next(self, host: str) -> None:
        """Run the host's tasks, on one kept-alive connection, for up to BURST_SECONDS, or for
        as long as no other host waits for a thread; then hand the host back to the end of the
        pool's queue if it has more."""
        with self._lock:
            self._waiting_hosts -= 1
        started = time.monotonic()
        while True:
            with self._lock:
                task = self._queues[host][0]
            try:
                task()
            except Exception:
                log.exception("a task for host %s failed", host)
            with self._lock:
                tasks = self._queues[host]
                tasks.popleft()
                if not tasks or self._closed:
                    del self._queues[host]
                    return
                if not self._waiting_hosts or time.monotonic() - started < BURST_SECONDS:
                    continue
                self._waiting_hosts += 1
            with contextlib.suppress(RuntimeError):  # closed meanwhile: its tasks are dropped
                self._pool.submit(partial(self._run_next, host))
            return
