"""Operator commands about sources: importing OPML, the status table (text or JSON)."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from feeds.errors import ConfigError, ParseError
from feeds.fetch import polling
from feeds.model import SourceSpec, SourceState
from feeds.parse.opml_import import party_for_host, read_opml, slug
from feeds.parse.yamldoc import dump_yaml, load_yaml
from feeds.publish.write import write_if_changed
from feeds.reports import Progress, Step
from feeds.store.interface import Storage
from feeds.tag.registry import Registry
from scheduler.config import Config

COLUMNS = ("source", "status", "last success", "items", "next fetch", "last error")
MIN_ERROR_WIDTH = 40  # narrower than this, the last error goes under its row, ERROR_INDENT in
ERROR_INDENT = 4


def import_opml(config: Config, registry: Registry, opml_path: Path,
                progress: Progress | None = None) -> list[SourceSpec]:
    """Append the OPML file's feeds that are new (by URL) to the sources file; return them."""
    try:
        subscriptions = read_opml(opml_path.read_bytes(), str(opml_path))
    except OSError as exc:
        raise ParseError(f"{opml_path}: cannot read: {exc.strerror or exc}") from exc
    known_urls = {spec.url for spec in config.sources}
    taken = {spec.id for spec in config.sources}
    added: list[SourceSpec] = []
    for sub in subscriptions:
        if progress is not None:
            progress(Step("subscriptions", len(subscriptions), 1, {"new": len(added)}))
        if sub.url in known_urls:
            continue
        spec = SourceSpec(id=free_id(slug(sub.title), taken), url=sub.url,
                          party=party_for_host(sub.site_url or sub.url, registry),
                          language=sub.language, title=sub.title)
        taken.add(spec.id)
        known_urls.add(spec.url)
        added.append(spec)
    if added:
        _append_sources(config.sources_file, added)
    return added


def free_id(base: str, taken: set[str]) -> str:
    """`base`, or `base-2`, `base-3`, ...: the first that is not `taken`."""
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


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One configured source as the store remembers it: what `partyfeeds sources` shows."""

    spec: SourceSpec
    state: SourceState | None
    status: str  # new | ok | error | retired | disabled
    due: bool

    def as_json(self) -> dict[str, Any]:
        state = self.state
        return {
            "source": self.spec.id, "status": self.status, "url": state.url if state else self.spec.url,
            "last_success": _iso(state.last_success if state else None),
            "last_attempt": _iso(state.last_attempt if state else None),
            "last_error": state.last_error if state else None,
            "error_count": state.error_count if state else 0,
            "malformed": state.malformed if state else None,
            "items": state.item_count if state else 0,
            "next_fetch": _iso(state.next_fetch if state and not self.due else None), "due": self.due,
        }

    def cells(self) -> tuple[str, ...]:
        """The table's cells, the last error last (it is the one that wraps)."""
        state = self.state
        if self.due:
            next_fetch = "due"
        elif state is not None and self.status not in ("disabled", "retired"):
            next_fetch = _when(state.next_fetch)
        else:
            next_fetch = "-"
        error = (state.last_error if state else None) or "-"
        return (self.spec.id, self.status, _when(state.last_success if state else None),
                str(state.item_count if state else 0), next_fetch, error)


def source_rows(config: Config, store: Storage, now: datetime) -> list[SourceRow]:
    """One row per configured source: its status as the store remembers it."""
    return [_row(spec, store.source_state(spec.id), now) for spec in config.sources]


def _row(spec: SourceSpec, state: SourceState | None, now: datetime) -> SourceRow:
    if not spec.enabled:
        status = "disabled"
    elif state is None:
        status = "new"
    elif state.retired:
        status = "retired"
    else:
        status = "error" if state.error_count else "ok"
    due = status in ("new", "ok", "error") and (state is None or polling.is_due(state, now))
    return SourceRow(spec, state, status, due)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def format_table(rows: list[SourceRow], width: int | None = None) -> str:
    """A plain text table with a header row, columns padded to their widest cell, the last error
    shown whole: on one line if `width` is None; else wrapped to `width` characters in its
    column, or, when the terminal leaves the column less than MIN_ERROR_WIDTH, on lines of its
    own under the source's row."""
    cells = [row.cells() for row in rows]
    widths = [max(len(cell[i]) for cell in [COLUMNS, *cells]) for i in range(len(COLUMNS) - 1)]
    indent = sum(widths) + 2 * len(widths)
    if width is not None and width - indent < MIN_ERROR_WIDTH:
        return "\n".join(_row_then_error(cell, widths, width) for cell in [COLUMNS[:-1], *cells])
    lines = []
    for cell in [COLUMNS, *cells]:
        first, *more = _wrapped(cell[-1], None if width is None else width - indent)
        lines.append(f"{_padded(cell, widths)}  {first}".rstrip())
        lines += [" " * indent + part for part in more]
    return "\n".join(lines)


def _padded(cells: tuple[str, ...], widths: list[int]) -> str:
    return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=False))


def _row_then_error(cells: tuple[str, ...], widths: list[int], width: int) -> str:
    """A row without its last error, then the error (if any) indented under it."""
    head = _padded(cells, widths).rstrip()
    if len(cells) < len(COLUMNS) or cells[-1] == "-":
        return head
    pad = " " * ERROR_INDENT
    return "\n".join([head, *(pad + part for part in _wrapped(cells[-1], max(20, width - ERROR_INDENT)))])


def _wrapped(text: str, width: int | None) -> list[str]:
    """`text` in lines of at most `width` characters, broken at spaces where it can be (a long
    URL is cut): nothing but the spaces at the breaks is left out."""
    if width is None or len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, break_on_hyphens=False) or [text]


def format_json(rows: list[SourceRow]) -> str:
    return json.dumps([row.as_json() for row in rows], ensure_ascii=False, indent=2)
