"""End to end for external sources: `partyfeeds once` against feeds on a local server.

Good sources are ingested, tagged, merged across sources and published; a
second run sends only conditional requests and changes nothing; sources that
500, time out or serve an HTML page each get a clear error and hurt no one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from tests.atomcheck import assert_valid_atom
from tests.localserver import LocalServer, Reply
from tests.test_cli import ROOT, partyfeeds, snapshot

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

A = "{http://www.w3.org/2005/Atom}"
KKE_LINK = "https://inter.kke.example/en/articles/Statement-on-Jerusalem/"
SEED = """\
- title: The Communist Party of Greece (KKE) condemned the recognition of Jerusalem as Israel's capital
  published: 2017-12-07T09:00:00Z
  language: en
"""
GOOD = ("kke", "agency", "sol")
BAD = ("broken", "slow", "html")


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        validators = (("ETag", '"v1"'), ("Last-Modified", "Thu, 07 Dec 2017 10:00:00 GMT"))
        local.script("/kke.atom", Reply.feed("story-kke.atom", "application/atom+xml", headers=validators),
                     Reply(304))
        local.script("/agency.rss", Reply.feed("story-agency.rss", headers=validators[1:]), Reply(304))
        local.script("/sol.rss", Reply.feed("wordpress-tr.rss", headers=validators[:1]), Reply(304))
        local.script("/broken.rss", Reply(500, body=b"Internal Server Error"))
        local.script("/slow.rss", Reply.feed("rdf-ru.rdf", delay=3))
        local.script("/html.rss", Reply.feed("html-page.html", "text/html; charset=utf-8"))
        yield local


@pytest.fixture
def project(tmp_path: Path, server: LocalServer) -> Path:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "story.yaml").write_text(SEED, "utf-8")
    sources = [
        {"id": "kke", "url": server.url("/kke.atom"), "party": "kke"},
        {"id": "agency", "url": server.url("/agency.rss")},
        {"id": "sol", "url": server.url("/sol.rss"), "language": "tr"},
        {"id": "broken", "url": server.url("/broken.rss")},
        {"id": "slow", "url": server.url("/slow.rss")},
        {"id": "html", "url": server.url("/html.rss")},
    ]
    (tmp_path / "config.yaml").write_text(f"""\
site:
  title: e2e
  base_url: http://127.0.0.1:8080/
  author: {{name: e2e}}
  contact_url: https://example.org/contact
storage: {{database: state/pf.sqlite}}
seeds: {{paths: [seeds]}}
registry:
  parties: {ROOT / "registry" / "parties.yaml"}
  topics: {ROOT / "registry" / "topics.yaml"}
fetch: {{connect_timeout: 1, read_timeout: 1, total_timeout: 2, allow_hosts: ["127.0.0.1"]}}
sources: {json.dumps(sources)}
""", "utf-8")
    return tmp_path


def entries(feed: bytes) -> list[etree._Element]:
    return list(etree.fromstring(feed).iter(f"{A}entry"))


def test_sources_are_ingested_merged_published_then_polled_conditionally(project: Path,
                                                                          server: LocalServer) -> None:
    first = partyfeeds("once", cwd=project)
    assert first.returncode == 0, first.stderr  # failed sources are recorded, not a failed run
    assert " seed_errors=0 sources_failed=3 " in first.stderr and "run status=ok " in first.stderr
    for source in GOOD:
        assert f"source={source} status=ok" in first.stderr
    broken = server.url("/broken.rss")
    assert f'source=broken status=error error="HTTP 500 Internal Server Error from {broken}"' in first.stderr
    assert "source=slow status=error" in first.stderr and "imeout" in first.stderr
    assert "source=html status=error" in first.stderr and "HTML" in first.stderr
    public = project / "public"
    published = snapshot(public)
    for name, (data, _) in published.items():
        if name.endswith(".atom"):
            assert_valid_atom(data)

    # One entry for the KKE story from the party, the agency and the seeds; the party's link leads.
    kke_feed = entries(published["party/kke.atom"][0])
    story = [e for e in kke_feed if "Jerusalem" in (e.findtext(f"{A}title") or "")]
    assert len(story) == 1
    links = {link.get("rel"): link.get("href") for link in story[0].iter(f"{A}link")}
    assert links["alternate"] == KKE_LINK
    assert links["via"].startswith("https://icp.example/news/kke-jerusalem.html")
    # ... while TKP's statement on the same subject stays its own entry.
    tkp_feed = entries(published["party/tkp.atom"][0])
    assert any("TKP" in (e.findtext(f"{A}title") or "") for e in tkp_feed)
    assert all(e.findtext(f"{A}id") != story[0].findtext(f"{A}id") for e in tkp_feed)

    # Requests are recorded when answered; the slow one of the first run may land late,
    # so the second run's requests are those that arrived after it began.
    second_began = time.monotonic()
    second = partyfeeds("once", cwd=project)
    assert second.returncode == 0, second.stderr
    second_requests = [r for r in server.requests if r.started >= second_began]
    assert sorted(r.path for r in second_requests) == ["/agency.rss", "/kke.atom", "/sol.rss"]
    for request in second_requests:
        assert "if-none-match" in request.headers or "if-modified-since" in request.headers
        assert "partyfeeds" in request.headers["user-agent"]
        assert "https://example.org/contact" in request.headers["user-agent"]
    for source in GOOD:
        assert f"source={source} status=not_modified" in second.stderr
    assert snapshot(public) == published

    table = partyfeeds("sources", "--wide", cwd=project).stdout.splitlines()
    rows = {line.split()[0]: line for line in table[1:]}
    assert rows["kke"].split()[1] == "ok" and " 2 " in rows["kke"]
    assert rows["broken"].split()[1] == "error"
    assert rows["broken"].endswith(f"HTTP 500 Internal Server Error from {server.url('/broken.rss')}")
    assert rows["html"].split()[1] == "error"
    listed = {row["source"]: row for row in json.loads(partyfeeds("sources", "--json", cwd=project).stdout)}
    assert listed["html"]["last_error"].startswith("an HTML page, not a feed")
    assert listed["html"]["last_error"].endswith(f"from {server.url('/html.rss')}")
    assert (listed["kke"]["status"], listed["kke"]["items"], listed["kke"]["last_error"]) == ("ok", 2, None)


def test_a_malformed_seed_fails_the_run_and_is_counted_apart_from_failed_sources(project: Path) -> None:
    (project / "seeds" / "bad.yaml").write_text("- title: [unclosed\n", "utf-8")
    run = partyfeeds("once", cwd=project)
    assert run.returncode == 1
    assert "run status=error " in run.stderr and " seed_errors=1 sources_failed=3 " in run.stderr
