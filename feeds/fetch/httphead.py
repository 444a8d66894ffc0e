"""http.client's response with a lighter header parse: the hot path of a steady-state poll.

http.client hands every response's header block to the `email` package's parser, which
was about a third of the CPU of a kept-alive 304 here. `Response.begin` is http.client's
own (Python 3.11), except that a block whose every line is a plain `Name: value` line is
split here, into the same (name, value) pairs the email parser makes of it; any other
block (a folded line, a stray CR, a line without a name, a "From " line, ...) still goes
to `http.client.parse_headers`. The limits are http.client's: the line length and header
count of `_read_headers`, which reads the block in both cases.
"""

from __future__ import annotations

import email.parser
import http.client
import re

# What the email parser takes as one whole header line: a field name (printable ASCII but
# ":", its headerRE) and a colon, then nothing `str.splitlines` would break the line at
# (it splits at VT, FF, FS, GS, RS and NEL too) before the line's end.
_PLAIN_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+:[^\r\n\x0b\x0c\x1c-\x1e\x85]*\r?\n")
_BLANK = (b"\r\n", b"\n", b"")


def parse_head(lines: list[bytes]) -> http.client.HTTPMessage:
    """The message `http.client.parse_headers` makes of a header block (its lines, the
    blank line last), built directly when every line is plain."""
    return _message(lines, plain_pairs(lines))


def _message(lines: list[bytes], pairs: list[tuple[bytes, bytes]] | None) -> http.client.HTTPMessage:
    if pairs is None:
        parsed: http.client.HTTPMessage = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(
            b"".join(lines).decode("iso-8859-1"))
        return parsed
    message = http.client.HTTPMessage()
    for name, value in pairs:
        message[name.decode("iso-8859-1")] = value.decode("iso-8859-1")
    return message


def plain_pairs(lines: list[bytes]) -> list[tuple[bytes, bytes]] | None:
    """The (name, value) pairs of a header block whose every line is plain, else None."""
    fields = lines[:-1] if lines and lines[-1] in _BLANK else lines
    match = _PLAIN_LINE.fullmatch
    if not all(match(line) for line in fields):
        return None
    pairs = []
    for line in fields:
        name, _, value = line.partition(b":")
        # The email parser's compat32 policy: blanks before the value go, the line end goes.
        pairs.append((name, value.lstrip(b" \t").rstrip(b"\r\n")))
    return pairs


class Response(http.client.HTTPResponse):
    """`http.client.HTTPResponse`, its header block parsed by `parse_head`; `raw_headers`
    holds a plain block's (name, value) pairs as bytes (None for any other block)."""

    raw_headers: list[tuple[bytes, bytes]] | None = None

    def begin(self) -> None:
        if self.headers is not None:  # already started reading the response
            return
        while True:  # until a non-100 response
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            http.client._read_headers(self.fp)  # a 100's headers
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):  # 0.9 is treated as 1.0, as http.client does
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        lines = http.client._read_headers(self.fp)
        self.raw_headers = plain_pairs(lines)  # for callers that want bytes: no decoding and back
        self.headers = self.msg = _message(lines, self.raw_headers)
        self._frame(status)

    def _frame(self, status: int) -> None:
        """http.client's reading of the body's framing from the headers, unchanged."""
        transfer = self.headers.get("transfer-encoding")
        self.chunked = bool(transfer and transfer.lower() == "chunked")
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._check_close()  # type: ignore[attr-defined]
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:  # nonsensical negative lengths are ignored
                    self.length = None
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200 \
                or self._method == "HEAD":  # type: ignore[attr-defined]
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True
