"""Hostile XML: entity tricks, external DTDs and entities, XInclude, deep nesting, broken
documents and forbidden characters are refused or neutralised, for that source only.

The documents come from tests/hostile_cases.py. A local server stands where
the external DTD and entities point, recording whether anything asked for
them; a secret file stands where the file entities point.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from feeds.errors import ParseError
from feeds.parse import ParsedFeed, parse_feed
from tests.hostile_cases import SECRET, XmlCase, xml_cases
from tests.localserver import LocalServer, Reply

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

MEMORY_BOUND = 64 * 2**20  # far above what any case needs; entity expansion would blow through it


@pytest.fixture(scope="module")
def dtd_server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        local.script("/evil.dtd", Reply(200, body=f'<!ENTITY x "{SECRET}">'.encode()))
        yield local


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secret") / "secret.txt"
    path.write_text(SECRET, "utf-8")
    return path


def cases() -> list[str]:
    return [case.name for case in xml_cases("/x", "http://x/")]


def case_named(name: str, secret_file: Path, server: LocalServer) -> XmlCase:
    return next(c for c in xml_cases(str(secret_file), server.url("/evil.dtd")) if c.name == name)


def parse_measured(body: bytes) -> tuple[ParsedFeed | ParseError, int]:
    tracemalloc.start()
    try:
        outcome: ParsedFeed | ParseError = parse_feed(body, {}, "https://hostile.example/feed")
    except ParseError as exc:
        outcome = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, peak


@pytest.mark.parametrize("name", cases())
def test_hostile_documents_are_refused_or_neutralised(name: str, secret_file: Path,
                                                      dtd_server: LocalServer) -> None:
    case = case_named(name, secret_file, dtd_server)
    outcome, peak = parse_measured(case.body)
    if case.error is None:
        assert isinstance(outcome, ParsedFeed), outcome
    else:
        assert isinstance(outcome, ParseError) and case.error in str(outcome), outcome
    assert SECRET not in repr(outcome)
    assert peak < MEMORY_BOUND
    assert dtd_server.requests == []  # no DTD or entity was ever requested


def test_neutralised_documents_keep_their_entries_and_lose_only_the_danger(secret_file: Path,
                                                                           dtd_server: LocalServer) -> None:
    titles = {}
    kept = ("external-dtd", "public-dtd", "xinclude", "truncated", "control-characters", "char-entity-ok")
    for name in kept:
        parsed = parse_feed(case_named(name, secret_file, dtd_server).body, {}, "https://h.example/")
        titles[name] = parsed.entries[0].title
    assert titles["external-dtd"] == "External DTD" and titles["public-dtd"] == "Public DTD"
    assert titles["control-characters"] == "Control chars"
    assert titles["char-entity-ok"] == "A\u00a0B"
    assert titles["truncated"] == "Truncated"  # recovered from the broken document


def test_a_feed_of_20000_entries_keeps_the_first_500() -> None:
    items = "".join(f"<item><title>Item {n}</title><link>https://x.example/{n}</link></item>"
                    for n in range(20_000))
    body = f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()
    parsed = parse_feed(body, {}, "https://x.example/feed")
    assert len(parsed.entries) == 500
    assert parsed.entries[0].title == "Item 0" and parsed.entries[-1].title == "Item 499"
    assert any("kept the first 500" in w for w in parsed.warnings)
