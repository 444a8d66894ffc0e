"""feeds.publish.compose (queries, SQL, feed plans) and scheduler.feedconfig (the `feeds:` config section)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from feeds import pipeline
from feeds.errors import ConfigError
from feeds.model import Item, SiteInfo, item_id
from feeds.publish.compose import (
    All,
    Any,
    Not,
    PublishOptions,
    Query,
    Term,
    candidates_sql,
    listing_sql,
    plan,
    resolve,
    where_sql,
)
from feeds.store import Store
from feeds.tag import Tagger
from feeds.tag.registry import Registry
from scheduler.config import load_config
from scheduler.jobs import check_source_parties
from tests.atomcheck import assert_valid_atom

ROOT = Path(__file__).resolve().parent.parent
A = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SITE = SiteInfo(title="t", base_url="https://feeds.example.org/", author_name="a")


# --- queries select in SQL what they mean -----------------------------------------------------------

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
]


@pytest.mark.parametrize(("query", "oracle"), QUERIES)
def test_query_selects_in_sql_what_it_means(query: Query, oracle: Callable[[Item], bool]) -> None:
    items = sample()
    _, selected = _history(items, query)
    assert selected == [i.id for i in sorted(items, key=lambda i: (i.updated, i.id)) if oracle(i)]
    assert 0 < len(selected) < len(items) or isinstance(query, Term)


def _history(items: list[Item], query: Query, candidates: tuple[str, list[str]] | None = None,
             listing: tuple[str, list[str]] | None = None) -> tuple[Store, list[str]]:
    """A store of `items` and the ids of the feed history `query` grows in it."""
    store = Store(":memory:")
    with store.transaction():
        for item in items:
            store.save(item, keys=[item.id], bands=[], revision="", first_seen=T0)
        store.sync_feed_log("q", "q")
        store.extend_feed_log("q", *where_sql(query), candidates=candidates, listing=listing)
    return store, [i.id for i in store.feed_log_items("q", 1, 10_000)]


QUERIES_MORE: list[tuple[Query, Callable[[Item], bool]]] = [
    (Any((Term("party", ("pcch",)), Term("topic", ("palestine",)))),
     lambda i: "pcch" in i.parties or "palestine" in i.topics),
    (All((Term("language", ("es",)), Term("party", ("kke", "pcch")))),
     lambda i: lang(i, "es") and bool({"kke", "pcch"} & set(i.parties))),
]


@pytest.mark.parametrize(("query", "oracle"), QUERIES + QUERIES_MORE)
def test_candidates_only_speed_up_the_selection(query: Query, oracle: Callable[[Item], bool]) -> None:
    """A history grown from the tags' index (candidates_sql) is the one grown from every item."""
    items = sample()
    store, selected = _history(items, query, candidates_sql(query))
    assert selected == [i.id for i in sorted(items, key=lambda i: (i.updated, i.id)) if oracle(i)]
    assert store.present_tags() == set(store.tag_counts())


def tied_and_moved() -> list[Item]:
    """`sample()` with `updated` ties, and some items saved again later under another date and
    other tags (their tag rows must follow, or a history listed off them would be wrong)."""
    items = [replace(item, updated=T0 + timedelta(minutes=n // 4)) for n, item in enumerate(sample())]
    moved = [replace(item, updated=T0 - timedelta(days=1), parties=("tkp",), topics=("palestine",))
             for item in items[::7]]
    return items + moved


@pytest.mark.parametrize(("query", "oracle"), QUERIES + QUERIES_MORE)
def test_a_history_listed_off_the_tags_is_the_one_grown_from_every_item(
        query: Query, oracle: Callable[[Item], bool]) -> None:
    items = tied_and_moved()
    _, expected = _history(items, query)
    _, listed = _history(items, query, listing=listing_sql(query))
    assert listed == expected
    latest = list({item.id: item for item in items}.values())  # the later save of an id wins
    assert listed == [i.id for i in sorted(latest, key=lambda i: (i.updated, i.id)) if oracle(i)]
    assert (listing_sql(query) is not None) == (isinstance(query, Term) and query.facet in ("party", "topic")
                                                and bool(query.values))


def test_countries_and_regions_resolve_to_their_parties(registry: Registry) -> None:
    greece = resolve(Term("country", ("GR",)), registry)
    assert isinstance(greece, Term) and greece.facet == "party" and "kke" in greece.values
    assert all(registry.parties[code].country == "GR" for code in greece.values)
    americas = resolve(Any((Term("region", ("americas",)), Term("topic", ("palestine",)))), registry)
    assert isinstance(americas, Any) and isinstance(americas.parts[0], Term)
    assert {"pcch", "psl"} <= set(americas.parts[0].values) and "kke" not in americas.parts[0].values
    assert resolve(Term("country", ("NZ",)), registry) == Term("party", ())  # no party yet: selects nothing
    with pytest.raises(ValueError, match="unresolved"):
        where_sql(Term("country", ("GR",)))


# --- plans: titles, links, icons, switches ----------------------------------------------------------


def test_party_and_topic_feeds_carry_names_websites_icons_and_labels(registry: Registry) -> None:
    counts = {("party", "kke"): 2, ("topic", "palestine"): 1, ("party", "unknown"): 1}
    feeds = plan(registry, SITE, counts, ["es"], PublishOptions(icons={"kke": "https://x.example/kke.png"}))
    assert [f.spec.path for f in feeds] == ["all.atom", "party/kke.atom", "topic/palestine.atom"]
    kke = feeds[1]
    assert kke.spec.title == "Communist Party of Greece (KKE)" and kke.spec.website == "https://www.kke.gr"
    assert "Κομμουνιστικό Κόμμα Ελλάδας" in kke.spec.subtitle and kke.icon == "https://x.example/kke.png"
    assert feeds[2].spec.title.startswith(registry.topics["palestine"].label)


def test_country_and_language_feeds_are_published_by_switch(registry: Registry) -> None:
    counts = {("party", "kke"): 2, ("party", "imcwp"): 1}
    on = PublishOptions(by_country=True, by_language=True)
    paths = [f.spec.path for f in plan(registry, SITE, counts, ["es", "el"], on)]
    assert paths == ["all.atom", "party/imcwp.atom", "party/kke.atom", "country/gr.atom",  # XX: no feed
                     "language/el.atom", "language/es.atom"]
    assert len(plan(registry, SITE, counts, ["es"], PublishOptions())) == 3


# --- the feeds: section of the configuration --------------------------------------------------------


def write_config(tmp_path: Path, feeds: str) -> Path:
    config = yaml.safe_load((ROOT / "config.yaml").read_text("utf-8"))
    config.pop("feeds")
    config["seeds"]["paths"] = [str(ROOT / "seeds")]
    config["registry"] = {"parties": str(ROOT / "registry" / "parties.yaml"),
                          "topics": str(ROOT / "registry" / "topics.yaml")}
    config["sources"] = []
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True) + textwrap.dedent(feeds), "utf-8")
    return path


def lines_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if text in line)


FEEDS = """\
feeds:
  archive_page_size: 20
  by_country: true
  icons: {kke: "https://www.kke.gr/icon.png"}
  composed:
    - id: pals
      title: KKE and TKP on Palestine
      query:
        all:
          - party: [kke, tkp]
          - not: {language: en}
          - any: [{topic: palestine}, {region: asia}, {country: PS}]
"""


def test_feeds_section_reads_into_publish_options(tmp_path: Path, registry: Registry) -> None:
    config = load_config(write_config(tmp_path, FEEDS))
    check_source_parties(config, registry)
    options = config.feeds.options
    assert (options.archive_page_size, options.by_country, options.by_language) == (20, True, False)
    assert options.icons == {"kke": "https://www.kke.gr/icon.png"}
    (feed,) = options.composed
    assert (feed.id, feed.path, feed.title) == ("pals", "feeds/pals.atom", "KKE and TKP on Palestine")
    assert feed.query == All((Term("party", ("kke", "tkp")), Not(Term("language", ("en",))),
                              Any((Term("topic", ("palestine",)), Term("region", ("asia",)),
                                   Term("country", ("PS",))))))


@pytest.mark.parametrize(("bad", "good", "key", "message"), [
    ("- party: [kke, tkp]", "- party: [kke, tpk]", "feeds.composed[0].query.all[0].party",
     "unknown party 'tpk'"),
    ("{topic: palestine}", "{topic: palestina}", "feeds.composed[0].query.all[2].any[0].topic",
     "unknown topic 'palestina'"),
    ("{region: asia}", "{region: asiaa}", "feeds.composed[0].query.all[2].any[1].region", "unknown region"),
    ("icons: {kke:", "icons: {kkke:", "feeds.icons.kkke", "unknown party code 'kkke'"),
])
def test_unknown_registry_references_are_errors_with_file_key_and_line(
        tmp_path: Path, registry: Registry, bad: str, good: str, key: str, message: str) -> None:
    path = write_config(tmp_path, FEEDS.replace(bad, good))
    config = load_config(path)  # the shape is fine: only the registry knows these codes
    with pytest.raises(ConfigError) as caught:
        check_source_parties(config, registry)
    error = caught.value
    line = lines_of(path, good.strip("{- "))
    assert (error.path, error.key, error.line) == (str(path.resolve()), key, line)
    assert message in str(error)


@pytest.mark.parametrize(("bad", "good", "message"), [
    ("- party: [kke, tkp]", "- colour: red", "a query is a mapping with one key"),
    ("- party: [kke, tkp]", "- party: []", "non-empty list"),
    ("{language: en}", "{language: english}", "not an ISO 639"),
    ("{country: PS}", "{country: pse}", "ISO 3166-1"),
    ("      query:", "      path: /etc/x.atom\n      query:", "must be <folder>/<name>.atom"),
    ("      query:", "      path: party/kke.atom\n      query:", "must be <folder>/<name>.atom"),
    ("    - id: pals", "    - id: Pals!", "lower-case"),
    ("  by_country: true", "  by_country: yes please", "true or false"),
    ("  archive_page_size: 20", "  archive_page_size: 0", "at least 1"),
    ("  by_country: true", "  by_county: true", "unknown key"),
])
def test_malformed_feeds_section_fails_at_load_naming_the_line(tmp_path: Path, bad: str, good: str,
                                                               message: str) -> None:
    path = write_config(tmp_path, FEEDS.replace(bad, good))
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert caught.value.path == str(path.resolve()) and caught.value.line is not None
    assert caught.value.key and caught.value.key.startswith("feeds")


def test_duplicate_composed_ids_are_refused(tmp_path: Path) -> None:
    twice = FEEDS + FEEDS.split("  composed:\n")[1]
    with pytest.raises(ConfigError, match="duplicate composed feed id 'pals'"):
        load_config(write_config(tmp_path, twice))


def test_the_default_config_publishes_its_composed_feeds(tmp_path: Path, registry: Registry,
                                                         now: datetime) -> None:
    config = load_config(ROOT / "config.yaml")
    check_source_parties(config, registry)
    assert {f.id for f in config.feeds.options.composed} >= {"kke-tkp-palestine", "latin-america"}
    store = Store(":memory:")
    pipeline.ingest_seeds(store, Tagger(registry), [ROOT / "seeds"], now)
    out = tmp_path / "public"
    pipeline.publish(store, registry, SITE, out, config.feeds.options, now=T0)
    palestine = assert_valid_atom((out / "feeds" / "kke-tkp-palestine.atom").read_bytes())
    entries = palestine.findall(f"{A}entry")
    assert len(entries) >= 2
    for entry in entries:
        terms = {c.get("term") for c in entry.findall(f"{A}category")}
        assert {"kke", "tkp"} & terms and "palestine" in terms
    latin = assert_valid_atom((out / "feeds" / "latin-america.atom").read_bytes())
    assert latin.findall(f"{A}entry") and (out / "feeds" / "latin-america.json").is_file()
