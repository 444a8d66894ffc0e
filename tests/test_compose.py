"""feeds.publish.compose (resolving queries, feed plans) and scheduler.feedconfig (`feeds:` in the config)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from feeds import pipeline
from feeds.errors import ConfigError
from feeds.model import SiteInfo
from feeds.publish.compose import PublishOptions, plan, resolve
from feeds.store import Store
from feeds.store.query import All, Any, Not, Term
from feeds.tag import Tagger
from feeds.tag.registry import Registry
from scheduler.config import load_config
from scheduler.jobs import check_source_parties
from tests.atomcheck import assert_valid_atom

ROOT = Path(__file__).resolve().parent.parent
A = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SITE = SiteInfo(title="t", base_url="https://feeds.example.org/", author_name="a")


def test_countries_and_regions_resolve_to_their_parties(registry: Registry) -> None:
    greece = resolve(Term("country", ("GR",)), registry)
    assert isinstance(greece, Term) and greece.facet == "party" and "kke" in greece.values
    assert all(registry.parties[code].country == "GR" for code in greece.values)
    americas = resolve(Any((Term("region", ("americas",)), Term("topic", ("palestine",)))), registry)
    assert isinstance(americas, Any) and isinstance(americas.parts[0], Term)
    assert {"pcch", "psl"} <= set(americas.parts[0].values) and "kke" not in americas.parts[0].values
    assert resolve(Term("country", ("NZ",)), registry) == Term("party", ())  # no party yet: selects nothing


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
