"""One bad source never stops the others, and a source that turns hostile keeps what it published.

Two ingest-and-publish cycles in-process against local servers: good sources
mixed with hostile ones (a compression bomb, a stalled server, an entity bomb,
an HTML page, a redirect into the private network), and one source that is
good on the first cycle and hostile on the second.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from feeds import pipeline
from feeds.fetch import make_client
from feeds.model import SiteInfo, SourceSpec
from feeds.store import Store
from feeds.tag import Tagger
from feeds.tag.registry import load_registry
from tests.atomcheck import assert_valid_atom
from tests.hostile_cases import SETTINGS, http_cases, xml_cases
from tests.localserver import LocalServer, Reply

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

ROOT = Path(__file__).resolve().parent.parent
A = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SITE = SiteInfo(title="isolation", base_url="http://127.0.0.1:8080/", author_name="t", entries_per_feed=200)
HOSTILE_HTTP = ("gzip-bomb", "stall-after-headers", "redirect-to-private", "not-http")


def rss(name: str, titles: list[str]) -> bytes:
    items = "".join(f"<item><title>{t}</title><link>https://{name}.example/{n}</link></item>"
                    for n, t in enumerate(titles))
    return f'<rss version="2.0"><channel><title>{name}</title>{items}</channel></rss>'.encode()


GOOD_1 = {"alpha": ["Dockers strike in Piraeus", "Metro workers walk out"],
          "beta": ["Farmers block the highway in Thessaly", "Teachers rally in Ankara"]}
GOOD_2 = {"alpha": ["Shipyard occupation enters its third day"], "beta": ["Nurses win a pay rise in Lisbon"]}
TURNCOAT = ["Harvest festival opens in Lisbon", "Youth congress elects its council"]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        for name in GOOD_1:
            local.script(f"/{name}", Reply(200, body=rss(name, GOOD_1[name])),
                         Reply(200, body=rss(name, GOOD_1[name] + GOOD_2[name])))
        for case in http_cases():
            if case.name in HOSTILE_HTTP:
                local.script(case.path, *case.replies)
        cases = xml_cases("/nonexistent", "http://127.0.0.1:9/x.dtd")
        bomb = next(c for c in cases if c.name == "billion-laughs")
        local.script("/entity-bomb", Reply(200, body=bomb.body))
        local.script("/html", Reply(200, body=b"<!doctype html><html><body>Not a feed</body></html>"))
        local.script("/turncoat", Reply(200, body=rss("turncoat", TURNCOAT)), Reply(200, body=bomb.body))
        yield local


def titles(feed: Path) -> set[str]:
    return {e.findtext(f"{A}title") or "" for e in etree.parse(str(feed)).getroot().iter(f"{A}entry")}


def test_good_sources_go_on_and_published_items_stay(server: LocalServer, tmp_path: Path) -> None:
    paths = ["/alpha", "/beta", "/turncoat", "/entity-bomb", "/html", *(f"/{n}" for n in HOSTILE_HTTP)]
    specs = [SourceSpec(path.strip("/"), server.url(path)) for path in paths]
    registry = load_registry(ROOT / "registry" / "parties.yaml", ROOT / "registry" / "topics.yaml")
    tagger = Tagger(registry)
    with Store(":memory:") as store, make_client(SETTINGS) as client:
        for cycle, now in enumerate((T0, T0 + timedelta(days=2)), start=1):
            reports = pipeline.ingest_sources(store, tagger, client, specs, SETTINGS, now, force=True)
            pipeline.publish(store, registry, SITE, tmp_path, now=T0)
            status = {r.source_id: r.status for r in reports}
            published = titles(tmp_path / "all.atom")
            assert status["alpha"] == status["beta"] == "ok"
            assert {t for name in GOOD_1 for t in GOOD_1[name]} <= published
            assert set(TURNCOAT) <= published  # cycle 2: refused now, yet still published
            assert all(status[p.strip("/")] == "error" for p in paths[3:]), status
            assert status["turncoat"] == ("ok" if cycle == 1 else "error")
            assert_valid_atom((tmp_path / "all.atom").read_bytes())
        assert {t for name in GOOD_2 for t in GOOD_2[name]} <= published
