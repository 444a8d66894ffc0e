"""Operator commands about sources: importing OPML, the status table."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from feeds import polling
from feeds.errors import ConfigError, ParseError
from feeds.model import SourceSpec, SourceState
from feeds.opml_import import party_for_host, read_opml, slug
from feeds.registry import Registry
from feeds.store import Store
from feeds.write import write_if_changed
from feeds.yamldoc import dump_yaml, load_yaml
from scheduler.config import Config

COLUMNS = ("source", "status", "last success", "last error", "items", "next fetch")


def import_opml(config: Config, registry: Registry, opml_path: Path) -> list[SourceSpec]:
    """Append the OPML file's feeds that are new (by URL) to the sources file; return them."""
    try:
        subscriptions = read_opml(opml_path.read_bytes(), str(opml_path))
    except OSError as exc:
        raise ParseError(f"{opml_path}: cannot read: {exc.strerror or exc}") from exc
    known_urls = {spec.url for spec in config.sources}
    taken = {spec.id for spec in config.sources}
    added = []
    for sub in subscriptions:
        if sub.url in known_urls:
            continue
        spec = SourceSpec(id=_free_id(slug(sub.title), taken), url=sub.url,
                          party=party_for_host(sub.site_url or sub.url, registry),
                          language=sub.language, title=sub.title)
        taken.add(spec.id)
        known_urls.add(spec.url)
        added.append(spec)
    if added:
        _append_sources(config.sources_file, added)
    return added


def _free_id(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _append_sources(path: Path, specs: list[SourceSpec]) -> None:
    document: Any = load_yaml(path, ConfigError) if path.exists() else None
    if document is None:
        document = {"sources": []}
    if not isinstance(document, dict) or not isinstance(document.get("sources") or [], list):
        raise ConfigError("expected a mapping with a `sources:` list", path=str(path), line=1)
    entries = [dict(entry) for entry in document.get("sources") or []]
    for spec in specs:
        entry = {"id": spec.id, "url": spec.url, "title": spec.title, "party": spec.party,
                 "language": spec.language}
        entries.append({k: v for k, v in entry.items() if v is not None})
    header = "# Sources added by `partyfeeds import-opml`; edit freely (same keys as `sources:`).\n"
    write_if_changed(path.parent, path.name, (header + dump_yaml({"sources": entries})).encode())


def source_rows(config: Config, store: Store, now: datetime) -> list[tuple[str, ...]]:
    """One row per configured source: its status as the store remembers it."""
    return [_row(spec, store.source_state(spec.id), now) for spec in config.sources]


def _row(spec: SourceSpec, state: SourceState | None, now: datetime) -> tuple[str, ...]:
    if not spec.enabled:
        status = "disabled"
    elif state is None:
        status = "new"
    elif state.retired:
        status = "retired"
    else:
        status = "error" if state.error_count else "ok"
    next_fetch = "-"
    if spec.enabled and state is not None and not state.retired:
        next_fetch = "due" if polling.is_due(state, now) else _when(state.next_fetch)
    elif spec.enabled and state is None:
        next_fetch = "due"
    error = (state.last_error or "-") if state else "-"
    return (spec.id, status, _when(state.last_success if state else None), _shorten(error, 60),
            str(state.item_count if state else 0), next_fetch)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(rows: list[tuple[str, ...]]) -> str:
    """A plain text table with a header row, columns padded to their widest cell."""
    table = [COLUMNS, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in table)
