"""The shared schema: every item, from a seed file or a feed, becomes an `Item`.

Datetimes are timezone-aware UTC; collections are tuples so items are hashable
and immutable. `Item.content_hash` leaves out volatile fields (dates, sources)
so that a re-fetch with a new timestamp is not an update.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Fixed namespace for item ids: uuid5(ITEM_NAMESPACE, identity key).
# Changing it would change every id ever published, so it never changes.
ITEM_NAMESPACE = uuid.UUID("6f1b8f6e-3c55-5d0a-9a7e-2b1f0c7d4e21")


def item_id(identity_key: str) -> str:
    """Stable id for an identity key (same key, same id, on every machine)."""
    return str(uuid.uuid5(ITEM_NAMESPACE, identity_key))


def atom_id(item_uuid: str) -> str:
    """The absolute IRI published as an Atom entry id."""
    return f"urn:uuid:{item_uuid}"


def require_utc(value: datetime) -> datetime:
    """Return `value` in UTC; naive datetimes are a programming error."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: partyfeeds only handles aware datetimes")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class SourceRef:
    """One source that carried an item, with that source's own link to it."""

    source_id: str
    title: str  # the source's name, as readers see it credited
    link: str | None = None
    party: str | None = None  # set for a party's own feed: its link wins as the main link
    kind: str = "feed"  # "feed" or "seed"
    site: str | None = None  # the source's web site (else its feed): its via link when `link` is the entry's


@dataclass(frozen=True, slots=True)
class Item:
    """One normalised news item."""

    id: str
    title: str
    link: str | None
    summary: str
    content: str
    published: datetime
    updated: datetime
    language: str | None = None
    authors: tuple[str, ...] = ()
    sources: tuple[SourceRef, ...] = ()
    parties: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    categories: tuple[str, ...] = field(default=())  # the item's own category terms, as given
    title_derived: bool = False  # the entry had no title: this one was made from its text or link
    enclosures: tuple[str, ...] = ()  # attached files (podcast audio, PDFs), absolute URLs

    def __post_init__(self) -> None:
        object.__setattr__(self, "published", require_utc(self.published))
        object.__setattr__(self, "updated", require_utc(self.updated))

    @property
    def seen_titles(self) -> tuple[str, ...]:
        """The titles it may be matched by: none if its title was derived."""
        return () if self.title_derived else (self.title,)

    @property
    def source_ids(self) -> frozenset[str]:
        return frozenset(s.source_id for s in self.sources)

    @property
    def content_hash(self) -> str:
        """Hash of what a reader sees, without dates and sources."""
        stable = [
            self.title, self.link, self.summary, self.content, self.language,
            list(self.authors), list(self.parties), list(self.topics),
        ]
        if self.enclosures:  # only then: the hashes of items without any stay as they were
            stable.append(list(self.enclosures))
        encoded = json.dumps(stable, ensure_ascii=False, separators=(",", ":")).encode()
        return hashlib.sha256(encoded).hexdigest()


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A configured feed source (from the config file, validated there)."""

    id: str
    url: str
    party: str | None = None  # None for an aggregator that carries many parties
    language: str | None = None
    interval_seconds: int = 3600
    enabled: bool = True
    title: str | None = None
    kind: str = "feed"  # how it is fetched and read: feeds/kinds.py
    # A `kind: html` source's CSS selectors, (field, selector) in the order written: item, title,
    # link, date, summary (feeds/parse/listing.py).
    select: tuple[tuple[str, str], ...] = ()
    channel: str | None = None  # a `kind: telegram` source's public channel (feeds/parse/telegram.py)


@dataclass(frozen=True, slots=True)
class SeedMark:
    """A seed document as it was when last ingested: unchanged size, mtime and context mean it
    is not read again; an unchanged hash means its items are not; `items` are their digests."""

    size: int
    mtime_ns: int
    sha256: str
    context: str
    items: frozenset[str]


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store remembers about a source between runs."""

    source_id: str
    url: str  # current URL: a permanent redirect seen consistently replaces it
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    error_count: int = 0
    next_fetch: datetime | None = None
    retired: bool = False  # 410 Gone
    moved_to: str | None = None  # a permanent redirect target not yet confirmed
    moved_count: int = 0
    item_count: int = 0
    configured_url: str | None = None  # the URL the config gave when this state began
    malformed: str | None = None  # why its last new body was not well-formed XML (entries recovered)


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """A change in a source's health: it started failing, recovered, or was retired."""

    source_id: str
    at: datetime
    kind: str  # "failure" | "recovery" | "retired" | "moved" | "malformed"
    message: str


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """Site-wide publishing settings."""

    title: str
    base_url: str  # absolute, ends with "/"
    author_name: str
    author_uri: str | None = None
    author_email: str | None = None
    entries_per_feed: int = 50
    hub_url: str | None = None


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed to publish: which items it holds and how it is titled."""

    path: str  # relative to the output dir, e.g. "party/kke.atom"
    kind: str  # "all" | "party" | "topic"
    key: str | None  # party code or topic id; None for "all"
    title: str
    subtitle: str
    website: str | None = None  # the party's own site, for party feeds
