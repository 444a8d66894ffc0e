"""True reports: what the source's log line, the health feed and an empty feed say.

Permanent moves (301/308) and feeds whose entries were recovered from malformed XML are
named on the source's line; the operator's health feed tells of a stored move and of a feed
that turned malformed, once; its text is escaped for its type; an empty feed is dated by
its first publish, the same on every publish after.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.html
import pytest
from lxml import etree

from feeds import pipeline
from feeds.fetch import FetchSettings, HttpClient, make_client
from feeds.model import SiteInfo, SourceEvent, SourceSpec
from feeds.store import Store
from feeds.tag import Tagger
from feeds.tag.registry import Registry
from tests.atomcheck import assert_valid_atom, parse_rfc3339
from tests.localserver import FEEDS_DIR, LocalServer, Reply

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

ROOT = Path(__file__).resolve().parent.parent
A = "{http://www.w3.org/2005/Atom}"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SETTINGS = FetchSettings(user_agent="partyfeeds-test", connect_timeout=1, read_timeout=1, total_timeout=3,
                         allow_hosts=("127.0.0.1",))
SITE = SiteInfo(title="reports", base_url="http://127.0.0.1:8080/", author_name="partyfeeds")
RECOVERABLE = (FEEDS_DIR / "recoverable.rss").read_bytes()


@pytest.fixture
def store() -> Iterator[Store]:
    with Store(":memory:") as opened:
        yield opened


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with make_client(SETTINGS) as opened:
        yield opened


def poll(store: Store, registry: Registry, client: HttpClient, spec: SourceSpec, hours: int,
         caplog: pytest.LogCaptureFixture) -> str:
    """Poll `spec` `hours` after NOW; its log line."""
    caplog.clear()
    with caplog.at_level(logging.INFO, "feeds.ingest"):
        pipeline.ingest_sources(store, Tagger(registry), client, [spec], SETTINGS,
                                NOW + timedelta(hours=hours), force=True)
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"source={spec.id} ")]
    return line


def test_a_permanent_move_is_logged_then_stored_and_told_once(store: Store, registry: Registry,
                                                              client: HttpClient, server: LocalServer,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    server.script("/old.rss", Reply.redirect(301, "/new.rss"))
    server.script("/new.rss", Reply.feed("story-agency.rss"))
    spec = SourceSpec("mover", server.url("/old.rss"))
    first = poll(store, registry, client, spec, 0, caplog)
    assert first.startswith("source=mover status=ok new=")
    assert first.endswith(f" moved_to={server.url('/new.rss')} move=pending")
    assert store.source_events(10) == []
    second = poll(store, registry, client, spec, 2, caplog)
    assert second == f"source=mover status=unchanged moved_to={server.url('/new.rss')} move=stored"
    state = store.source_state("mover")
    assert state is not None and state.url == server.url("/new.rss")
    [moved] = store.source_events(10)
    assert moved.kind == "moved" and server.url("/old.rss") in moved.message
    assert server.url("/new.rss") in moved.message and "configuration" in moved.message
    assert poll(store, registry, client, spec, 4, caplog) == "source=mover status=unchanged"
    assert len(store.source_events(10)) == 1


def test_a_moved_failing_source_names_the_move_too(store: Store, registry: Registry, client: HttpClient,
                                                  server: LocalServer,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    server.script("/old.rss", Reply.redirect(308, "/new.rss"))
    server.script("/new.rss", Reply(500))
    line = poll(store, registry, client, SourceSpec("mover", server.url("/old.rss")), 0, caplog)
    assert line.startswith(f'source=mover status=error error="HTTP 500 Internal Server Error from '
                           f'{server.url("/new.rss")}" next_fetch=')
    assert line.endswith(f" moved_to={server.url('/new.rss')} move=pending")


def test_a_salvaged_feed_is_logged_and_told_once_until_it_is_well_formed(
        store: Store, registry: Registry, client: HttpClient, server: LocalServer,
        caplog: pytest.LogCaptureFixture) -> None:
    fixed = RECOVERABLE.replace(b"&", b"&amp;")
    changed = RECOVERABLE.replace(b"diritti", b"diritti, again")
    server.script("/feed.rss", Reply(200, body=RECOVERABLE), Reply(200, body=changed), Reply(200, body=fixed),
                  Reply(200, body=RECOVERABLE))
    spec = SourceSpec("rifondazione", server.url("/feed.rss"))
    line = poll(store, registry, client, spec, 0, caplog)
    assert line.startswith("source=rifondazione status=ok new=1 merged=0 revised=0 unchanged=0 recovered=1 "
                           'malformed="SAXParseException: ')
    [event] = store.source_events(10)
    assert event.kind == "malformed" and "not well-formed" in event.message
    assert "SAXParseException" in event.message
    assert " recovered=1 " in poll(store, registry, client, spec, 2, caplog)  # still malformed: told once
    assert len(store.source_events(10)) == 1
    assert "recovered=" not in poll(store, registry, client, spec, 4, caplog)
    state = store.source_state("rifondazione")
    assert state is not None and state.malformed is None
    poll(store, registry, client, spec, 6, caplog)  # malformed again: told again
    assert [e.kind for e in store.source_events(10)] == ["malformed", "malformed"]


def test_health_feed_text_is_escaped_for_its_type(store: Store, tmp_path: Path) -> None:
    message = ('not a well-formed feed (SAXParseException: <unknown>:1:2: not well-formed) '
               'from http://x.example/feed?a=1&b=<2>')
    with store.transaction():
        store.add_source_event(SourceEvent("broken", NOW, "failure", message))
    pipeline.publish_health(store, SITE, tmp_path, pipeline.PublishReport(), now=NOW)
    root = assert_valid_atom((tmp_path / "health.atom").read_bytes())
    summary = root.find(f"{A}entry/{A}summary")
    assert summary is not None and summary.get("type") == "html"
    assert lxml.html.fragment_fromstring(summary.text or "", create_parent="p").text_content() == message
    [item] = json.loads((tmp_path / "health.json").read_text("utf-8"))["items"]
    assert item["summary"] == message and html.unescape(item["content_html"]) == message


def test_events_of_one_run_have_distinct_updated_in_the_health_feed(store: Store, tmp_path: Path) -> None:
    with store.transaction():
        for source in ("a", "b", "c"):
            store.add_source_event(SourceEvent(source, NOW, "failure", "HTTP 500"))
        store.add_source_event(SourceEvent("d", NOW - timedelta(hours=1), "failure", "HTTP 500"))
    for _ in range(2):  # the same dates on every publish
        pipeline.publish_health(store, SITE, tmp_path, pipeline.PublishReport(), now=NOW)
        root = assert_valid_atom((tmp_path / "health.atom").read_bytes())
        dates = [parse_rfc3339(e.findtext(f"{A}updated") or "") for e in root.findall(f"{A}entry")]
        assert dates == [NOW, NOW - timedelta(microseconds=1), NOW - timedelta(microseconds=2),
                         NOW - timedelta(hours=1)]


def feed_updated(path: Path) -> datetime:
    return parse_rfc3339(etree.fromstring(path.read_bytes()).findtext(f"{A}updated") or "")


def test_an_empty_feed_is_dated_by_its_first_publish_on_every_publish(store: Store, registry: Registry,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "public"
    report = pipeline.publish(store, registry, SITE, out, now=NOW)
    pipeline.publish_health(store, SITE, out, report, now=NOW)
    files = {name: (out / name).read_bytes() for name in ("all.atom", "health.atom")}
    for data in files.values():
        assert_valid_atom(data)
    assert feed_updated(out / "all.atom") == feed_updated(out / "health.atom") == NOW
    later = NOW + timedelta(days=30)
    report = pipeline.publish(store, registry, SITE, out, now=later)
    pipeline.publish_health(store, SITE, out, report, now=later)
    assert {name: (out / name).read_bytes() for name in files} == files


def test_a_feed_published_before_its_first_publish_was_kept_gets_a_real_date(store: Store,
                                                                              registry: Registry,
                                                                              tmp_path: Path) -> None:
    out = tmp_path / "public"
    pipeline.publish(store, registry, SITE, out, now=NOW)
    store._db.execute("UPDATE feed_marks SET first_published = ''")  # as migration 11 leaves them
    later = NOW + timedelta(days=30)
    report = pipeline.publish(store, registry, SITE, out, now=later + timedelta(microseconds=5))
    assert "all.atom" in report.written
    assert feed_updated(out / "all.atom") == later  # in whole seconds
