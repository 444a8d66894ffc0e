from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.errors import SeedError
from feeds.parse.seeds import identity_text, parse_date, read_seed_file, seed_files, split_revision

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def test_seed_headlines_give_22_items_with_their_lines(now: datetime) -> None:
    seeds = read_seed_file(ROOT / "seeds" / "seed-headlines.txt", now)
    assert len(seeds) == 22
    assert [s.line for s in seeds[:3]] == [1, 3, 6]
    assert seeds[0].revision == "(updated)" and seeds[1].revision == "(UPDATED)"
    assert not seeds[0].item.title.endswith(")")
    assert len({s.item.id for s in seeds}) == 22


def test_paragraph_lines_are_joined(tmp_path: Path, now: datetime) -> None:
    path = write(tmp_path, "a.txt", "First line\n  continues here.\n\n\n\nSecond item\n")
    seeds = read_seed_file(path, now)
    assert [s.item.title for s in seeds] == ["First line continues here.", "Second item"]
    assert [s.line for s in seeds] == [1, 6]


def test_marker_makes_a_revision_of_the_same_id(tmp_path: Path, now: datetime) -> None:
    plain = read_seed_file(write(tmp_path, "a.txt", "KKE statement on Jerusalem."), now)[0]
    marked = read_seed_file(write(tmp_path, "b.txt", "KKE  statement on Jerusalem. (UPDATED)"), now)[0]
    assert plain.item.id == marked.item.id
    assert (plain.revision, marked.revision) == ("", "(UPDATED)")


def test_ids_do_not_depend_on_time_or_file(tmp_path: Path) -> None:
    a = read_seed_file(write(tmp_path, "a.txt", "Same text"), datetime(2020, 1, 1, tzinfo=UTC))
    b = read_seed_file(write(tmp_path, "b.txt", "Same text"), datetime(2030, 1, 1, tzinfo=UTC))
    assert a[0].item.id == b[0].item.id


def test_yaml_seed_items(tmp_path: Path, now: datetime) -> None:
    path = write(tmp_path, "s.yaml", """
- title: KKE on the strike (updated)
  link: https://inter.kke.gr/en/articles/strike/
  published: 2017-12-07T10:00:00+02:00
  language: en
  parties: [kke]
- text: A text-only item
""")
    first, second = read_seed_file(path, now)
    assert first.item.title == "KKE on the strike" and first.revision == "(updated)"
    assert first.item.published == datetime(2017, 12, 7, 8, 0, tzinfo=UTC)
    assert first.explicit_parties == ("kke",) and first.explicit_topics is None
    assert first.item.link == "https://inter.kke.gr/en/articles/strike/"
    assert second.item.title == "A text-only item" and second.item.published == now - timedelta(seconds=1)
    assert second.line == 7


def test_undated_items_are_first_seen_a_second_apart_newest_first_in_document_order(now: datetime) -> None:
    seeds = read_seed_file(ROOT / "seeds" / "seed-headlines.txt", now)
    assert [s.item.published for s in seeds] == [now - timedelta(seconds=n) for n in range(22)]
    assert all(s.item.updated == s.item.published for s in seeds)


def test_yaml_items_keep_their_own_dates_and_an_updated_only_item_was_published_then(
        tmp_path: Path, now: datetime) -> None:
    path = write(tmp_path, "s.yaml", """
- title: Dated
  published: 2017-12-07T10:00:00Z
  updated: 2017-12-08T10:00:00Z
- title: Undated
- title: Updated only
  updated: 2018-01-02
""")
    dated, undated, updated_only = (s.item for s in read_seed_file(path, now))
    assert (dated.published, dated.updated) == (datetime(2017, 12, 7, 10, tzinfo=UTC),
                                                 datetime(2017, 12, 8, 10, tzinfo=UTC))
    assert undated.published == undated.updated == now - timedelta(seconds=1)
    assert updated_only.published == updated_only.updated == datetime(2018, 1, 2, tzinfo=UTC)


def test_seed_items_credit_the_publisher_never_the_file(tmp_path: Path, now: datetime) -> None:
    text = write(tmp_path, "notes-2024.txt", "KKE statement on the strike.")
    (given,) = read_seed_file(text, now, "Party Feeds")
    (default,) = read_seed_file(text, now)
    assert [s.title for s in given.item.sources] == ["Party Feeds"]
    assert [s.title for s in default.item.sources] == ["partyfeeds"]
    assert "notes-2024" not in given.item.sources[0].title + default.item.sources[0].title


def test_a_yaml_header_names_the_documents_publisher(tmp_path: Path, now: datetime) -> None:
    path = write(tmp_path, "kke.yaml", """
publisher: KKE Press Office
items:
  - title: KKE on the general strike
    link: https://inter.kke.gr/en/articles/strike/
""")
    (seed,) = read_seed_file(path, now, "Party Feeds")
    assert seed.item.sources[0].title == "KKE Press Office"
    assert seed.item.sources[0].link == "https://inter.kke.gr/en/articles/strike/"
    assert seed.line == 4


@pytest.mark.parametrize(
    ("name", "data", "line", "words"),
    [
        ("bad.yaml", "- title: ok\n- title: [unclosed\n", 3, "invalid YAML"),
        ("keys.yaml", "- title: ok\n  colour: red\n", 2, "colour"),
        ("type.yaml", "- title: 5\n", 1, "must be text"),
        ("date.yaml", "- title: x\n  published: next tuesday\n", 2, "not a date"),
        ("shape.yaml", "title: x\n", 1, "expected a list"),
        ("header.yaml", "publisher: P\nitems: []\nauthor: A\n", 3, "unknown key"),
        ("publisher.yaml", "publisher: [P]\nitems: []\n", 1, "must be text"),
        ("empty-item.yaml", "- title: '   '\n", 1, "no text"),
        ("latin1.txt", "ok\n\ncaf\xe9\n".encode("latin-1"), 3, "not UTF-8"),
        ("nul.txt", "ok\n\nbad\x00\n", 3, "control character"),
    ],
)
def test_malformed_seed_names_file_and_line(tmp_path: Path, now: datetime, name: str, data: str | bytes,
                                            line: int, words: str) -> None:
    path = write(tmp_path, name, data)
    with pytest.raises(SeedError) as caught:
        read_seed_file(path, now)
    assert caught.value.path == str(path) and caught.value.line == line
    assert words in str(caught.value) and str(caught.value).startswith(f"{path}:{line}:")


def test_seed_files_finds_documents_sorted(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.txt", "notes.md", "sub/c.yml"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert [p.name for p in seed_files([tmp_path])] == ["a.txt", "b.yaml", "c.yml"]


def test_parse_date_forms() -> None:
    utc = UTC
    assert parse_date("Thu, 07 Dec 2017 10:00:00 +0300") == datetime(2017, 12, 7, 7, tzinfo=utc)
    assert parse_date("2017-12-07") == datetime(2017, 12, 7, tzinfo=utc)
    assert parse_date("yesterday") is None and parse_date(12) is None


@given(st.text(min_size=1, max_size=80))
def test_split_revision_is_idempotent(text: str) -> None:
    once, _ = split_revision(text)
    assert split_revision(once) == (once, "")


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc")), min_size=1),
                min_size=1, max_size=8))
def test_identity_ignores_spacing(words: list[str]) -> None:
    assert identity_text(" ".join(words)) == identity_text("\n  " + "   \t ".join(words) + " ")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=60))
def test_identity_ignores_case(text: str) -> None:
    assert identity_text(text) == identity_text(text.upper())
