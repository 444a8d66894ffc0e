"""End to end for the page source kinds: `partyfeeds once`, `try-source` and `discover` as
subprocesses against a listing page, a Telegram preview and feeds on a local server.

A party's feed, its site's listing page and its Telegram channel carry the same stories: they
are ingested, deduplicated into one entry each, tagged and published like feed items; a second
run adds nothing; a page whose layout changed fails on its own source and keeps what it stored.
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

pytestmark = pytest.mark.slow  # starts servers and processes

A = "{http://www.w3.org/2005/Atom}"
PAGES = Path(__file__).parent / "data" / "pages"
HTML = (("Content-Type", "text/html; charset=UTF-8"),)
JERUSALEM = "Statement of the KKE on the recognition of Jerusalem as the capital of Israel"
WORDPRESS = {"item": "article.post", "title": "h2.entry-title a", "link": "h2.entry-title a@href",
             "date": "time.published", "summary": ".entry-summary"}
DRUPAL = {"item": ".view-content > .views-row", "title": ".views-field-title a",
          "link": ".views-field-title a@href", "date": ".views-field-created",
          "summary": ".views-field-body .field-content"}


def page(name: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(200, body=(PAGES / name).read_bytes(), headers=(*HTML, *headers))


@pytest.fixture
def server() -> Iterator[LocalServer]:
    telegram = (PAGES / "telegram-preview.html").read_bytes()
    with LocalServer() as local:
        local.script("/kke.atom", Reply.feed("story-kke.atom", "application/atom+xml",
                                             headers=(("ETag", '"f1"'),)), Reply(304))
        local.script("/en/articles/", page("wordpress-listing.html", headers=(("ETag", '"p1"'),)), Reply(304))
        # the preview counts views: its body changes on every fetch, its messages do not
        local.script("/s/kke_example", Reply(200, body=telegram, headers=HTML),
                     Reply(200, body=telegram.replace(b">12.5K<", b">13.9K<"), headers=HTML))
        local.script("/el/anakoinoseis", page("drupal-listing.html"), page("wordpress-redesigned.html"))
        local.script("/", page("site-with-feeds.html"))
        local.script("/feed/", Reply.feed("story-agency.rss"))
        local.script("/statements.atom", Reply.feed("story-kke.atom", "application/atom+xml"))
        local.script("/sol/", page("site-without-feeds.html"))
        local.script("/sol/rss.xml", Reply.feed("wordpress-tr.rss"))
        yield local


@pytest.fixture
def project(tmp_path: Path, server: LocalServer) -> Path:
    sources = [
        {"id": "kke", "url": server.url("/kke.atom"), "party": "kke"},
        {"id": "kke-site", "kind": "html", "url": server.url("/en/articles/"), "party": "kke",
         "language": "en", "select": WORDPRESS},
        {"id": "kke-telegram", "kind": "telegram", "channel": "kke_example",
         "url": server.url("/s/kke_example"), "party": "kke", "language": "en"},
        {"id": "kke-el", "kind": "html", "url": server.url("/el/anakoinoseis"), "party": "kke",
         "language": "el", "select": DRUPAL},
    ]
    (tmp_path / "seeds").mkdir()
    (tmp_path / "registry-local.yaml").write_text(  # the ICP's site, as the registry would know it
        f"parties:\n  - code: icp_press\n    website: {server.url('/')}\n", "utf-8")
    (tmp_path / "config.yaml").write_text(f"""\
site:
  title: e2e
  base_url: http://127.0.0.1:8080/
  author: {{name: e2e}}
storage: {{database: state/pf.sqlite}}
seeds: {{paths: [seeds]}}
registry:
  parties: {ROOT / "registry" / "parties.yaml"}
  topics: {ROOT / "registry" / "topics.yaml"}
  overrides: [registry-local.yaml]
feeds: {{by_language: true}}
fetch: {{connect_timeout: 2, read_timeout: 2, total_timeout: 5, allow_hosts: ["127.0.0.1"]}}
sources: {json.dumps(sources, ensure_ascii=False)}
""", "utf-8")
    return tmp_path


def entries(feed: bytes) -> list[etree._Element]:
    return list(assert_valid_atom(feed).iter(f"{A}entry"))


def titled(feed: bytes, words: str) -> list[etree._Element]:
    return [entry for entry in entries(feed) if words in (entry.findtext(f"{A}title") or "")]


def test_pages_and_a_channel_are_ingested_merged_tagged_published_and_polled_again(
        project: Path, server: LocalServer) -> None:
    first = partyfeeds("once", cwd=project)
    assert first.returncode == 0, first.stderr
    for source in ("kke", "kke-site", "kke-telegram", "kke-el"):
        assert f"source={source} status=ok" in first.stderr
    published = snapshot(project / "public")
    all_atom = published["all.atom"][0]

    # One entry per story, whichever of the feed, the site's page and the channel carried it.
    story = titled(all_atom, JERUSALEM)
    assert len(story) == 1
    links = {(link.get("rel"), link.get("href")) for link in story[0].iter(f"{A}link")}
    assert ("alternate", "https://inter.kke.example/en/articles/Statement-on-Jerusalem/") in links
    assert ("via", "https://t.me/kke_example/1046") in links
    assert len(titled(all_atom, "KKE delegation at the Regional Meeting in Athens")) == 1
    # Tagged like feed items: the channel's own messages are in the party's and the topics' feeds.
    editorial = titled(published["topic/labour.atom"][0], "the new anti-labour bill")
    assert [e.find(f"{A}link").get("href") for e in editorial] == ["https://t.me/kke_example/1043"]
    assert titled(published["party/kke.atom"][0], "Photos")
    assert titled(published["language/el.atom"][0], "Ιερουσαλήμ")

    # Second run: the page answers 304 to its validator, the channel's preview changed only its
    # view counts, and the Greek page was redesigned: nothing is added, what was stored is kept.
    began = time.monotonic()
    second = partyfeeds("once", cwd=project)
    assert second.returncode == 0, second.stderr
    assert "source=kke-site status=not_modified" in second.stderr
    assert [r.headers.get("if-none-match") for r in server.requests_for("/en/articles/")
            if r.started >= began] == ['"p1"']
    assert "source=kke-telegram status=ok new=0 merged=0 revised=0 unchanged=6" in second.stderr
    assert ('source=kke-el status=error error="the item selector \'.view-content > .views-row\' matches '
            'nothing on the page') in second.stderr
    assert " new=0 merged=0 revised=0 " in second.stderr.splitlines()[-1]
    again = snapshot(project / "public")
    assert again["all.atom"] == published["all.atom"]  # same bytes, not even rewritten
    assert titled(again["language/el.atom"][0], "Ιερουσαλήμ")
    health = entries(again["health.atom"][0])
    assert any("kke-el" in (e.findtext(f"{A}title") or "") for e in health)


def test_try_source_shows_a_page_s_items_and_stores_nothing(project: Path, server: LocalServer) -> None:
    url = server.url("/en/articles/")
    shown = partyfeeds("try-source", url, "--select", *(f"{k}={v}" for k, v in WORDPRESS.items()),
                       "--language", "en", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f'html {url} "Articles – KKE International": 4 items (nothing stored)')
    assert f"\n{JERUSALEM}\n  link:     https://inter.kke.example/en/articles/Statement-on-Jerusalem/\n" \
           "  date:     2017-12-07T00:00:00Z\n" in shown.stdout
    assert "  parties:  kke\n" in shown.stdout and "palestine" in shown.stdout
    assert "date:     none read: the time of its first fetch" in shown.stdout  # "Some time ago"
    configured = partyfeeds("try-source", "kke-telegram", "--json", cwd=project)
    assert configured.returncode == 0, configured.stderr
    tried = json.loads(configured.stdout)
    assert tried["kind"] == "telegram" and len(tried["items"]) == 6
    assert tried["items"][1]["link"] == "https://t.me/kke_example/1046"
    assert tried["items"][1]["published"] == "2017-12-07T10:30:00Z"
    broken = partyfeeds("try-source", server.url("/el/anakoinoseis"), "--select", "item=div[", "title=a",
                        "link=a@href", cwd=project)
    assert broken.returncode == 1 and "--select item: not a CSS selector" in broken.stderr
    assert not (project / "state").exists()  # no store was opened, let alone written


def test_discover_prints_the_feeds_of_a_site_as_sources(project: Path, server: LocalServer) -> None:
    linked = partyfeeds("discover", server.url("/"), cwd=project)
    assert linked.returncode == 0, linked.stderr
    assert f"# {server.url('/feed/')}: rss20, 2 entries, \"International Communist Press\" (autodiscovery)" \
        in linked.stdout
    assert f"# not a feed: {server.url('/comments/feed/')}: HTTP 404" in linked.stdout
    sources = linked.stdout[linked.stdout.index("sources:"):]
    assert sources == (f"sources:\n- id: international-communist-press\n  url: {server.url('/feed/')}\n"
                       "  title: International Communist Press\n  party: icp_press\n  language: en\n"
                       f"- id: kke-international\n  url: {server.url('/statements.atom')}\n"
                       "  title: KKE International\n  party: icp_press\n  language: en\n")
    plain = partyfeeds("discover", server.url("/sol/"), cwd=project)
    assert plain.returncode == 0, plain.stderr
    assert f"# {server.url('/sol/rss.xml')}: rss20, " in plain.stdout and "(common path)" in plain.stdout
    assert "- id: sol-haber-portal\n" in plain.stdout and "not a feed" not in plain.stdout
    nothing = partyfeeds("discover", server.url("/el/anakoinoseis"), cwd=project)
    assert nothing.returncode == 1 and "# no feed found for" in nothing.stdout
    assert "partyfeeds try-source" in nothing.stdout
    assert f"# not a feed: {server.url('/el/feed')}: HTTP 404" in nothing.stdout


def test_check_config_refuses_a_selector_that_does_not_parse(project: Path) -> None:
    config = project / "config.yaml"
    assert partyfeeds("check-config", cwd=project).returncode == 0  # the sources are on line 13
    text = config.read_text("utf-8")
    config.write_text(text.replace('"h2.entry-title a@href"', '"h2.entry-title a[@href"'), "utf-8")
    checked = partyfeeds("check-config", cwd=project)
    assert checked.returncode == 1
    assert f"{config}:13: sources[1].select.link: not a CSS selector" in checked.stderr
