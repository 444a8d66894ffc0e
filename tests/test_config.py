from __future__ import annotations

from pathlib import Path

import pytest

from feeds.errors import ConfigError
from scheduler.config import load_config

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """\
site:
  title: Test site
  base_url: http://127.0.0.1:8080/feeds
  author:
    name: Tester
storage:
  database: state/db.sqlite
seeds:
  paths: [seeds]
registry:
  parties: parties.yaml
  topics: topics.yaml
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "parties.yaml").write_text("parties: []\n", encoding="utf-8")
    (tmp_path / "topics.yaml").write_text("topics: []\n", encoding="utf-8")
    return tmp_path


def write_config(config_dir: Path, text: str) -> Path:
    path = config_dir / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_config_loads() -> None:
    config = load_config(ROOT / "config.yaml")
    assert config.site.base_url.endswith("/")
    assert config.output_dir == ROOT / "public"
    assert config.seed_paths == (ROOT / "seeds",)
    assert config.parties_path == ROOT / "registry" / "parties.yaml"


def test_minimal_config_defaults_and_relative_paths(config_dir: Path) -> None:
    config = load_config(write_config(config_dir, MINIMAL))
    assert config.site.base_url == "http://127.0.0.1:8080/feeds/"
    assert config.site.entries_per_feed == 50
    assert config.database == str(config_dir / "state" / "db.sqlite")
    assert config.output_dir == config_dir / "public"
    assert config.sources == ()


def test_seed_publisher_defaults_to_the_site_title(config_dir: Path) -> None:
    assert load_config(write_config(config_dir, MINIMAL)).seed_publisher == "Test site"
    given = MINIMAL.replace("  paths: [seeds]\n", "  paths: [seeds]\n  publisher: Party Press Office\n")
    assert load_config(write_config(config_dir, given)).seed_publisher == "Party Press Office"
    with pytest.raises(ConfigError, match=r"config.yaml:10: seeds.publisher: must be text"):
        load_config(write_config(config_dir, MINIMAL.replace("  paths: [seeds]\n",
                                                            "  paths: [seeds]\n  publisher: [a]\n")))


def test_sources_are_typed(config_dir: Path) -> None:
    text = MINIMAL + """sources:
  - id: kke-902
    url: https://www.902.gr/feed/recent
    party: kke
    language: el
    interval: 900
  - id: agency
    url: https://news.example.org/rss
    enabled: false
"""
    first, second = load_config(write_config(config_dir, text)).sources
    assert (first.id, first.party, first.language, first.interval_seconds) == ("kke-902", "kke", "el", 900)
    assert (second.party, second.enabled, second.interval_seconds) == (None, False, 3600)


@pytest.mark.parametrize(
    ("change", "key", "line", "words"),
    [
        (("  title: Test site\n", "  title: Test site\n  colour: red\n"), "site.colour", 3, "unknown key"),
        (("  title: Test site\n", "  title: 42\n"), "site.title", 2, "must be text"),
        (("base_url: http://127.0.0.1:8080/feeds", "base_url: /feeds"), "site.base_url", 3, "absolute"),
        (("  parties: parties.yaml", "  parties: nowhere.yaml"), "registry.parties", 11, "no such file"),
        (("seeds:\n", "output:\n  entries_per_feed: yes\nseeds:\n"), "output.entries_per_feed", 9,
         "whole number"),
        (("storage:\n  database: state/db.sqlite\n", ""), "storage.database", None, "required key"),
        (("storage:\n  database: state/db.sqlite\n", "storage: [1]\n"), "storage", 6, "must be a mapping"),
    ],
)
def test_config_errors_name_file_key_and_line(config_dir: Path, change: tuple[str, str], key: str,
                                              line: int | None, words: str) -> None:
    text = MINIMAL.replace(*change)
    assert text != MINIMAL
    path = write_config(config_dir, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert (error.path, error.key) == (str(path), key)
    if line is not None:
        assert error.line == line
    assert words in str(error)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("  - id: Bad Id\n    url: https://x.org/rss\n", "lower-case"),
        ("  - id: a\n    url: ftp://x.org/rss\n", "absolute http"),
        ("  - id: a\n    url: https://x.org/rss\n    interval: 5\n", "at least 60"),
        ("  - id: a\n    url: https://x.org/rss\n  - id: a\n    url: https://y.org/rss\n", "duplicate"),
        ("  - id: a\n    url: https://x.org/rss\n    enabled: 1\n", "true or false"),
        ("  - id: a\n    url: https://x.org/rss\n    party_code: kke\n", "unknown key"),
        ("  - id: a\n    url: https://x.org/rss\n    language: greek\n", "BCP 47 language tag"),
        ("  - id: a\n    url: https://x.org/rss\n    language: el_GR\n", "BCP 47 language tag"),
        ("  - id: a\n    url: https://x.org/rss\n    kind: rss\n", r"'rss' \(known: feed, html, telegram\)"),
    ],
)
def test_bad_sources_are_reported(config_dir: Path, source: str, words: str) -> None:
    path = write_config(config_dir, MINIMAL + "sources:\n" + source)
    with pytest.raises(ConfigError, match=words) as caught:
        load_config(path)
    assert caught.value.key is not None and caught.value.key.startswith("sources[")
    assert caught.value.line is not None and caught.value.line > 12


PAGE_SOURCES = """\
sources:
  - id: kke-news
    kind: html
    url: https://inter.kke.example/en/articles/
    party: kke
    language: en
    select:
      item: "article.post"
      title: "h2 a"
      link: "h2 a@href"
      date: "time@datetime"
      summary: ".excerpt"
  - id: kke-telegram
    kind: telegram
    channel: kke_example
  - id: kke-telegram-mirror
    kind: telegram
    channel: kke_example
    url: http://127.0.0.1:8081/s/kke_example
"""


def test_page_sources_carry_their_selectors_and_channel(config_dir: Path) -> None:
    html, telegram, mirror = load_config(write_config(config_dir, MINIMAL + PAGE_SOURCES)).sources
    assert html.kind == "html" and html.url == "https://inter.kke.example/en/articles/"
    assert html.select == (("item", "article.post"), ("title", "h2 a"), ("link", "h2 a@href"),
                           ("date", "time@datetime"), ("summary", ".excerpt"))
    assert (telegram.kind, telegram.channel, telegram.url) == ("telegram", "kke_example",
                                                               "https://t.me/s/kke_example")
    assert mirror.url == "http://127.0.0.1:8081/s/kke_example"


@pytest.mark.parametrize(
    ("old", "new", "key", "line", "words"),
    [
        ('title: "h2 a"', 'title: "h2 a[["', "sources[0].select.title", 21, "not a CSS selector"),
        ('summary: ".excerpt"', 'summary: "p::text"', "sources[0].select.summary", 24, "written after @"),
        ('      title: "h2 a"\n', "", "sources[0].select.title", 19, "required"),
        ('item: "article.post"', 'item: "article@id"', "sources[0].select.item", 20, "not an attribute"),
        ('summary: ".excerpt"', 'author: ".by"', "sources[0].select.author", 24, "unknown field"),
        ('summary: ".excerpt"', "summary: 3", "sources[0].select.summary", 24, "must be text"),
        ("    select:\n", "    select: [a]\n    selectors:\n", "sources[0].select", 19, "mapping"),
        ("    channel: kke_example\n  - id: kke-telegram-m", "  - id: kke-telegram-m", "sources[1].channel",
         25, "required: the public channel's name"),
        ("channel: kke_example\n  - id: kke-telegram-m", "channel: kke example\n  - id: kke-telegram-m",
         "sources[1].channel", 27, "letters, digits"),
        ("    kind: telegram\n    channel: kke_example\n  - id: kke-telegram-m",
         "    channel: kke_example\n    url: https://t.me/s/kke_example\n  - id: kke-telegram-m",
         "sources[1].channel", 26, "only a source of kind telegram"),
        ("    kind: html\n", "", "sources[0].select", 18, "only a source of kind html"),
    ],
)
def test_page_source_errors_name_the_key_and_line(config_dir: Path, old: str, new: str, key: str,
                                                  line: int, words: str) -> None:
    assert old in PAGE_SOURCES
    path = write_config(config_dir, MINIMAL + PAGE_SOURCES.replace(old, new, 1))
    with pytest.raises(ConfigError, match=words) as caught:
        load_config(path)
    assert (caught.value.key, caught.value.line) == (key, line)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")


def test_yaml_syntax_error_names_line(config_dir: Path) -> None:
    path = write_config(config_dir, MINIMAL + "sources: [\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line is not None and caught.value.line >= 13


@pytest.mark.parametrize("language", ["en", "el", "pt-BR", "sr-Latn", "zh-Hant-TW", "es-419", "eng"])
def test_language_tags_are_accepted(config_dir: Path, language: str) -> None:
    text = MINIMAL.replace("  paths: [seeds]\n", f"  paths: [seeds]\n  language: {language}\n")
    text += f"sources:\n  - {{id: a, url: 'https://x.org/rss', language: {language}}}\n"
    config = load_config(write_config(config_dir, text))
    assert config.seed_language == config.sources[0].language == language


@pytest.mark.parametrize("language", ["english", "e", "en_US", "en-", "en-GB-oed", "'12'"])
def test_seed_language_must_be_a_bcp47_tag(config_dir: Path, language: str) -> None:
    text = MINIMAL.replace("  paths: [seeds]\n", f"  paths: [seeds]\n  language: {language}\n")
    path = write_config(config_dir, text)
    with pytest.raises(ConfigError, match="must be a BCP 47 language tag such as en, pt-BR") as caught:
        load_config(path)
    assert (caught.value.key, caught.value.line) == ("seeds.language", 10)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("  title: Test site\n", "  title: [a, b]\n"), "site.title: must be text, not a list"),
        (("  title: Test site\n", "  title: {a: b}\n"), "site.title: must be text, not a mapping"),
        (("  title: Test site\n", "  title: 2024-05-01\n"), "site.title: must be text, not a date"),
        (("  title: Test site\n", "  title: 2024-05-01T10:00:00Z\n"), "must be text, not a date and time"),
        (("  title: Test site\n", "  title: 1.5\n"), "site.title: must be text, not a number"),
        (("seeds:\n", "fetch: {read_timeout: soon}\nseeds:\n"),
         "fetch.read_timeout: must be a number, not text"),
        (("seeds:\n", "fetch: {read_timeout: 2024-05-01}\nseeds:\n"), "must be a number, not a date"),
        (("seeds:\n", "fetch: {workers: 1.5}\nseeds:\n"),
         "fetch.workers: must be a whole number, not a number"),
        (("seeds:\n", "fetch: {allow_hosts: {a: b}}\nseeds:\n"),
         "fetch.allow_hosts: must be a list, not a mapping"),
    ],
)
def test_type_errors_name_the_expected_kind_in_words(config_dir: Path, change: tuple[str, str],
                                                     words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(config_dir, MINIMAL.replace(*change)))
    assert words in str(caught.value)
    internal = ("LineList", "LineDict", "float", "datetime", "NoneType")
    assert not any(name in str(caught.value) for name in internal)


def test_server_limits_default_and_read(config_dir: Path) -> None:
    defaults = load_config(write_config(config_dir, MINIMAL)).daemon
    assert (defaults.max_connections, defaults.backlog) == (64, 1024)  # the backlog covers a burst of 200
    text = MINIMAL + "server:\n  max_connections: 8\n  backlog: 256\n"
    daemon = load_config(write_config(config_dir, text)).daemon
    assert (daemon.max_connections, daemon.backlog) == (8, 256)
    with pytest.raises(ConfigError, match="max_connections"):
        load_config(write_config(config_dir, MINIMAL + "server:\n  max_connections: 0\n"))
