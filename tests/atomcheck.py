"""Validate Atom documents in tests: RFC 4287's RELAX NG schema plus the rules it cannot express.

    from tests.atomcheck import assert_valid_atom
    root = assert_valid_atom(data)        # bytes in, parsed lxml root out; AssertionError lists problems

The schema is ../shared/standards/atom.rnc, used from there (never copied), converted
with rnc2rng once per session. When ../shared is absent the schema part is skipped
(`SCHEMA_AVAILABLE` is False and test_render's `test_atom_schema_is_available` reports the
skip); the rule checks always run. `atom_problems(data)` returns the problem list instead.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import rnc2rng
from lxml import etree

ATOM_NS = "http://www.w3.org/2005/Atom"
A = f"{{{ATOM_NS}}}"
ATOM_RNC = Path(__file__).resolve().parents[2] / "shared" / "standards" / "atom.rnc"
SCHEMA_AVAILABLE = ATOM_RNC.is_file()

# RFC 3339 date-time, which RFC 4287 3.3 requires: "T", seconds, and a "Z" or numeric offset.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\Z", re.IGNORECASE)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*\Z")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


@functools.cache
def atom_schema() -> etree.RelaxNG | None:
    """The RELAX NG validator, converted once per session; None without ../shared."""
    if not SCHEMA_AVAILABLE:
        return None
    rng = rnc2rng.dumps(rnc2rng.load(str(ATOM_RNC)))
    # rnc2rng declares the empty-namespace prefix of `namespace local = ""`; lxml rejects
    # an empty prefixed namespace and nothing in the output uses the prefix.
    rng = re.sub(r'\s+xmlns:local=""', "", rng, count=1)
    return etree.RelaxNG(etree.fromstring(rng.encode("utf-8")))


def assert_valid_atom(data: bytes) -> etree._Element:
    """Parse `data`, fail listing every problem found, else return the root element."""
    problems = atom_problems(data)
    assert not problems, "invalid Atom:\n  " + "\n  ".join(problems)
    return etree.fromstring(data, _PARSER)


def atom_problems(data: bytes) -> list[str]:
    """Every schema and RFC 4287 rule violation in `data` (an atom:feed document)."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    if root.tag != f"{A}feed":
        return [f"root element is {root.tag}, expected atom:feed"]
    return schema_problems(root) + feed_problems(root)


def schema_problems(root: etree._Element) -> list[str]:
    schema = atom_schema()
    if schema is None or schema.validate(root):
        return []
    return [f"schema: line {err.line}: {err.message}" for err in schema.error_log]


def feed_problems(feed: etree._Element) -> list[str]:
    """RFC 4287 rules beyond the schema (section numbers in the messages)."""
    problems = _exactly_one(feed, "feed", ("id", "title", "updated"))
    problems += _id_problems(feed) + _date_problems(feed) + _link_problems(feed, "feed")
    if not any(link.get("rel") == "self" for link in feed.findall(f"{A}link")):
        problems.append('feed: no link rel="self" (4.1.1, SHOULD; required here)')
    feed_has_author = feed.find(f"{A}author") is not None
    entries = feed.findall(f"{A}entry")
    for number, entry in enumerate(entries, start=1):
        problems += [f"entry {number}: {p}" for p in _entry_problems(entry, feed_has_author)]
    return problems + _duplicate_ids(entries) + _updated_is_newest(feed, entries)


def _entry_problems(entry: etree._Element, feed_has_author: bool) -> list[str]:
    problems = _exactly_one(entry, "entry", ("id", "title", "updated"))
    problems += _link_problems(entry, "entry")
    has_author = entry.find(f"{A}author") is not None or entry.find(f"{A}source/{A}author") is not None
    if not (has_author or feed_has_author):
        problems.append("no author in the entry, its source or the feed (4.1.2)")
    content = entry.find(f"{A}content")
    rels = [link.get("rel", "alternate") for link in entry.findall(f"{A}link")]
    if content is None and "alternate" not in rels:
        problems.append('no content and no link rel="alternate" (4.1.2)')
    if content is not None and content.get("src") and entry.find(f"{A}summary") is None:
        problems.append("content has src but there is no summary (4.1.2)")
    for name in ("title", "summary", "content"):
        element = entry.find(f"{A}{name}")
        if element is not None and not element.get("src") and not "".join(element.itertext()).strip():
            problems.append(f"empty {name} (breaks readers; partyfeeds never emits one)")
    return problems


def _exactly_one(parent: etree._Element, where: str, names: tuple[str, ...]) -> list[str]:
    counts = {name: len(parent.findall(f"{A}{name}")) for name in names}
    return [f"{where}: {count} atom:{name} elements, expected exactly 1" for name, count in counts.items()
            if count != 1]


def _id_problems(root: etree._Element) -> list[str]:
    problems = []
    for element in root.iter(f"{A}id"):
        if not is_absolute_iri(element.text or ""):
            problems.append(f"line {element.sourceline}: id {element.text!r} is not an absolute IRI (4.2.6)")
    return problems


def is_absolute_iri(value: str) -> bool:
    """A scheme, a non-empty rest, no whitespace; http(s) also needs a host."""
    if not value or value != value.strip() or any(ch.isspace() for ch in value):
        return False
    parts = urlsplit(value)
    if not _SCHEME.match(parts.scheme) or not value[len(parts.scheme) + 1:]:
        return False
    return bool(parts.netloc) if parts.scheme.lower() in {"http", "https"} else True


def _date_problems(root: etree._Element) -> list[str]:
    problems = []
    for element in root.iter(f"{A}updated", f"{A}published"):
        text = element.text or ""
        if parse_rfc3339(text) is None:
            name = etree.QName(element).localname
            where = f"line {element.sourceline}: {name} {text!r}"
            problems.append(f"{where} is not RFC 3339 with an offset (3.3)")
    return problems


def parse_rfc3339(text: str) -> datetime | None:
    """The aware datetime `text` denotes, or None if it is not an RFC 3339 date-time."""
    if not _RFC3339.match(text):
        return None
    try:
        return datetime.fromisoformat(text.upper())
    except ValueError:  # e.g. month 13
        return None


def _link_problems(parent: etree._Element, where: str) -> list[str]:
    problems = []
    alternates = []
    for link in parent.findall(f"{A}link"):
        if not link.get("href"):
            problems.append(f"{where}: link without href (4.2.7)")
        if link.get("rel", "alternate") == "alternate":
            alternates.append((link.get("type"), link.get("hreflang")))
    if len(alternates) != len(set(alternates)):
        problems.append(f'{where}: two link rel="alternate" with the same type and hreflang (4.1.1)')
    return problems


def _duplicate_ids(entries: list[etree._Element]) -> list[str]:
    ids = [entry.findtext(f"{A}id") for entry in entries]
    dupes = sorted({i or "" for i in ids if ids.count(i) > 1})
    return [f"entries share the id {i!r} (4.1.1)" for i in dupes]


def _updated_is_newest(feed: etree._Element, entries: list[etree._Element]) -> list[str]:
    feed_updated = parse_rfc3339(feed.findtext(f"{A}updated") or "")
    entry_dates = [parse_rfc3339(entry.findtext(f"{A}updated") or "") for entry in entries]
    known = [date for date in entry_dates if date is not None]
    if feed_updated is None or not known or feed_updated == max(known):
        return []
    return [f"feed updated {feed_updated.isoformat()} is not the newest entry's {max(known).isoformat()}"]
