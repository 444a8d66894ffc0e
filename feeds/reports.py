"""What ingest runs report: per run, per source, and the changes in a source's health.

`source_line` is the one INFO/WARNING line per source per run (feeds.pipeline logs it);
`health_events` are what the operator's health feed (feeds/publish/__init__.py) shows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from feeds.model import SourceEvent, SourceState


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did, per outcome."""

    new: int = 0
    merged: int = 0
    revised: int = 0
    unchanged: int = 0
    empty: int = 0  # entries with nothing usable in them, skipped
    recovered: int = 0  # entries kept from a document that was not well-formed
    errors: list[str] = field(default_factory=list)  # malformed seed documents
    sources_failed: list[str] = field(default_factory=list)  # ids of sources whose poll failed

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def counts(self) -> tuple[int, int, int]:
        """(new, merged, revised) so far."""
        return self.new, self.merged, self.revised


@dataclass(frozen=True, slots=True)
class Step:
    """Progress of long work, for whoever shows it (the command line's progress bars): `done`
    more of `total` things of `stage` ("sources", "seed documents", "files"), and running counts."""

    stage: str
    total: int
    done: int = 1
    counts: Mapping[str, int] = field(default_factory=dict)


Progress = Callable[[Step], None]


@dataclass(slots=True)
class SourceReport:
    """What one poll of one source did."""

    source_id: str
    status: str  # ok | not_modified | unchanged | gone | error
    error: str | None = None
    ingest: IngestReport = field(default_factory=IngestReport)
    moved_to: str | None = None  # where a chain of permanent redirects (301/308) led
    malformed: str | None = None  # what made the new body not well-formed, its entries recovered
    encoding_note: str | None = None  # how the body was decoded, when not as the feed declared

    @property
    def failed(self) -> bool:
        return self.status in ("error", "gone")


def source_line(report: SourceReport, state: SourceState) -> tuple[int, str]:
    """The log level and key=value line of one poll; `state` is the source's state after it."""
    ingest = report.ingest
    if report.status == "ok":
        line = (f"source={report.source_id} status=ok new={ingest.new} merged={ingest.merged} "
                f"revised={ingest.revised} unchanged={ingest.unchanged}")
        if ingest.recovered:
            line += f" recovered={ingest.recovered} malformed={_quoted(report.malformed)}"
        if ingest.empty:
            line += f" empty={ingest.empty}"
        if report.encoding_note:  # `encoding=… declared=… how=…`: the declaration was not followed
            line += f" {report.encoding_note}"
        return logging.INFO, line + _move(report, state)
    if report.status in ("not_modified", "unchanged"):
        return logging.INFO, f"source={report.source_id} status={report.status}{_move(report, state)}"
    next_fetch = state.next_fetch.isoformat() if state.next_fetch else "never"
    return logging.WARNING, (f"source={report.source_id} status={report.status} "
                             f"error={_quoted(report.error)} next_fetch={next_fetch}{_move(report, state)}")


def _move(report: SourceReport, state: SourceState) -> str:
    """A permanent redirect: `move=stored` once the source's URL is the new one, else pending
    (polling.MOVE_CONFIRMATIONS)."""
    if report.moved_to is None:
        return ""
    done = "stored" if state.url == report.moved_to else "pending"
    return f" moved_to={report.moved_to} move={done}"


def _quoted(text: str | None) -> str:
    return json.dumps(text or "", ensure_ascii=False)


def health_events(before: SourceState, after: SourceState, now: datetime) -> list[SourceEvent]:
    """The changes in health between two states of a source that the operator should hear of."""
    events = []
    source = after.source_id
    if after.retired and not before.retired:
        events.append(SourceEvent(source, now, "retired", after.last_error or "retired"))
    elif after.error_count and not before.error_count:
        events.append(SourceEvent(source, now, "failure", after.last_error or "failed"))
    elif before.error_count and not after.error_count:
        events.append(SourceEvent(source, now, "recovery",
                                  f"fetched successfully after {before.error_count} failed attempts"))
    if after.url != before.url:
        events.append(SourceEvent(source, now, "moved",
                                  f"moved permanently (HTTP 301/308) from {before.url} to {after.url}; it is "
                                  "polled there now: put the new URL in the configuration"))
    if after.malformed and not before.malformed:
        events.append(SourceEvent(source, now, "malformed",
                                  f"its feed is not well-formed XML ({after.malformed}); its entries were "
                                  "recovered, but a worse fault could lose some: ask the site to fix it"))
    return events
