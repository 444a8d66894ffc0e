"""The daemon's HTTP connections: accepted up to a cap, each served by a reused thread.

- At most `max_connections` connections are open at once, each served by one thread from its
  first request to its close. Threads are started as connections need them, up to the cap, and
  reused: a burst of readers costs no thread start per connection.
- At the cap the server stops accepting. New connections wait, complete and unanswered, in the
  kernel's listen queue (`backlog` connects; Linux caps it at net.core.somaxconn) and are
  accepted in arrival order as slots free up. A connect past a full queue is dropped by the
  kernel and the client retries it after 1 s, 3 s, ... (so the backlog must cover a burst).
- While connections wait, kept-alive connections give their slots up: an answer says
  `Connection: close` and its connection closes after it; and a connection idle between
  requests for IDLE_GRACE (1 s) is shut down, the one idle longest first, one per waiting
  connect (RFC 9112, 9.6: a client must be ready for a kept connection to close; one whose next
  request crosses the close sends it again on a new connection). A connection that has not
  yet sent its first request keeps its slot until `idle_timeout`, one dripping its request
  head until `head_timeout` (scheduler/requesthead.py). So a waiting connection waits for the
  first slot to free: about a second when kept connections idle in clients' pools, at worst
  about the idle timeout; whoever holds the slots, the server holds `max_connections` threads
  and sockets, no more.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import queue
import select
import selectors
import socket
import socketserver
import sys
import threading
import time
from typing import Any, Protocol

log = logging.getLogger(__name__)

# A kept connection idle this long is taken to be parked in a client's pool, not about to carry
# the client's next request, which a close would cross (the client would have to send it again).
IDLE_GRACE = 1.0
_Work = tuple[socket.socket, Any] | None  # a connection and its address; None: the thread ends


class Limits(Protocol):
    max_connections: int
    backlog: int  # the listening socket's queue


class ConnectionServer(http.server.HTTPServer):
    """Accept within `max_connections`; serve each connection in a worker thread."""

    def __init__(self, address: tuple[str, int], handler: type[socketserver.BaseRequestHandler],
                 limits: Limits) -> None:
        self.limits = limits
        # socketserver listens with a queue of 5: feed readers poll at round times, and a burst
        # of connects past the queue is dropped, each client retrying after 1-7 s.
        self.request_queue_size = limits.backlog
        self._open: set[socket.socket] = set()  # connections holding a slot
        self._idle: dict[socket.socket, float] = {}  # kept connections between requests: since when
        self._draining: set[socket.socket] = set()  # shut down here to free their slot
        self._waiting = False  # connects were queued when the accept loop last looked
        self._changed = threading.Condition()
        self._work: queue.SimpleQueue[_Work] = queue.SimpleQueue()
        self._workers = 0
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        try:
            super().__init__(address, handler)
            self.socket.setblocking(False)  # a connect reset before accept must not block the loop
        except BaseException:
            self._close_wake_pair()
            raise

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for getfqdn(host), which we never need.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.socket.getsockname()[:2]

    # --- the accept loop -------------------------------------------------------------------------

    def serve_until_stopped(self) -> None:
        """Accept while a slot is free; at the cap, free idle kept slots for waiting connects.

        The loop sleeps in select until a connect arrives, a slot changes (_poke) or an idle
        kept connection has idled IDLE_GRACE: no polling.
        """
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_reader, selectors.EVENT_READ)
            listening = False
            while not self._stopping.is_set():
                listen, timeout = self._plan()
                if listen != listening:
                    listening = listen
                    if listening:
                        selector.register(self, selectors.EVENT_READ)
                    else:
                        selector.unregister(self)
                for key, _ in selector.select(timeout):
                    if key.fileobj is self._wake_reader:
                        with contextlib.suppress(OSError):
                            self._wake_reader.recv(4096)
                    elif not self._accept():
                        self._free_idle_slot()

    def _plan(self) -> tuple[bool, float | None]:
        """Whether to watch the listening socket, and how long to sleep at most.

        Below the cap: watch it, to accept. At the cap: watch it only if an idle kept connection
        could be freed for a connect (it has idled IDLE_GRACE, and none is being freed), else
        sleep until one has, or until a slot changes.
        """
        with self._changed:
            if len(self._open) < self.limits.max_connections:
                return True, None
            if self._draining or not self._idle:
                return False, None
            grace_left = next(iter(self._idle.values())) + IDLE_GRACE - time.monotonic()
            return (True, None) if grace_left <= 0 else (False, grace_left)

    def _accept(self) -> bool:
        """Accept one waiting connection if a slot is free; False at the cap."""
        with self._changed:
            if len(self._open) >= self.limits.max_connections:
                self._waiting = True  # we were called because a connect is queued
                return False
            try:
                request, address = self.get_request()
            except OSError:  # nothing to accept after all: the connect went away
                self._waiting = False
                return True
            self._open.add(request)
            start_worker = self._workers < len(self._open)  # every open connection has its thread
            self._workers += start_worker
        if start_worker:
            threading.Thread(target=self._serve_connections, daemon=True,
                             name=f"partyfeeds-http-{self.server_port}-{self._workers}").start()
        self._work.put((request, address))
        self._waiting = self._pending()
        return True

    def _free_idle_slot(self) -> None:
        with self._changed:
            if not self._idle or self._draining:
                return
            connection, since = next(iter(self._idle.items()))
            if time.monotonic() - since < IDLE_GRACE:
                return
            del self._idle[connection]
            self._draining.add(connection)
        log.debug("closing an idle kept connection: %d connections open, others waiting",
                  self.limits.max_connections)
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)  # its thread reads the end, and closes it

    def _poke(self) -> None:
        """Wake the accept loop: a slot freed, or an idle one it may free (call with _changed held)."""
        if len(self._open) >= self.limits.max_connections:
            with contextlib.suppress(OSError):  # full buffer: the loop has wake-ups pending anyway
                self._wake_writer.send(b"\0")

    # --- the worker threads -----------------------------------------------------------------------

    def _serve_connections(self) -> None:
        while (work := self._work.get()) is not None:
            request, address = work
            try:
                self.finish_request(request, address)
            except Exception:
                self.handle_error(request, address)
            finally:
                self.shutdown_request(request)

    def crowded(self) -> bool:
        """Whether connects wait to be accepted: a kept connection should close after its answer.

        The accept loop's flag covers the moment after a close, when the count is below the cap
        until the loop takes the next connect; the look at the listening socket covers connects
        that came while the loop, at the cap, was not watching it.
        """
        if self._waiting:
            return True
        return len(self._open) >= self.limits.max_connections and self._pending()

    def _pending(self) -> bool:
        """Whether a connect waits in the listen queue (poll, not select: any descriptor number)."""
        poller = select.poll()  # one per call: a poll object refuses concurrent use
        try:
            poller.register(self.socket, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):  # the listening socket is closed: stopping
            return False

    def kept(self, connection: socket.socket) -> None:
        """The handler waits for the next request on a kept connection: its slot may be freed."""
        with self._changed:
            if connection in self._open:
                self._idle[connection] = time.monotonic()
                self._poke()

    def busy(self, connection: socket.socket) -> None:
        """A request arrived on the connection: its slot is no longer free to take."""
        with self._changed:
            self._idle.pop(connection, None)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self._changed:
            self._poke()
            self._open.discard(request)
            self._idle.pop(request, None)
            self._draining.discard(request)
            self._changed.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):  # the client went away: not our bug
            log.debug("connection dropped client=%s error=%r", client_address[0], exc)
        else:
            log.exception("unexpected error serving client=%s", client_address[0])

    # --- stopping -----------------------------------------------------------------------------

    def stop_serving(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def close_connections(self, timeout: float) -> None:
        """Shut every open connection down (a blocked read returns at once) and wait for the handlers."""
        with self._changed:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._changed.wait_for(lambda: not self._open, timeout)

    def server_close(self) -> None:
        super().server_close()
        for _ in range(self._workers):
            self._work.put(None)
        self._close_wake_pair()

    def _close_wake_pair(self) -> None:
        self._wake_reader.close()
        self._wake_writer.close()
