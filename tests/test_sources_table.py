"""`partyfeeds sources`: every source's status, the whole last error wrapped to the terminal,
on one line (`--wide`) or as JSON (`--json`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from feeds.model import SourceSpec, SourceState
from scheduler.sources import SourceRow, format_json, format_table

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ERROR = ("not a well-formed feed (SAXParseException: <unknown>:3:41: not well-formed (invalid token)) from "
         "https://www.example-party.org/news/feed/?format=rss&category=international-statements-and-declarations")


def rows() -> list[SourceRow]:
    broken = SourceState("broken", "https://www.example-party.org/news/feed/", last_error=ERROR,
                         error_count=3, last_attempt=NOW, next_fetch=NOW + timedelta(hours=8), item_count=12)
    fine = SourceState("fine", "https://ok.example/feed", last_success=NOW,
                       next_fetch=NOW + timedelta(hours=1))
    return [SourceRow(SourceSpec("broken", broken.url), broken, "error", due=False),
            SourceRow(SourceSpec("fine", fine.url), fine, "ok", due=False),
            SourceRow(SourceSpec("fresh", "https://new.example/feed"), None, "new", due=True)]


def same_text(parts: list[str], text: str) -> bool:
    """Whether `parts`, wrapped lines, hold every character of `text` but the spaces at breaks."""
    return "".join(part.strip() for part in parts).replace(" ", "") == text.replace(" ", "")


def test_the_last_error_is_wrapped_whole_in_its_column() -> None:
    lines = format_table(rows(), width=120).splitlines()
    assert lines[0] == "source  status  last success          items  next fetch            last error"
    assert all(len(line) <= 120 for line in lines) and len(lines) > 4
    start = lines[0].index("last error")
    rows_begun = [line.split()[0] for line in lines if line[:start].strip()]
    assert rows_begun == ["source", "broken", "fine", "fresh"]
    wrapped = [line[start:] for line in lines[1:] if not line[:start].strip() or line.startswith("broken")]
    assert len(wrapped) > 1 and same_text(wrapped, ERROR)


def test_on_a_narrow_terminal_the_last_error_goes_under_its_row() -> None:
    lines = format_table(rows(), width=80).splitlines()
    assert "last error" not in lines[0] and all(len(line) <= 80 for line in lines)
    assert lines[1].split()[:2] == ["broken", "error"] and lines[-2].startswith("fine")
    under = [line for line in lines if line.startswith("    ")]
    assert len(under) > 1 and same_text(under, ERROR)


def test_wide_shows_each_source_on_one_line() -> None:
    lines = format_table(rows(), width=None).splitlines()
    assert len(lines) == 4 and lines[1].endswith(ERROR)
    assert lines[3].split()[:5] == ["fresh", "new", "-", "0", "due"]


def test_json_holds_every_field() -> None:
    broken, fine, fresh = json.loads(format_json(rows()))
    assert broken == {"source": "broken", "status": "error", "url": "https://www.example-party.org/news/feed/",
                      "last_success": None, "last_attempt": NOW.isoformat(), "last_error": ERROR,
                      "error_count": 3, "malformed": None, "items": 12,
                      "next_fetch": (NOW + timedelta(hours=8)).isoformat(), "due": False}
    assert fine["last_success"] == NOW.isoformat() and fine["last_error"] is None
    assert fresh["status"] == "new" and fresh["due"] is True and fresh["next_fetch"] is None
