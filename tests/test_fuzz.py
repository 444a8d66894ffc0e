"""Property-based fuzzing (bounded, a few seconds): the seed reader, the config loader and the
normaliser take anything and answer with a result or our own error, never a crash."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.errors import ConfigError, SeedError
from feeds.model import SourceSpec
from feeds.parse import ParsedEntry, ParsedFeed
from feeds.parse.normalise import EARLIEST_DATE, MAX_TITLE_CHARS, normalise_feed
from feeds.parse.seeds import read_seed_file
from feeds.parse.xmlguard import FORBIDDEN_CHARS
from scheduler.config import load_config

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
YAML_BITS = st.sampled_from(["- ", "title: ", "text: ", "link: ", "published: ", "parties: [", "]", "{", "}",
                             ": ", "\n", "  ", "'", '"', "&a ", "*a", "!!python/object ", "2024-13-45",
                             "site:", "storage:", "database: x", "sources:", "fetch:", "allow_hosts: [",
                             "\t", "#", "\x00", "é", "\u202e", "9" * 30, "null", "~", "- id: a"])
yaml_text = st.lists(st.one_of(YAML_BITS, st.text(max_size=8)), max_size=30).map("".join)


@FUZZ
@given(body=st.one_of(st.binary(max_size=400), yaml_text.map(str.encode)),
       suffix=st.sampled_from([".txt", ".yaml"]))
def test_seed_reader_returns_items_or_a_located_seed_error(body: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(body)
        try:
            seeds = read_seed_file(path, NOW)
        except SeedError as exc:
            assert str(path) in str(exc)
            return
    for seed in seeds:
        assert seed.item.title and not FORBIDDEN_CHARS.search(seed.item.title)
        assert seed.item.published.tzinfo is not None


@FUZZ
@given(text=yaml_text)
def test_config_loader_returns_a_config_or_a_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(text, "utf-8", errors="surrogatepass")
        try:
            load_config(path)
        except ConfigError as exc:
            assert "config.yaml" in str(exc)


dates = st.one_of(st.none(), st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31),
                                          timezones=st.just(UTC)))
short_text = st.one_of(st.none(), st.text(max_size=40))
entries = st.builds(
    ParsedEntry, guid=short_text,
    link=st.one_of(st.none(), st.text(max_size=30), st.just("https://x.example/a")),
    title=st.one_of(short_text, st.text(min_size=400, max_size=600)), title_is_html=st.booleans(),
    summary=short_text, content=short_text, published=dates, updated=dates,
    authors=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    categories=st.lists(st.text(max_size=10), max_size=3).map(tuple), language=st.none(),
    base=st.sampled_from(["https://x.example/", "not a url", ""]))


@FUZZ
@given(items=st.lists(entries, max_size=8))
def test_normaliser_output_is_bounded_and_well_formed(items: list[ParsedEntry]) -> None:
    parsed = ParsedFeed("https://x.example/feed", "rss20", None, None, None, "utf-8", tuple(items))
    result = normalise_feed(parsed, SourceSpec("fuzz", "https://x.example/feed"), NOW)
    assert len({item.id for item in result}) == len(result)
    for item in result:
        assert len(item.title) <= MAX_TITLE_CHARS
        assert EARLIEST_DATE <= item.published <= item.updated <= NOW
        texts = (item.title, item.summary, item.content, item.link or "", *item.authors, *item.categories)
        for text in texts:
            assert not FORBIDDEN_CHARS.search(text)
        assert item.link is None or item.link.startswith(("http://", "https://"))
