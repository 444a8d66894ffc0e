"""feeds.store.query and selection: what a feed's query selects, and what identifies it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from feeds.model import Item, item_id
from feeds.store import Store, selection
from feeds.store.query import All, Any, Not, Query, Term, canonical

T0 = datetime(2024, 1, 1, tzinfo=UTC)
COMBOS = [("kke",), ("tkp",), ("kke", "tkp"), ("pcch",), ()]
LANGS = ["es", "es-AR", "en", "el", None]
TOPICS = [("palestine",), (), ("elections", "palestine")]


def sample() -> list[Item]:
    return [Item(id=item_id(f"q{n}"), title=f"Q{n}", link=None, summary="s", content="", published=T0,
                 updated=T0 + timedelta(minutes=n), language=LANGS[n % 5],
                 parties=COMBOS[n % 5 - (n // 5) % 2], topics=TOPICS[n % 3]) for n in range(60)]


def lang(item: Item, code: str) -> bool:
    return (item.language or "").lower().split("-")[0] == code


QUERIES: list[tuple[Query, Callable[[Item], bool]]] = [
    (Term("party", ("kke",)), lambda i: "kke" in i.parties),
    (Term("party", ("kke", "tkp")), lambda i: bool({"kke", "tkp"} & set(i.parties))),
    (All((Term("party", ("kke", "tkp")), Term("topic", ("palestine",)))),
     lambda i: bool({"kke", "tkp"} & set(i.parties)) and "palestine" in i.topics),
    (Any((Term("party", ("pcch",)), Term("language", ("es",)))),
     lambda i: "pcch" in i.parties or lang(i, "es")),
    (Not(Term("language", ("en",))), lambda i: not lang(i, "en")),  # unknown language is "not English"
    (All((Term("topic", ("palestine",)), Not(Term("party", ("kke",))))),
     lambda i: "palestine" in i.topics and "kke" not in i.parties),
    (Term("party", ()), lambda i: False),
    (Any((Term("party", ("pcch",)), Term("topic", ("palestine",)))),
     lambda i: "pcch" in i.parties or "palestine" in i.topics),
    (All((Term("language", ("es",)), Term("party", ("kke", "pcch")))),
     lambda i: lang(i, "es") and bool({"kke", "pcch"} & set(i.parties))),
]


def expected(items: list[Item], oracle: Callable[[Item], bool]) -> list[str]:
    latest = list({item.id: item for item in items}.values())  # the later save of an id wins
    return [i.id for i in sorted(latest, key=lambda i: (i.updated, i.id)) if oracle(i)]


def save(store: Store, items: list[Item]) -> None:
    with store.transaction():
        for item in items:
            store.save(item, keys=[item.id], bands=[], revision="", first_seen=T0)


def history(store: Store, query: Query, since: int = 0) -> list[str]:
    with store.transaction():
        store.sync_feed_log("q", query)
        store.extend_feed_log("q", query, since=since)
    return [i.id for i in store.feed_log_items("q", 1, 10_000)]


@pytest.mark.parametrize(("query", "oracle"), QUERIES)
def test_a_history_filled_at_once_holds_what_the_query_means(query: Query,
                                                            oracle: Callable[[Item], bool]) -> None:
    """A first fill takes the tags' index (a listing or candidates) where one answers."""
    items = sample()
    with Store(":memory:") as store:
        save(store, items)
        selected = history(store, query)
        assert store.present_tags() == set(store.tag_counts())
    assert selected == expected(items, oracle)
    assert 0 < len(selected) < len(items) or isinstance(query, Term)


@pytest.mark.parametrize(("query", "oracle"), QUERIES)
def test_a_history_grown_by_the_changes_since_holds_the_same(query: Query,
                                                             oracle: Callable[[Item], bool]) -> None:
    """Half the items, then the other half and some saved again under other dates and tags, read
    from the change mark on: no index path, the condition alone."""
    items = [replace(item, updated=T0 + timedelta(minutes=n // 4)) for n, item in enumerate(sample())]
    moved = [replace(item, updated=T0 + timedelta(days=1), parties=("tkp",), topics=("palestine",))
             for item in items[::7]]
    with Store(":memory:") as store:
        save(store, items[:30])
        history(store, query)
        mark = store.change_mark()
        save(store, items[30:])
        save(store, moved)
        grown = history(store, query, since=mark)
    # A history only grows: an item that matched before its move keeps its first place.
    first = expected(items[:30], oracle)
    assert grown[:len(first)] == first
    assert set(grown) == set(first) | {i for i in expected(items + moved, oracle)}


def test_a_query_is_identified_by_its_meaning_not_its_sql(monkeypatch: pytest.MonkeyPatch) -> None:
    query = All((Term("party", ("tkp", "kke", "kke")), Not(Term("language", ("EN",)))))
    same = All((Not(Term("language", ("en",))), Term("party", ("kke", "tkp"))))
    assert canonical(query) == canonical(same) != canonical(Any(same.parts))
    assert json.loads(canonical(query)) == ["all", [["not", ["language", ["en"]]], ["party", ["kke", "tkp"]]]]
    assert canonical(None) == "*"
    with Store(":memory:") as store:
        save(store, sample())
        first = history(store, query)
        # Another translation into SQL (here: the same condition written otherwise) keeps the history.
        original = selection.where_sql
        monkeypatch.setattr(selection, "where_sql", lambda q: ((s := original(q))[0] + " AND 1", s[1]))
        monkeypatch.setattr("feeds.store.feedlogs.where_sql", selection.where_sql)
        with store.transaction():
            assert store.sync_feed_log("q", same) is False
        assert [i.id for i in store.feed_log_items("q", 1, 10_000)] == first
        with store.transaction():
            assert store.sync_feed_log("q", Term("party", ("kke",))) is True  # another meaning: restarted
        assert store.feed_log_size("q") == 0


def test_a_history_recorded_as_sql_text_is_kept_and_its_record_rewritten() -> None:
    """Earlier versions recorded a feed's query as its SQL; upgrading keeps the history."""
    query = Term("party", ("kke",))
    with Store(":memory:") as store:
        save(store, sample())
        first = history(store, query)
        with store.transaction():
            store._db.execute("UPDATE feed_logs SET definition = ?", (selection.sql_definition(query),))
            assert store.sync_feed_log("q", query) is False
        definition = store._db.execute("SELECT definition FROM feed_logs").fetchone()[0]
        assert definition == canonical(query)
        assert [i.id for i in store.feed_log_items("q", 1, 10_000)] == first


def test_countries_must_be_resolved_before_the_store_selects() -> None:
    with Store(":memory:") as store, pytest.raises(ValueError, match="unresolved"), store.transaction():
        store.sync_feed_log("q", Term("country", ("GR",)))
        store.extend_feed_log("q", Term("country", ("GR",)))
