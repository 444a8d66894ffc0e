"""Reading an HTTP request head within limits: size, header count, idle and head deadlines.

http.server reads the request line and headers with plain `readline` calls on the
connection; this reader stands in for it, so a client cannot send a huge head or keep a
thread waiting by dripping one byte at a time (slow loris).
"""

from __future__ import annotations

import io
import socket
import time
import typing
from typing import Protocol

MAX_HEAD_BYTES = 16 * 1024
MAX_HEADER_LINES = 64


class HeadLimits(Protocol):
    """The server's current timeouts (read at each use: a reload may change them)."""

    idle_timeout: float
    head_timeout: float


class HeadTooLarge(Exception):
    pass


class BoundedHead(io.BufferedIOBase):
    """The connection's reader, counting what the request line and headers use.

    http.server allows 64 KiB lines and 100 headers; we allow MAX_HEAD_BYTES in all.
    """

    def __init__(self, raw: io.BufferedIOBase, connection: socket.socket, limits: HeadLimits) -> None:
        super().__init__()
        self.raw_reader = typing.cast(io.BufferedReader, raw)
        self.connection, self.limits = connection, limits
        self.overflowed = False
        self.start()

    def start(self) -> None:
        """A new request: the idle timeout until its first byte, then the head deadline."""
        self._left, self._lines = MAX_HEAD_BYTES, 0
        self._deadline: float | None = None
        self.connection.settimeout(self.limits.idle_timeout)

    def readable(self) -> bool:
        return True

    def readline(self, limit: int | None = -1) -> bytes:
        cap = self._left + 1 if limit is None or limit < 0 else min(limit, self._left + 1)
        line = self._read_line(cap)
        self._left -= len(line)
        self._lines += 1
        if self._left < 0 or self._lines > MAX_HEADER_LINES + 2:  # + request line and blank line
            self.overflowed = True
            raise HeadTooLarge(f"request head over {MAX_HEAD_BYTES} bytes or {MAX_HEADER_LINES} headers")
        return line

    def _read_line(self, cap: int) -> bytes:
        """Like readline(cap), but each receive waits only for what is left of the head deadline
        (readline would restart the socket timeout for every byte of a dripping client)."""
        line = bytearray()
        while len(line) < cap:
            self._arm()
            chunk = self.raw_reader.peek(1)  # one recv at most, and only if nothing is buffered
            if not chunk:
                break
            if self._deadline is None:
                self._deadline = time.monotonic() + self.limits.head_timeout
            newline = chunk.find(b"\n", 0, cap - len(line))
            line += self.raw_reader.read(newline + 1 if newline >= 0 else min(len(chunk), cap - len(line)))
            if newline >= 0:
                break
        return bytes(line)

    def _arm(self) -> None:
        if self._deadline is None:
            return
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"request head not received within {self.limits.head_timeout:g}s")
        self.connection.settimeout(min(left, self.limits.idle_timeout))

    def head_done(self) -> None:
        """Back to the idle timeout for writing the response."""
        self.connection.settimeout(self.limits.idle_timeout)

    def read(self, size: int | None = -1) -> bytes:
        return self.raw_reader.read(size)

    def close(self) -> None:
        self.raw_reader.close()
        super().close()
