"""Validate JSON Feed 1.1 documents in tests: tests/data/jsonfeed-1.1.schema.json plus the rules
a schema cannot express.

    from tests.jsonfeedcheck import assert_valid_json_feed
    feed = assert_valid_json_feed(data)    # bytes in, parsed dict out; AssertionError lists problems

Formats are checked by our own functions (tests/atomcheck's RFC 3339 and IRI rules), so no
format-checking extras are needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from tests.atomcheck import is_absolute_iri, parse_rfc3339

SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "jsonfeed-1.1.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text("utf-8"))
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or parse_rfc3339(value) is not None


@_FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or is_absolute_iri(value)


Draft202012Validator.check_schema(SCHEMA)
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=_FORMATS)


def json_feed_problems(data: bytes) -> list[str]:
    """Every schema and rule violation in `data`."""
    try:
        feed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"not UTF-8 JSON: {exc}"]
    problems = [f"schema: {'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
                for error in VALIDATOR.iter_errors(feed)]
    return problems + _rule_problems(feed) if isinstance(feed, dict) else problems


def _rule_problems(feed: dict[str, Any]) -> list[str]:
    problems = []
    if feed.get("next_url") is not None and feed.get("next_url") == feed.get("feed_url"):
        problems.append("next_url must not be the feed_url (1.1: it would loop)")
    ids = [item.get("id") for item in feed.get("items", []) if isinstance(item, dict)]
    problems += [f"items share the id {i!r}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    return problems


def assert_valid_json_feed(data: bytes) -> dict[str, Any]:
    problems = json_feed_problems(data)
    assert not problems, "invalid JSON Feed:\n  " + "\n  ".join(problems)
    feed: dict[str, Any] = json.loads(data)
    return feed
