"""Caches in tagging and dedupe are bounded and can never lose an entry a caller is about to read."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count, islice
from pathlib import Path

import pytest

from feeds.dedupe.rules import same_story
from feeds.dedupe.titles import title_bands
from feeds.tag import Tagger, textfold
from tests.factories import make_item

ROOT = Path(__file__).resolve().parent.parent
MILLION = 1_000_000


def distinct_words() -> Iterator[str]:
    """An endless supply of distinct words of letters (base-26 numerals)."""
    for n in count(26**4):
        letters = []
        while n:
            n, digit = divmod(n, 26)
            letters.append(chr(ord("a") + digit))
        yield "".join(letters)


def texts(words_per_text: int, total: int) -> Iterator[str]:
    words = distinct_words()
    for _ in range(total // words_per_text + 1):
        yield " ".join(islice(words, words_per_text))


@pytest.mark.slow  # seconds of CPU: left out of the quick loop
def test_more_than_a_million_distinct_words_through_tagging(tagger: Tagger) -> None:
    tagged = 0
    for text in texts(2_000, MILLION):
        tags = tagger.tag(f"KKE {text} Palestine", language="en")
        assert "kke" in tags.parties and "palestine" in tags.topics
        tagged += 1
    assert tagged * 2_000 > MILLION
    assert len(textfold._MEMOS[False]) <= textfold._MEMO_LIMIT


def test_a_text_with_more_distinct_words_than_the_memo_holds(tagger: Tagger,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textfold, "_MEMO_LIMIT", 100)
    text = next(texts(5_000, 5_000))
    assert tagger.tag(f"Ο {text} ΚΚΕ", language="el").parties == ("kke",)
    assert tagger.tag(f"{text} TKP", language="tr").parties == ("tkp",)


@pytest.mark.slow  # seconds of CPU: left out of the quick loop
def test_more_than_a_million_distinct_words_through_dedupe() -> None:
    titles = list(texts(10, MILLION + 10))
    for start in range(0, len(titles), 5_000):
        chunk = titles[start:start + 5_000]
        bands = title_bands(chunk)
        assert all(len(keys) == 16 for keys in bands)
    first, second = make_item(titles[0], source="one"), make_item(titles[-1], source="two")
    assert not same_story(first, second).same
    assert same_story(first, make_item(titles[0], source="two")).same
