"""Progress of long work: the pipeline reports steps; the command line draws them only on a terminal."""

from __future__ import annotations

import io
import logging
from datetime import datetime
from pathlib import Path

import pytest

from feeds import pipeline
from feeds.model import SiteInfo
from feeds.reports import Step
from feeds.store import Store
from feeds.tag import Tagger
from feeds.tag.registry import Registry
from scheduler.progress import Bars, progress_bars

ROOT = Path(__file__).resolve().parent.parent
SITE = SiteInfo(title="t", base_url="http://127.0.0.1:8080/", author_name="a")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_seed_ingest_and_publish_report_every_document_and_file(tmp_path: Path, tagger: Tagger,
                                                                registry: Registry, now: datetime) -> None:
    steps: list[Step] = []
    with Store(":memory:") as store:
        report = pipeline.ingest_seeds(store, tagger, [ROOT / "seeds"], now, progress=steps.append)
        published = pipeline.publish(store, registry, SITE, tmp_path, now=now, progress=steps.append)
    seeds = [s for s in steps if s.stage == "seed documents"]
    assert len(seeds) == seeds[0].total == 1 and seeds[-1].counts == {"new": report.new, "merged": 0}
    files = [s for s in steps if s.stage == "files"]
    rendered = sum(s.done for s in files)
    assert rendered == files[0].total == len([p for p in published.written if p.endswith((".atom", ".json"))])


def test_bars_are_drawn_on_a_terminal_only() -> None:
    with progress_bars(io.StringIO()) as progress:
        assert progress is None  # not a terminal: the log lines stay as they are
    screen = Terminal()
    with progress_bars(screen) as progress:
        assert isinstance(progress, Bars)
        for n in range(3):
            progress(Step("sources", 3, 1, {"new": n}))
        logging.getLogger("feeds.test").warning("a log line above the bars")
    text = screen.getvalue()
    assert "sources" in text and "3/3" in text and "new=2" in text


@pytest.mark.slow  # a local server
def test_sources_report_each_one_stored(tmp_path: Path, tagger: Tagger, now: datetime) -> None:
    from feeds.fetch import FetchSettings, make_client
    from feeds.model import SourceSpec
    from tests.localserver import LocalServer, Reply

    settings = FetchSettings(user_agent="t", block_private=False)
    feed = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item><title>KKE on wages'
            b'</title><link>https://x.example/1</link></item></channel></rss>')
    steps: list[Step] = []
    with LocalServer() as server, make_client(settings) as client, Store(tmp_path / "s.sqlite") as store:
        server.script("/a.rss", Reply(body=feed))
        specs = [SourceSpec("a", server.url("/a.rss")), SourceSpec("b", server.url("/missing.rss"))]
        pipeline.ingest_sources(store, tagger, client, specs, settings, now, force=True,
                                progress=steps.append)
    assert [(s.stage, s.total, s.done) for s in steps] == [("sources", 2, 1)] * 2
    assert steps[-1].counts == {"new": 1, "merged": 0}
