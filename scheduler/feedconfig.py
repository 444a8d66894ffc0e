"""The `feeds:` section of the configuration: archive pages, extra feeds, composed feeds, icons.

    feeds:
      archive_page_size: 50        # entries per RFC 5005 archive page
      by_country: true             # country/<cc>.atom
      by_language: true            # language/<xx>.atom
      icons: {kke: "https://..."}  # party code -> icon URL
      composed:
        - id: kke-tkp-palestine
          title: KKE and TKP on Palestine
          query: {all: [{party: [kke, tkp]}, {topic: palestine}]}

A query is a mapping with one key: `party`, `topic`, `country`, `region`,
`language` (a value or a list: any of them), `all` / `any` (a list of queries:
AND / OR) or `not` (a query). Shape errors are reported here; party codes, topic
ids and regions are checked against the registry by `check_feeds`,
once it is loaded, with the file, key and line recorded here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from feeds.errors import ConfigError
from feeds.parse.yamldoc import LineDict, LineList
from feeds.publish.archive import ARCHIVE_DIR
from feeds.publish.compose import FACETS, ComposedFeed, PublishOptions, unknown_values
from feeds.store.query import All, Not, Query, Term
from feeds.store.query import Any as AnyOf
from feeds.tag.registry import Registry

if TYPE_CHECKING:  # scheduler.config imports this module
    from scheduler.config import Section

FEED_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FEED_PATH = re.compile(r"^([a-z0-9][a-z0-9_-]*)/[a-z0-9][a-z0-9_.-]*\.atom$")
LANGUAGE = re.compile(r"^[a-z]{2,3}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
RESERVED_DIRS = frozenset({ARCHIVE_DIR, "party", "topic", "country", "language"})
OPERATORS = (*FACETS, "all", "any", "not")

Origin = tuple[str, int | None, str]  # file, line, dotted key


@dataclass(frozen=True, slots=True)
class FeedsConfig:
    """The validated `feeds:` section, with where each registry reference was written."""

    options: PublishOptions = field(default_factory=PublishOptions)
    icon_origins: dict[str, Origin] = field(default_factory=dict)


def read_feeds(section: Section) -> FeedsConfig:
    """Read the `feeds:` section; leftover keys are errors."""
    icons = section.get("icons", dict, LineDict())
    if not all(isinstance(v, str) and v.startswith(("http://", "https://")) for v in icons.values()):
        raise section.error("icons", "must map party codes to absolute http(s) URLs")
    origins = {str(code): (section.file, icons.line_of(code), f"{section.key}.icons.{code}")
               for code in icons}
    options = PublishOptions(
        archive_page_size=section.integer("archive_page_size", 50, minimum=1),
        by_country=section.get("by_country", bool, False),
        by_language=section.get("by_language", bool, False),
        composed=_composed(section),
        icons={str(k): v for k, v in icons.items()},
    )
    section.finish()
    return FeedsConfig(options, origins)


def _composed(section: Section) -> tuple[ComposedFeed, ...]:
    entries = section.get("composed", list, LineList())
    feeds: dict[str, ComposedFeed] = {}
    paths: set[str] = set()
    for index, entry in enumerate(entries):
        sub = type(section)(entry, section.file, f"{section.key}.composed[{index}]", entries.line_of(index))
        feed = _feed(sub)
        if feed.id in feeds:
            raise sub.error("id", f"duplicate composed feed id {feed.id!r}")
        if feed.path in paths:
            raise sub.error("path", f"two composed feeds publish {feed.path!r}")
        feeds[feed.id] = feed
        paths.add(feed.path)
    return tuple(feeds.values())


def _feed(sub: Section) -> ComposedFeed:
    feed_id = sub.text("id")
    if not FEED_ID.match(feed_id):
        raise sub.error("id", f"must be lower-case letters, digits, '_' or '-': {feed_id!r}")
    path = sub.text("path", f"feeds/{feed_id}.atom")
    match = FEED_PATH.match(path)
    if not match or match.group(1) in RESERVED_DIRS:
        raise sub.error("path", f"must be <folder>/<name>.atom, the folder not one of "
                                f"{', '.join(sorted(RESERVED_DIRS))}: {path!r}")
    query = _query(sub.get("query", dict), sub.file, f"{sub.key}.query", sub.data.line_of("query"))
    feed = ComposedFeed(id=feed_id, title=sub.text("title"), query=query, path=path,
                        subtitle=sub.text("subtitle", None) or "", icon=sub.url("icon", None))
    sub.finish()
    return feed


def _query(data: Any, file: str, key: str, line: int | None) -> Query:
    if not isinstance(data, LineDict) or len(data) != 1 or next(iter(data)) not in OPERATORS:
        raise ConfigError(f"a query is a mapping with one key, one of: {', '.join(OPERATORS)}",
                          path=file, line=getattr(data, "line", None) or line, key=key)
    ((operator, value),) = data.items()
    where, line = f"{key}.{operator}", data.line_of(operator)
    if operator == "not":
        return Not(_query(value, file, where, line))
    if operator in ("all", "any"):
        if not isinstance(value, LineList) or not value:
            raise ConfigError("must be a non-empty list of queries", path=file, line=line, key=where)
        parts = tuple(_query(v, file, f"{where}[{n}]", value.line_of(n)) for n, v in enumerate(value))
        return All(parts) if operator == "all" else AnyOf(parts)
    return Term(operator, _values(operator, value, (file, line, where)), (file, line, where))


def _values(facet: str, value: Any, origin: Origin) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not (isinstance(values, list) and values and all(isinstance(v, str) and v.strip() for v in values)):
        raise ConfigError(f"must be a {facet} or a non-empty list of them", path=origin[0], line=origin[1],
                          key=origin[2])
    if facet == "country":
        bad = [v for v in values if not COUNTRY.match(v)]
        if bad:
            raise ConfigError(f"{bad[0]!r} is not an ISO 3166-1 alpha-2 code (upper case)", path=origin[0],
                              line=origin[1], key=origin[2])
        return tuple(values)
    if facet == "language":
        bad = [v for v in values if not LANGUAGE.match(v.lower())]
        if bad:
            raise ConfigError(f"{bad[0]!r} is not an ISO 639 language code", path=origin[0], line=origin[1],
                              key=origin[2])
        return tuple(v.lower() for v in values)
    return tuple(values)


def check_feeds(feeds: FeedsConfig, registry: Registry) -> None:
    """Composed queries and icons may name only what the registry knows (it loads after the config)."""
    for feed in feeds.options.composed:
        for term, value in unknown_values(feed.query, registry)[:1]:
            file, line, key = term.origin or ("", None, f"composed feed {feed.id}")
            raise ConfigError(f"unknown {term.facet} {value!r} (not in the registry)", path=file or None,
                              line=line, key=key)
    for code in feeds.options.icons:
        if code not in registry.parties:
            file, line, key = feeds.icon_origins.get(code, ("", None, f"feeds.icons.{code}"))
            raise ConfigError(f"unknown party code {code!r}", path=file or None, line=line, key=key)
