"""Reading a response body within the fetch's limits: size after decompression, and the deadline."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator

from feeds.errors import FetchError
from feeds.fetch.settings import FetchSettings
from feeds.fetch.transport import Reply


def remaining(deadline: float, settings: FetchSettings) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError(f"total timeout: fetch took longer than {settings.total_timeout:g}s")
    return remaining


def read_body(response: Reply, settings: FetchSettings, deadline: float) -> bytes:
    """The decoded body, refused once it passes the size limit or the deadline."""
    limit = settings.max_body_bytes
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError(f"body of {declared} bytes is over the {limit}-byte limit")
    decoder = _Decoder(response.headers.get("content-encoding", ""))
    chunks: list[bytes] = []
    size = 0
    for chunk in _chunks(response, decoder, limit, deadline, settings):
        size += len(chunk)
        if size > limit:
            raise FetchError(f"body is over the {limit}-byte limit (after decompression)")
        chunks.append(chunk)
    return b"".join(chunks)


def drain(response: Reply, deadline: float, settings: FetchSettings) -> None:
    """Read a bodiless response to its end, so that the pool can reuse its connection.

    Our transport returns a connection to the pool only once the whole response was read;
    a response closed before that closes its connection.
    """
    for _ in response.iter_raw():
        remaining(deadline, settings)


def _chunks(
    response: Reply, decoder: _Decoder, limit: int, deadline: float, settings: FetchSettings
) -> Iterator[bytes]:
    # The deadline is checked between network reads; a stalled read is cut by the read timeout.
    for raw in response.iter_raw():
        remaining(deadline, settings)
        yield decoder.decode(raw, limit + 1)
    yield decoder.flush()


class _Decoder:
    """Content-Encoding decoding that never produces more than asked for per step.

    A step that hits `max_length` leaves input behind, but the caller asks for
    one byte over its limit, so hitting it means the body is refused anyway.
    """

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._zlib = None
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":  # zlib-wrapped by the spec (or gzip: |32 detects either)
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)
        else:
            raise FetchError(f"unsupported Content-Encoding {encoding!r}")
        self._may_be_raw = encoding == "deflate"  # some servers send raw deflate

    def decode(self, data: bytes, max_length: int) -> bytes:
        if self._zlib is None:
            return data
        try:
            out = self._zlib.decompress(data, max_length)
        except zlib.error as exc:
            if not self._may_be_raw:
                raise FetchError(f"corrupt compressed body: {exc}") from exc
            self._may_be_raw = False
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.decode(data, max_length)
        self._may_be_raw = False  # the header was understood
        return out

    def flush(self) -> bytes:
        return self._zlib.flush() if self._zlib is not None else b""
