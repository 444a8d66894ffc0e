"""The store's source rows: polling state, guid maps, health events (a mixin of feeds.store.Store)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from feeds.model import SeedMark, SourceEvent, SourceState
from feeds.store.rows import STATE_FIELDS, chunks, row_to_state, state_row, to_text


class SourceStore:
    """What the store keeps per source; `Store` opens the connection."""

    _db: sqlite3.Connection

    def seed_marks(self) -> dict[str, SeedMark]:
        """What each seed document held when it was last ingested, by path."""
        rows = self._db.execute("SELECT path, size, mtime_ns, sha256, context, items FROM seed_documents")
        return {path: SeedMark(size, mtime_ns, sha256, context, frozenset(json.loads(items)))
                for path, size, mtime_ns, sha256, context, items in rows}

    def save_seed_mark(self, path: str, mark: SeedMark) -> None:
        self._db.execute("INSERT OR REPLACE INTO seed_documents VALUES (?, ?, ?, ?, ?, ?)",
                         (path, mark.size, mark.mtime_ns, mark.sha256, mark.context,
                          json.dumps(sorted(mark.items))))

    def source_state(self, source_id: str) -> SourceState | None:
        row = self._db.execute(f"SELECT {', '.join(STATE_FIELDS)} FROM sources WHERE source_id = ?",
                               (source_id,)).fetchone()
        return None if row is None else row_to_state(row)

    def source_states(self) -> dict[str, SourceState]:
        """Every stored source state by source id, in one query (a poll cycle's start)."""
        rows = self._db.execute(f"SELECT {', '.join(STATE_FIELDS)} FROM sources")
        return {state.source_id: state for state in map(row_to_state, rows)}

    def save_source_state(self, state: SourceState) -> None:
        self.save_source_states([state])

    def save_source_states(self, states: Iterable[SourceState]) -> None:
        """Insert or replace source states, in one statement."""
        self._db.executemany(
            f"INSERT OR REPLACE INTO sources ({', '.join(STATE_FIELDS)}) "
            f"VALUES ({','.join('?' * len(STATE_FIELDS))})", map(state_row, states))

    def guid_links(self, source_id: str) -> dict[str, str]:
        """What each guid of the source pointed at on its last fetch."""
        rows = self._db.execute("SELECT guid, link FROM source_guids WHERE source_id = ?", (source_id,))
        return dict(rows.fetchall())

    def save_guid_links(self, source_id: str, links: Mapping[str, str]) -> None:
        """Replace the source's guid -> link map with `links`."""
        self._db.execute("DELETE FROM source_guids WHERE source_id = ?", (source_id,))
        self._db.executemany("INSERT INTO source_guids VALUES (?, ?, ?)",
                             [(source_id, guid, link) for guid, link in links.items()])

    def add_source_event(self, event: SourceEvent) -> None:
        self._db.execute("INSERT OR REPLACE INTO source_events VALUES (?, ?, ?, ?)",
                         (event.source_id, to_text(event.at), event.kind, event.message))

    def source_events(self, limit: int) -> list[SourceEvent]:
        """The newest `limit` failures and recoveries, newest first."""
        rows = self._db.execute("SELECT source_id, at, kind, message FROM source_events "
                                "ORDER BY at DESC, source_id LIMIT ?", (limit,))
        return [SourceEvent(source, datetime.fromisoformat(at), kind, message)
                for source, at, kind, message in rows]

    def source_item_count(self, source_id: str) -> int:
        row = self._db.execute("SELECT count(*) FROM item_sources WHERE source_id = ?", (source_id,))
        return int(row.fetchone()[0])

    def source_item_counts(self, source_ids: Sequence[str] | None = None) -> dict[str, int]:
        """Items per source: of every source, or only of `source_ids` (absent: none stored)."""
        if source_ids is None:
            rows = self._db.execute("SELECT source_id, count(*) FROM item_sources GROUP BY source_id")
            return dict(rows.fetchall())
        counts: dict[str, int] = {}
        for chunk in chunks(source_ids):  # under SQLite's bound-parameter limit
            rows = self._db.execute("SELECT source_id, count(*) FROM item_sources WHERE source_id IN "
                                    f"({','.join('?' * len(chunk))}) GROUP BY source_id", chunk)
            counts.update(rows.fetchall())
        return counts

    def forget_validators(self, source_ids: Iterable[str]) -> None:
        """Make the next poll of these sources read their feed again, even if it did not change."""
        self._db.executemany("UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = NULL "
                             "WHERE source_id = ?", [(source_id,) for source_id in source_ids])
