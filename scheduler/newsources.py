"""Helping the operator write a source: `partyfeeds try-source` and `partyfeeds discover`.

`try-source` fetches a URL (or a configured source) once, reads it as its kind would be read
at ingest, and prints what would be stored: titles, links, dates, parties and topics. It
stores nothing. `discover` prints a site's feeds as `sources:` entries ready to paste, with
`import-opml`'s rules: an id from the feed's title, unique among the configured ones, and the
party of a registry party whose site or feed is on the same host (scheduler/sources.py).
The work is feeds/probe.py's; this module builds the source and prints.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from feeds.errors import ConfigError
from feeds.kinds import check as check_kind
from feeds.model import Item, SourceSpec
from feeds.parse.languages import is_language_tag
from feeds.parse.opml_import import party_for_host, slug
from feeds.parse.telegram import CHANNEL
from feeds.parse.yamldoc import dump_yaml
from feeds.probe import Discovery, Tried
from feeds.tag.registry import Registry
from scheduler.config import Config
from scheduler.sources import free_id

TRY_ID = "try-source"


def source_to_try(config: Config, registry: Registry, target: str, *, kind: str | None = None,
                  select: Sequence[str] = (), channel: str | None = None, language: str | None = None,
                  party: str | None = None) -> SourceSpec:
    """The source `try-source` fetches: a configured one by its id, else one for the URL `target`
    (`--select` alone means kind html; a t.me address with `--kind telegram` names its channel).
    The options given replace what the configured source says. ConfigError if it is not usable."""
    configured = next((spec for spec in config.sources if spec.id == target), None)
    if configured is None and urlsplit(target).scheme not in ("http", "https"):
        raise ConfigError(f"neither an http(s) URL nor a configured source's id: {target!r}")
    spec = configured or SourceSpec(TRY_ID, target, kind="html" if select and not kind else "feed")
    changes: dict[str, Any] = {"kind": kind} if kind else {}
    if select:
        changes["select"] = tuple(_field(pair) for pair in select)
    if language is not None:
        changes["language"] = language
    if party is not None:
        changes["party"] = party
    spec = replace(spec, **changes)
    spec = replace(spec, channel=channel or spec.channel or _channel_in(spec))
    _check(spec, registry)
    return spec


def _field(pair: str) -> tuple[str, str]:
    field, equals, css = pair.partition("=")
    if not equals or not field.strip():
        raise ConfigError(f"write each selector as FIELD=CSS (e.g. title='h2 a'), not {pair!r}",
                          key="--select")
    return field.strip(), css.strip()


def _channel_in(spec: SourceSpec) -> str | None:
    """A telegram source's channel, read off a t.me address (`https://t.me/s/<channel>`)."""
    if spec.kind != "telegram":
        return None
    name = urlsplit(spec.url).path.rstrip("/").rpartition("/")[2]
    return name if CHANNEL.fullmatch(name) else None


def _check(spec: SourceSpec, registry: Registry) -> None:
    problem = check_kind(spec)
    if problem is not None:
        raise ConfigError(problem[1], key=f"--{problem[0].replace('.', ' ')}")
    if spec.language is not None and not is_language_tag(spec.language):
        raise ConfigError(f"not a BCP 47 language tag: {spec.language!r}", key="--language")
    if spec.party is not None and spec.party not in registry.parties:
        raise ConfigError(f"unknown party code {spec.party!r}", key="--party")


def format_tried(tried: Tried, now: datetime) -> str:
    """What `try-source` prints: the source, its warnings, then each item."""
    title = f' "{tried.parsed.title}"' if tried.parsed.title else ""
    lines = [f"{tried.spec.kind} {tried.url}{title}: {len(tried.items)} items (nothing stored)"]
    lines += [f"warning: {warning}" for warning in tried.parsed.warnings]
    for item in tried.items:
        lines += ["", item.title, *(f"  {name + ':':<10}{value}" for name, value in _facts(item, now))]
    return "\n".join(lines)


def _facts(item: Item, now: datetime) -> list[tuple[str, str]]:
    undated = "none read: the time of its first fetch" if item.published == now else ""
    return [("link", item.link or "-"), ("date", undated or _utc(item.published)),
            ("language", item.language or "-"), ("parties", ", ".join(item.parties) or "-"),
            ("topics", ", ".join(item.topics) or "-")]


def tried_as_json(tried: Tried, now: datetime) -> str:
    items = [{"title": item.title, "link": item.link,
              "published": None if item.published == now else _utc(item.published),
              "language": item.language, "authors": list(item.authors), "parties": list(item.parties),
              "topics": list(item.topics), "summary": item.summary, "content": item.content}
             for item in tried.items]
    document = {"source": tried.spec.id, "kind": tried.spec.kind, "url": tried.url,
                "title": tried.parsed.title, "warnings": list(tried.parsed.warnings), "items": items}
    return json.dumps(document, ensure_ascii=False, indent=2)


def _utc(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def format_discovery(discovery: Discovery, config: Config, registry: Registry) -> tuple[str, int]:
    """What `discover` prints, and how many new sources it holds: a comment per feed found or
    address tried, then the new feeds as a `sources:` list."""
    configured = {spec.url: spec.id for spec in config.sources}
    taken = {spec.id for spec in config.sources}
    party = party_for_host(discovery.page, registry)
    lines, entries = [], []
    for found in discovery.found:
        title = f', "{found.title}"' if found.title else ""
        note = f"# {found.url}: {found.version}, {found.entries} entries{title} ({found.how})"
        if found.url in configured:
            lines.append(f"{note}: configured already, as {configured[found.url]}")
            continue
        lines.append(note)
        source_id = free_id(slug(found.title or urlsplit(found.url).hostname or "feed"), taken)
        taken.add(source_id)
        entry = {"id": source_id, "url": found.url, "title": found.title,
                 "party": party or party_for_host(found.url, registry),
                 "language": found.language if found.language and is_language_tag(found.language) else None}
        entries.append({key: value for key, value in entry.items() if value is not None})
    lines += [f"# not a feed: {url}: {why.removesuffix(f' from {url}')}" for url, how, why in discovery.tried
              if how == "autodiscovery" or not discovery.found]  # a common path is a guess
    if not discovery.found:
        lines.append(f"# no feed found for {discovery.page}. A page that lists articles can be read as a "
                     f"source of kind html: partyfeeds try-source {discovery.page} --select item=CSS "
                     "title=CSS link=CSS@href")
    if entries:
        lines.append(dump_yaml({"sources": entries}).rstrip())
    return "\n".join(lines), len(entries)
