"""Seed documents are held to limits, the same for `.txt` and YAML: a file's size (refused
before it is read whole), an item's title and text, a YAML item's link, authors and language.
Each refusal is one error naming the file, the line and the key."""

from __future__ import annotations

import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest

from feeds.errors import SeedError
from feeds.parse.normalise import MAX_LINK_CHARS, MAX_NAME_CHARS, MAX_NAMES
from feeds.parse.seeds import MAX_FILE_BYTES, MAX_TEXT_CHARS, read_seed_file


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path, now: datetime) -> SeedError:
    with pytest.raises(SeedError) as caught:
        read_seed_file(path, now)
    return caught.value


def words(count: int) -> str:
    """`count` characters of words."""
    return ("word " * (count // 5 + 1))[:count].strip().ljust(count, "x")


def test_a_yaml_text_over_the_limit_is_refused_like_a_text_paragraph(tmp_path: Path, now: datetime) -> None:
    long = words(MAX_TEXT_CHARS + 1)
    document = f"- title: Fine\n  link: https://x.example/1\n  text: {long}\n"
    yaml_error = refusal(write(tmp_path, "a.yaml", document), now)
    assert (yaml_error.line, yaml_error.key) == (3, "text")
    assert f"{MAX_TEXT_CHARS + 1:,} characters (limit {MAX_TEXT_CHARS:,})" in str(yaml_error)
    text_error = refusal(write(tmp_path, "a.txt", f"Fine\n\n{long}\n"), now)
    assert text_error.line == 3 and f"limit {MAX_TEXT_CHARS:,}" in str(text_error)


def test_a_text_of_exactly_the_limit_is_accepted_in_both_kinds(tmp_path: Path, now: datetime) -> None:
    full = words(MAX_TEXT_CHARS)
    [from_yaml] = read_seed_file(write(tmp_path, "a.yaml", f"- title: Fine\n  text: {full}\n"), now)
    [from_text] = read_seed_file(write(tmp_path, "a.txt", full), now)
    assert from_yaml.item.summary == from_text.item.summary == full


def test_a_yaml_title_over_the_limit_is_refused(tmp_path: Path, now: datetime) -> None:
    error = refusal(write(tmp_path, "a.yaml", f"- text: fine\n  title: {words(MAX_TEXT_CHARS + 1)}\n"), now)
    assert (error.line, error.key) == (2, "title")


@pytest.mark.parametrize(("entry", "line", "key", "message"), [
    (f"  link: https://x.example/{'a' * MAX_LINK_CHARS}\n", 2, "link", f"(limit {MAX_LINK_CHARS:,})"),
    (f"  authors: [{', '.join(f'A{n}' for n in range(MAX_NAMES + 1))}]\n", 2, "authors",
     f"{MAX_NAMES + 1} names (limit {MAX_NAMES})"),
    (f"  authors: [{'n' * (MAX_NAME_CHARS + 1)}]\n", 2, "authors", f"(limit {MAX_NAME_CHARS})"),
    ("  language: english\n", 2, "language", "must be a BCP 47 language tag such as en, pt-BR"),
    ("  language: en_GB\n", 2, "language", "BCP 47"),
])
def test_a_yaml_items_fields_are_held_to_a_feed_entrys_limits(tmp_path: Path, now: datetime, entry: str,
                                                              line: int, key: str, message: str) -> None:
    error = refusal(write(tmp_path, "a.yaml", "- title: Fine\n" + entry), now)
    assert (error.line, error.key) == (line, key) and message in str(error)


def test_a_language_tag_is_kept(tmp_path: Path, now: datetime) -> None:
    [seed] = read_seed_file(write(tmp_path, "a.yaml", "- title: Fine\n  language: pt-BR\n"), now)
    assert seed.item.language == "pt-BR"


@pytest.mark.parametrize(("value", "kind"), [
    ("[a, b]", "a list"), ("{a: b}", "a mapping"), ("2024-05-01", "a date"),
    ("2024-05-01T10:00:00Z", "a date and time"), ("1.5", "a number"), ("true", "true/false")])
def test_a_type_error_says_what_was_given_in_words(tmp_path: Path, now: datetime, value: str,
                                                   kind: str) -> None:
    error = refusal(write(tmp_path, "a.yaml", f"- title: {value}\n"), now)
    assert str(error).endswith(f":1: title: must be text, not {kind}")


@pytest.mark.parametrize("name", ["big.txt", "big.yaml"])
def test_a_file_over_the_size_limit_is_refused_before_it_is_read_whole(tmp_path: Path, now: datetime,
                                                                       name: str) -> None:
    path = tmp_path / name
    with path.open("wb") as file:  # three times the limit, one paragraph
        for _ in range(3):
            file.write(b"a" * MAX_FILE_BYTES)
    tracemalloc.start()
    try:
        error = refusal(path, now)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"over the {MAX_FILE_BYTES:,}-byte limit" in str(error) and error.path == str(path)
    assert peak < 2 * MAX_FILE_BYTES  # at most the limit (and one byte) was read


def test_a_file_of_exactly_the_size_limit_is_read(tmp_path: Path, now: datetime) -> None:
    paragraph = words(1_000) + "\n\n"
    count = MAX_FILE_BYTES // len(paragraph)
    text = paragraph * count
    path = write(tmp_path, "full.txt", text + "x" * (MAX_FILE_BYTES - len(text)))
    assert path.stat().st_size == MAX_FILE_BYTES
    assert len(read_seed_file(path, now)) == count + 1
