"""Measure RFC 5005 archives: publish a synthetic store, then walk all.atom's chain over HTTP.

    .venv/bin/python -m bench.archive_walk [--items 5000] [--page-size 50] [--head 50]

Builds an on-disk store of N items (5 parties, 4 topics, 3 languages, one item a minute),
publishes it (first run: every head and archive page; second run: nothing changes), serves
the output with scheduler.server.FeedServer and walks all.atom (prev-archive) and all.json
(next_url) like a client, validating every document. Prints documents, entries, bytes and times.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from feeds import pipeline
from feeds.model import Item, SiteInfo, SourceRef, item_id
from feeds.publish.compose import PublishOptions
from feeds.store import Store
from feeds.tag.registry import load_registry
from scheduler.server import FeedServer
from tests.feedwalk import walk_atom, walk_json

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 1, 1, tzinfo=UTC)
PARTIES = ("kke", "tkp", "psl", "pcch", "dkp")
TOPICS = ("palestine", "elections", "interviews", "solidarity_action")
LANGUAGES = ("en", "el", "es")


def item(n: int) -> Item:
    text = f"Statement {n}: " + "the party calls for solidarity and struggle. " * 8
    return Item(id=item_id(f"bench-{n}"), title=f"Statement number {n}", link=f"https://example.org/{n}",
                summary=f"<p>{text}</p>", content=f"<p>{text}</p>" * 3, published=T0 + timedelta(minutes=n),
                updated=T0 + timedelta(minutes=n), language=LANGUAGES[n % 3],
                sources=(SourceRef("agency", "Agency", f"https://example.org/{n}"),),
                parties=(PARTIES[n % 5],), topics=(TOPICS[n % 4],))


def fill(store: Store, count: int) -> None:
    with store.transaction():
        for n in range(count):
            one = item(n)
            store.save(one, keys=[one.id], bands=[], revision="", first_seen=T0)


def timed(label: str, action):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = action()
    print(f"{label}: {time.perf_counter() - started:.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--head", type=int, default=50, help="entries_per_feed: the head's minimum")
    args = parser.parse_args()
    registry = load_registry(ROOT / "registry" / "parties.yaml", ROOT / "registry" / "topics.yaml")
    options = PublishOptions(archive_page_size=args.page_size, by_language=True)
    with tempfile.TemporaryDirectory() as folder, FeedServer(Path(folder) / "public") as server:
        out = Path(folder) / "public"
        site = SiteInfo(title="bench", base_url=server.url, author_name="bench", entries_per_feed=args.head)
        store = Store(Path(folder) / "bench.sqlite")
        timed(f"store {args.items} items", lambda: fill(store, args.items))
        def publish() -> pipeline.PublishReport:
            return pipeline.publish(store, registry, site, out, options, now=T0, workers=2)  # as config.yaml

        first = timed("first publish", publish)
        again = timed("second publish (unchanged input)", publish)
        print(f"first publish wrote {len(first.written)} files; second wrote {len(again.written)}")
        with httpx.Client(timeout=30) as client:
            head = server.url + "all.atom"
            atom = timed("walk all.atom (validating every document)", lambda: walk_atom(client, head))
            raw = timed("walk all.atom (parse only)", lambda: walk_atom(client, head, validate=False))
            json_head = server.url + "all.json"
            json_walk = timed("walk all.json (validating)", lambda: walk_json(client, json_head))
        for name, walk in (("all.atom", atom), ("all.atom", raw), ("all.json", json_walk)):
            unique = len(set(walk.entry_ids))
            print(f"{name}: {len(walk.documents)} documents, {len(walk.entry_ids)} entries "
                  f"({unique} distinct), {walk.bytes / 2**20:.1f} MiB")
        assert len(atom.entry_ids) == len(set(atom.entry_ids)) == args.items
        store.close()


if __name__ == "__main__":
    main()
