"""feeds.publish.hooks: what follows a publish gets the run's outcome, in order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feeds.model import SiteInfo, SourceEvent
from feeds.publish import PublishReport, hooks
from feeds.store import Store

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
SITE = SiteInfo(title="t", base_url="https://feeds.example.org/", author_name="a")


def published(store: Store, tmp_path: Path, written: list[str], site: SiteInfo = SITE) -> hooks.Published:
    return hooks.Published(store, site, tmp_path, PublishReport(written=written), NOW, 0.25)


def test_hooks_run_in_order_with_the_runs_outcome(tmp_path: Path) -> None:
    seen: list[tuple[str, Any]] = []
    with Store(":memory:") as store:
        run = published(store, tmp_path, ["all.atom"])
        hooks.run_hooks([lambda p: seen.append(("first", p.report.written)),
                         lambda p: seen.append(("second", p.seconds))], run)
    assert seen == [("first", ["all.atom"]), ("second", 0.25)]


def test_the_health_hook_writes_the_health_feed_with_events_the_store_cannot_hold(tmp_path: Path) -> None:
    failing = SourceEvent("database (ingest)", NOW, "failure", "disk I/O error")
    with Store(":memory:") as store:
        hooks.health_feed(lambda: [failing])(published(store, tmp_path, []))
    text = (tmp_path / "health.atom").read_text("utf-8")
    assert "database (ingest)" in text and "disk I/O error" in text
    assert (tmp_path / "health.json").is_file()


def test_websub_pings_name_the_changed_feeds_only_when_the_site_has_a_hub(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, str, list[str]]] = []
    monkeypatch.setattr(hooks, "notify_hub", lambda client, hub, urls: calls.append((client, hub, [*urls])))
    client = object()
    ping = hooks.websub_pings(lambda: client)  # type: ignore[arg-type, return-value]
    with Store(":memory:") as store:
        written = ["all.atom", "party/kke.json", "index.html", "feeds.opml"]
        ping(published(store, tmp_path, written))  # no hub: nothing
        ping(published(store, tmp_path, written, replace(SITE, hub_url="https://hub.example/")))
        ping(published(store, tmp_path, ["index.html"], replace(SITE, hub_url="https://hub.example/")))
    assert calls == [(client, "https://hub.example/", ["https://feeds.example.org/all.atom",
                                                       "https://feeds.example.org/party/kke.json"])]
