"""Where worker processes come from: one forkserver for the parse workers (feeds/prepare.py)
and the render workers (feeds/publish/documents.py).

forkserver, not fork: a fork of this (threaded) process could inherit a lock held by another
thread. The server imports both stacks once, when it starts (~0.5 s), and every worker forks
from it with them loaded. It stays up for the life of the process, so only the first pool of a
process waits for it; `start_in_background` lets a caller start it while it does other work.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver as server
import os
import threading

log = logging.getLogger(__name__)

# What the workers run: imported by the server, not by each worker.
PRELOAD = ["feeds.prepare", "feeds.publish.documents"]


# Workers do batch work (a backlog, a re-render) beside a process that answers feed readers and
# health checks: at a lower priority, the server's threads get a core when they need one.
WORKER_NICENESS = 10


def lower_priority() -> None:
    """A pool initializer: run this worker at WORKER_NICENESS."""
    try:
        os.nice(WORKER_NICENESS)
    except OSError as exc:  # not allowed here: the workers run at normal priority
        log.debug("worker priority unchanged: %s", exc)


def context() -> multiprocessing.context.ForkServerContext:
    found = multiprocessing.get_context("forkserver")
    found.set_forkserver_preload(PRELOAD)
    return found


def start_in_background() -> None:
    """Start the server (if it is not up) off the caller's thread."""
    threading.Thread(target=_start, name="forkserver-start", daemon=True).start()


def _start() -> None:
    try:
        context()
        server.ensure_running()
    except OSError as exc:  # the pool that needs it fails too, and says so (its fallback is in-process)
        log.debug("forkserver did not start: %s", exc)
