"""Seed documents: hand-kept items in `.txt` and `.yaml` files.

A `.txt` file holds one item per paragraph (paragraphs are separated by blank
lines), like `seeds/seed-headlines.txt`. A `.yaml` file holds a list of items,
each a mapping with `title` and/or `text`, and optional `link`, `published`,
`updated`, `language`, `authors`, `parties`, `topics`; or a mapping with that
list under `items` and a header: `publisher`.

A seed item's identity is its normalised text, so its id is the same on every
run and machine. A trailing revision marker such as "(updated)" is stripped
before the id is derived: the marked text is a revision of the same item.

Dates: a document is written newest first, so an item without a date gets a
first-seen time one second (SEED_STEP) earlier than the item above it,
counting down from the time the document is read. The store keeps the first
of these times (feeds.dedupe.merge keeps the earliest `published`), so later
runs do not move an item, and items first seen together keep the document's
order instead of sharing one instant.

Credit: every item names the document's publisher (the YAML header, else the
caller's, which the configuration gives: `seeds.publisher`, else the site's
title), never the file's name.

Limits, the same for both kinds: a file over MAX_FILE_BYTES is refused before it is read
whole; an item's title and text are at most MAX_TEXT_CHARS each (a paragraph of a `.txt`
file is both); a YAML item's link, authors and language are held to what feeds/parse/normalise.py
keeps of a feed's entry (MAX_LINK_CHARS, MAX_NAMES of MAX_NAME_CHARS) and to a BCP 47 tag.
A seed over a limit is an error naming the file and line: the operator wrote it, and an
item cut short in silence would be published wrong.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from feeds.errors import SeedError
from feeds.model import Item, SourceRef, item_id
from feeds.parse.languages import EXAMPLES, is_language_tag
from feeds.parse.normalise import MAX_LINK_CHARS, MAX_NAME_CHARS, MAX_NAMES
from feeds.parse.yamldoc import LineDict, LineList, describe, parse_yaml

SEED_SUFFIXES = (".txt", ".yaml", ".yml")
MAX_TEXT_CHARS = 20_000  # a tenth of what a feed entry's HTML may hold (normalise.MAX_HTML_CHARS)
# Hand-kept documents: ~2,500 items of a few hundred words. PyYAML reads ~1 MiB a second.
MAX_FILE_BYTES = 4 * 2**20
REVISION_MARKER = re.compile(r"\s*[(\[]\s*(?:updated|update|revised)\s*[)\]]\s*$", re.IGNORECASE)
# Characters XML 1.0 forbids, plus the replacement character of a bad decode.
FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
YAML_KEYS = frozenset({"title", "text", "link", "published", "updated", "language", "authors",
                       "parties", "topics"})
YAML_HEADER_KEYS = frozenset({"items", "publisher"})
SEED_STEP = timedelta(seconds=1)  # between the first-seen times of two undated items, newest first
DEFAULT_PUBLISHER = "partyfeeds"  # for callers that name none (the configuration always does)


@dataclass(frozen=True, slots=True)
class SeedItem:
    """An item read from a seed document, before tagging and storing."""

    item: Item
    path: str
    line: int
    revision: str  # the revision marker as written ("" when none): a new one is a new revision
    explicit_parties: tuple[str, ...] | None = None
    explicit_topics: tuple[str, ...] | None = None
    # What the document says of the item (not when it was first seen): an item whose digest a
    # document held last time is not ingested again.
    digest: str = ""


def identity_text(text: str) -> str:
    """The text a seed item's id derives from: NFKC, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def split_revision(text: str) -> tuple[str, str]:
    """Split a trailing "(updated)" marker off `text`: (text, marker or "")."""
    match = REVISION_MARKER.search(text)
    if not match:
        return text, ""
    return text[: match.start()].rstrip(), match.group().strip()


def seed_files(paths: Iterable[Path]) -> list[Path]:
    """Every seed document under `paths` (files or directories), sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in path.rglob("*") if p.is_file() and p.suffix in SEED_SUFFIXES)
        else:
            found.append(path)
    return sorted(found)


def read_seed_file(path: Path, now: datetime, publisher: str = DEFAULT_PUBLISHER) -> list[SeedItem]:
    """Read one seed document; any problem raises SeedError naming file and line.

    `now` is the first-seen time of its first item; each next item's is SEED_STEP earlier.
    `publisher` is credited unless the document names its own.
    """
    return list(open_seed_file(path, now, publisher).items())


@dataclass(frozen=True, slots=True)
class SeedFile:
    """A seed document's text, read once; its items are made each time `items` is walked, so a
    reader holds one at a time (a document may hold tens of thousands)."""

    path: Path
    text: str
    now: datetime
    publisher: str

    def items(self) -> Iterator[SeedItem]:
        """Its items in order (see `read_seed_file`); a problem raises SeedError when reached."""
        read = _read_text if self.path.suffix == ".txt" else _read_yaml
        return read(self.text, str(self.path), self.now, self.publisher)


def open_seed_file(path: Path, now: datetime, publisher: str = DEFAULT_PUBLISHER) -> SeedFile:
    """Read one seed document's text (refused if too big, not UTF-8, or of another kind)."""
    if path.suffix not in SEED_SUFFIXES:
        raise SeedError(f"unknown seed document type {path.suffix!r} (want {', '.join(SEED_SUFFIXES)})",
                        path=str(path))
    return SeedFile(path, _decode(_read_bounded(path), str(path)), now, publisher)


def check_tags(seeds: Iterable[SeedItem], parties: Collection[str], topics: Collection[str]) -> None:
    """Explicit parties and topics must be registry codes: a typo would silently tag nothing."""
    for seed in seeds:
        for key, noun, given, known in (("parties", "party", seed.explicit_parties, parties),
                                        ("topics", "topic", seed.explicit_topics, topics)):
            unknown = sorted(set(given or ()) - set(known))
            if unknown:
                raise SeedError(f"unknown {noun} {', '.join(map(repr, unknown))} (not in the registry)",
                                path=seed.path, line=seed.line, key=key)


def _read_bounded(path: Path) -> bytes:
    """The file's bytes, refused once past MAX_FILE_BYTES: at most one byte more is read."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SeedError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise SeedError(f"over the {MAX_FILE_BYTES:,}-byte limit of a seed document: split it",
                        path=str(path))
    return raw


def _decode(raw: bytes, path: str) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SeedError(f"not UTF-8 (byte {raw[exc.start]:#04x})", path=path, line=line) from exc
    bad = FORBIDDEN_CHARS.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise SeedError(f"control character U+{ord(bad.group()):04X} is not allowed", path=path, line=line)
    return text


def _paragraphs(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, paragraph text) for each paragraph."""
    start, lines = 0, []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            start = start or number
            lines.append(line.strip())
        elif lines:
            yield start, " ".join(lines)
            start, lines = 0, []
    if lines:
        yield start, " ".join(lines)


def first_seen(now: datetime, place: int) -> datetime:
    """The first-seen time of the item at `place` (0: the first) of seeds read at `now`."""
    return now - place * SEED_STEP


def _read_text(text: str, path: str, now: datetime, publisher: str) -> Iterator[SeedItem]:
    for place, (line, paragraph) in enumerate(_paragraphs(text)):
        body, marker = split_revision(" ".join(paragraph.split()))
        _check_length(body, path, line)
        source = _seed_source(path, publisher)
        item = _make_item(body, body, source, first_seen(now, place))
        yield SeedItem(item, path, line, marker, digest=_digest(source, body, marker))


def _check_length(text: str, path: str, line: int | None, key: str | None = None) -> None:
    if not text:
        raise SeedError("item has no text", path=path, line=line)
    _check_limit(text, MAX_TEXT_CHARS, path, line, key)


def _check_limit(text: str, limit: int, path: str, line: int | None, key: str | None) -> None:
    if len(text) > limit:
        what = "" if key else "item text is "
        raise SeedError(f"{what}{len(text):,} characters (limit {limit:,})", path=path, line=line, key=key)


def _seed_source(path: str, publisher: str) -> SourceRef:
    """The source a seed document's items credit: the file is its id (never shown), the publisher its name."""
    return SourceRef(source_id=f"seed:{Path(path).name}", title=publisher, kind="seed")


def _make_item(title: str, summary: str, source: SourceRef, seen: datetime, **fields: Any) -> Item:
    """A seed item; without dates it is dated `seen`, with `updated` only it was published then."""
    published = fields.pop("published", None) or fields.get("updated") or seen
    updated = fields.pop("updated", None) or published
    link = fields.pop("link", None)
    return Item(id=item_id("seed\x1f" + identity_text(title)), title=title, link=link, summary=summary,
                content="", published=published, updated=max(updated, published),
                sources=(replace(source, link=link),), **fields)


def _read_yaml(text: str, path: str, now: datetime, publisher: str) -> Iterator[SeedItem]:
    document = parse_yaml(text, path, SeedError)
    if isinstance(document, LineDict):
        publisher = _header_publisher(document, path) or publisher
        document = document.get("items")
    if document is None:
        return
    if not isinstance(document, LineList):
        raise SeedError("expected a list of items (or a mapping with `items:` and `publisher:`)", path=path,
                        line=getattr(document, "line", 1))
    source = _seed_source(path, publisher)
    for index, entry in enumerate(document):
        yield _yaml_item(entry, path, document.line_of(index), source, first_seen(now, index))


def _header_publisher(header: LineDict, path: str) -> str | None:
    """The publisher a YAML document's header names (beside its `items`)."""
    if "items" not in header:
        raise SeedError("expected a list of items (or a mapping with `items:` and `publisher:`)", path=path,
                        line=header.line or 1)
    unknown = sorted(set(map(str, header)) - YAML_HEADER_KEYS)
    if unknown:
        raise SeedError(f"unknown key (allowed: {', '.join(sorted(YAML_HEADER_KEYS))})", path=path,
                        line=header.line_of(unknown[0]), key=unknown[0])
    return _string(header, "publisher", path)


def _yaml_item(entry: Any, path: str, line: int | None, source: SourceRef, seen: datetime) -> SeedItem:
    if not isinstance(entry, LineDict):
        raise SeedError("each item must be a mapping", path=path, line=line)
    unknown = sorted(set(map(str, entry)) - YAML_KEYS)
    if unknown:
        raise SeedError(f"unknown key (allowed: {', '.join(sorted(YAML_KEYS))})", path=path,
                        line=entry.line_of(unknown[0]), key=unknown[0])
    text = _string(entry, "text", path) or ""
    _check_limit(text, MAX_TEXT_CHARS, path, entry.line_of("text"), "text")
    title, marker = split_revision(" ".join((_string(entry, "title", path) or text).split()))
    _check_length(title, path, entry.line_of("title") if "title" in entry else entry.line,
                  "title" if "title" in entry else None)
    fields: dict[str, Any] = {
        "link": _bounded(entry, "link", MAX_LINK_CHARS, path),
        "language": _language(entry, path),
        "published": _date(entry, "published", path),
        "updated": _date(entry, "updated", path),
        "authors": _authors(entry, path),
    }
    item = _make_item(title, text or title, source, seen, **fields)
    parties, topics = _strings(entry, "parties", path), _strings(entry, "topics", path)
    return SeedItem(item, path, entry.line or 0, marker, parties, topics,
                    _digest(source, title, text, marker, sorted(fields.items()), parties, topics))


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _string(entry: LineDict, key: str, path: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SeedError(f"must be text, not {describe(value)}", path=path, line=entry.line_of(key), key=key)
    return value.strip() or None


def _bounded(entry: LineDict, key: str, limit: int, path: str) -> str | None:
    value = _string(entry, key, path)
    if value is not None:
        _check_limit(value, limit, path, entry.line_of(key), key)
    return value


def _language(entry: LineDict, path: str) -> str | None:
    value = _string(entry, "language", path)
    if value is not None and not is_language_tag(value):
        raise SeedError(f"must be a BCP 47 language tag such as {EXAMPLES}, not {value!r}", path=path,
                        line=entry.line_of("language"), key="language")
    return value


def _authors(entry: LineDict, path: str) -> tuple[str, ...]:
    authors = _strings(entry, "authors", path) or ()
    line = entry.line_of("authors")
    if len(authors) > MAX_NAMES:
        raise SeedError(f"{len(authors)} names (limit {MAX_NAMES})", path=path, line=line, key="authors")
    for name in authors:
        _check_limit(name, MAX_NAME_CHARS, path, line, "authors")
    return authors


def _strings(entry: LineDict, key: str, path: str) -> tuple[str, ...] | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SeedError("must be a list of text", path=path, line=entry.line_of(key), key=key)
    return tuple(v.strip() for v in value)


def _date(entry: LineDict, key: str, path: str) -> datetime | None:
    value = entry.get(key)
    if value is None:
        return None
    parsed = parse_date(value)
    if parsed is None:
        raise SeedError(f"not a date: {value!r} (use ISO 8601, e.g. 2017-12-07T10:00:00Z)", path=path,
                        line=entry.line_of(key), key=key)
    return parsed


def parse_date(value: object) -> datetime | None:
    """A UTC datetime from YAML's date/datetime or an ISO 8601 / RFC 822 string."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text_date = _parse_date_text(value.strip())
        if text_date is None:
            return None
        parsed = text_date
    else:
        return None
    if parsed.tzinfo is None:  # a date without an offset is taken as UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_date_text(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
