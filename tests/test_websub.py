"""WebSub: feeds name the hub, and the hub hears about every changed feed."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import yaml
from lxml import etree

from feeds.fetch import FetchSettings, make_client
from feeds.publish.websub import notify_hub
from tests.test_daemon import ROOT, Service

pytestmark = pytest.mark.slow  # starts servers or processes: `pytest -m "not slow"` leaves it out

A = "{http://www.w3.org/2005/Atom}"


class Hub(http.server.ThreadingHTTPServer):
    """A WebSub hub on 127.0.0.1 that records publish pings."""

    def __init__(self, status: int = 204) -> None:
        self.pings: list[dict[str, list[str]]] = []
        self.status = status
        super().__init__(("127.0.0.1", 0), HubHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hub"


class HubHandler(http.server.BaseHTTPRequestHandler):
    server: Hub

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.server.pings.append(parse_qs(body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[Hub]:
    server = Hub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_notify_hub_posts_one_publish_ping_per_feed(hub: Hub) -> None:
    settings = FetchSettings(user_agent="partyfeeds-test", allow_hosts=("127.0.0.1",))
    with make_client(settings) as client:
        outcome = notify_hub(client, hub.url, ["https://f.example/all.atom", "https://f.example/a.json"])
    assert outcome == {"https://f.example/all.atom": 204, "https://f.example/a.json": 204}
    assert hub.pings == [{"hub.mode": ["publish"], "hub.url": ["https://f.example/all.atom"]},
                         {"hub.mode": ["publish"], "hub.url": ["https://f.example/a.json"]}]


def test_a_failing_hub_is_reported_not_raised(hub: Hub) -> None:
    hub.status = 500
    with make_client(FetchSettings(user_agent="t", allow_hosts=("127.0.0.1",))) as client:
        failed = notify_hub(client, hub.url, ["https://f.example/all.atom"])
        unreachable = notify_hub(client, "http://127.0.0.1:1/hub", ["https://f.example/all.atom"])
    assert failed == {"https://f.example/all.atom": 500}
    assert isinstance(unreachable["https://f.example/all.atom"], str)


def test_the_daemon_links_the_hub_and_pings_it_after_publishing(tmp_path: Path, hub: Hub) -> None:
    config = {
        "site": {"title": "hub test", "base_url": "http://127.0.0.1:8080/", "author": {"name": "t"},
                 "hub_url": hub.url},
        "storage": {"database": "state/pf.sqlite"},
        "seeds": {"paths": [str(ROOT / "seeds")]},
        "registry": {"parties": str(ROOT / "registry" / "parties.yaml"),
                     "topics": str(ROOT / "registry" / "topics.yaml")},
        "server": {"port": 0},
        "fetch": {"allow_hosts": ["127.0.0.1"]},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), "utf-8")
    service = Service(tmp_path)
    try:
        service.wait_for(lambda: any(p.get("hub.url") == ["http://127.0.0.1:8080/party/kke.atom"]
                                     for p in hub.pings))
        _, _, body = service.get("/party/kke.atom")
        links = etree.fromstring(body).iter(f"{A}link")
        hubs = [link.get("href") for link in links if link.get("rel") == "hub"]
        assert hubs == [hub.url]
        assert all(p["hub.mode"] == ["publish"] for p in hub.pings)
    finally:
        assert service.terminate() == 0
