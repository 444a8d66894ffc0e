"""Reading an HTTP request head within limits: size, header count, idle and head deadlines.

http.server reads the request line and headers with plain `readline` calls on the
connection; this reader stands in for it, so a client cannot send a huge head or keep a
thread waiting by dripping one byte at a time (slow loris).

parse_headers is a fast path for http.client.parse_headers (the reference, whose email
parser is a third of the cost of serving a cached feed): the usual `Name: value` lines are
split here, and a head with anything else goes to the reference (tests/test_requesthead.py
checks both agree).
"""

from __future__ import annotations

import http.client
import io
import re
import socket
import time
import typing
from typing import Protocol

MAX_HEAD_BYTES = 16 * 1024
MAX_HEADER_LINES = 64
# A field line as http.client takes it apart: a token name, a colon, optional blanks, a value
# without control line breaks. Anything else (continuation lines, blanks before the colon, a
# bare CR) is left to the reference.
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*)\r?\n")


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
        self._timeout: float | None = None  # the connection's, as last set here
        self.start()

    def start(self) -> None:
        """A new request: the idle timeout until its first byte, then the head deadline."""
        self._left, self._lines = MAX_HEAD_BYTES, 0
        self._deadline: float | None = None
        self._buffered = 0  # bytes the reader holds, unread: the next peek needs no receive
        self._set_timeout(self.limits.idle_timeout)

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
            if not self._buffered:  # the peek will receive: it may wait only for what is left
                self._arm()
            chunk = self.raw_reader.peek(1)  # every buffered byte; one recv, only if none is buffered
            if not chunk:
                break
            if self._deadline is None:
                self._deadline = time.monotonic() + self.limits.head_timeout
            newline = chunk.find(b"\n", 0, cap - len(line))
            take = newline + 1 if newline >= 0 else min(len(chunk), cap - len(line))
            line += self.raw_reader.read(take)
            self._buffered = len(chunk) - take
            if newline >= 0:
                break
        return bytes(line)

    def _arm(self) -> None:
        if self._deadline is None:
            return
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"request head not received within {self.limits.head_timeout:g}s")
        self._set_timeout(min(left, self.limits.idle_timeout))

    def _set_timeout(self, seconds: float) -> None:
        # Each settimeout is a system call that lets go of the GIL: a head that arrived whole
        # (the usual case) is read without one per line.
        if seconds != self._timeout:
            self.connection.settimeout(seconds)
            self._timeout = seconds

    def head_done(self) -> None:
        """Back to the idle timeout for writing the response."""
        self._set_timeout(self.limits.idle_timeout)

    def read(self, size: int | None = -1) -> bytes:
        return self.raw_reader.read(size)

    def close(self) -> None:
        self.raw_reader.close()
        super().close()


def read_header_lines(head: BoundedHead) -> list[bytes]:
    """The header lines of a request, up to and with the blank line that ends them."""
    lines = []
    while True:
        line = head.readline()
        lines.append(line)
        if line in (b"\r\n", b"\n", b""):
            return lines


def parse_headers(lines: list[bytes]) -> http.client.HTTPMessage:
    """The header lines as http.client.parse_headers would parse them from the same bytes."""
    message = http.client.HTTPMessage()
    for line in lines[:-1]:
        field = _FIELD.fullmatch(line)
        if field is None:
            return http.client.parse_headers(io.BytesIO(b"".join(lines)))
        message[field[1].decode("ascii")] = field[2].decode("iso-8859-1")
    return message
