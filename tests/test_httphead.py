"""The light header parse gives http.client's own message, on plain and odd header blocks."""

from __future__ import annotations

import http.client
import io

from hypothesis import given
from hypothesis import strategies as st

from feeds.fetch.httphead import parse_head, plain_pairs


def reference(block: bytes) -> list[tuple[str, str]]:
    return list(http.client.parse_headers(io.BytesIO(block)).items())


def lines_of(block: bytes) -> list[bytes]:
    return http.client._read_headers(io.BytesIO(block))  # type: ignore[attr-defined]


def test_a_plain_304_head() -> None:
    block = b'ETag: "abc"\r\nLast-Modified: Wed, 01 May 2024 12:00:00 GMT\r\nContent-Length: 0\r\n\r\n'
    assert list(parse_head(lines_of(block)).items()) == reference(block) == [
        ("ETag", '"abc"'), ("Last-Modified", "Wed, 01 May 2024 12:00:00 GMT"), ("Content-Length", "0")]


def test_odd_blocks_are_parsed_as_http_client_parses_them() -> None:
    for block in [b"X:\r\n\r\n", b"X:   \t v  \r\nx: second\r\n\r\n", b"A: 1\r\n folded\r\nB: 2\r\n\r\n",
                  b"A: 1\rB: 2\r\n\r\n", b"no colon\r\nA: 1\r\n\r\n", b": empty name\r\nA: 1\r\n\r\n",
                  b"From me\r\nA: 1\r\n\r\n", b"A: x\x0cB: y\r\n\r\n", b"A: caf\xe9\x85\r\n\r\n",
                  b"A: 1\nB: 2\n\n", b"A: 1\r\n", b"\r\n"]:
        assert list(parse_head(lines_of(block)).items()) == reference(block), block


_NAME = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=8)
_VALUE = st.binary(max_size=20) | st.text(st.characters(max_codepoint=255), max_size=20).map(
    lambda text: text.encode("latin-1"))


@given(st.lists(st.tuples(_NAME, st.sampled_from([b":", b": ", b":\t", b""]), _VALUE,
                          st.sampled_from([b"\r\n", b"\n", b"\r"])), max_size=6))
def test_any_block_is_parsed_as_http_client_parses_it(fields: list[tuple[str, bytes, bytes, bytes]]) -> None:
    block = b"".join(name.encode("ascii") + colon + value + end for name, colon, value, end in fields)
    block += b"\r\n"
    assert list(parse_head(lines_of(block)).items()) == reference(block)
    pairs = plain_pairs(lines_of(block))
    if pairs is not None:  # as bytes, the same pairs
        assert pairs == [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reference(block)]
