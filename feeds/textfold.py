"""Folding, tokenising and phrase lookup for the tagger.

Text is folded one character to one character (`str.translate`), so offsets in
the folded text are offsets in the original: the tagger can look back at the
original for capitals and parentheses. Folding lower-cases, strips accents and
Greek tonos, and keeps Turkish dotless ı apart from i; in Turkish text capital
I folds to ı (Turkish pairs I/ı and İ/i).

Phrases (names, aliases, keywords) are stored in a token trie: one dict lookup
per token instead of one regex per phrase. A phrase token ending in "*" is a
stem (prefix); a token written in capitals (KKE, NATO) matches only capitals.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_WORDS = re.compile(r"(\W*)(\w+)")
# A sentence end or a line break between two tokens: no phrase spans it.
_BREAK = re.compile(r"[.!?;:]\s|\n")
_TURKISH_LETTERS = re.compile("[ğĞşŞıİ]")
BREAK = "\x00"  # token standing for a break; no phrase contains it
MIN_STEM = 3
_PUNCT = {"’": "'", "‘": "'", "ʼ": "'", "′": "'", "`": "'", "“": '"', "”": '"', "„": '"',
          "‐": "-", "‑": "-", "–": "-", "—": "-", "\u00a0": " "}


def _fold_char(ch: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if len(base) != 1:
        base = ch
    for lowered in (base.casefold(), base.lower()):  # casefold: ς -> σ; lower keeps ß one char
        if len(lowered) == 1:
            return lowered
    return base


def _table(turkish: bool) -> dict[int, str]:
    table = {}
    for cp in range(0x41, 0x3000):
        ch = chr(cp)
        folded = _PUNCT.get(ch) or _fold_char(ch)
        if folded != ch:
            table[cp] = folded
    if turkish:
        table[ord("I")] = "ı"
    return table


_DEFAULT_TABLE = _table(turkish=False)
_TURKISH_TABLE = _table(turkish=True)


def fold(text: str, *, turkish: bool = False) -> str:
    """Lower-case, accent-free text of the same length as `text` (which must be NFC)."""
    return text.translate(_TURKISH_TABLE if turkish else _DEFAULT_TABLE)


def looks_turkish(text: str, language: str | None) -> bool:
    return language == "tr" or (language is None and _TURKISH_LETTERS.search(text) is not None)


@dataclass(slots=True)
class Tokens:
    """The folded tokens of one text with their offsets in the (NFC) original."""

    text: str
    words: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)

    def original(self, first: int, last: int) -> str:
        """The original text from token `first` to token `last - 1`, whitespace collapsed."""
        end = self.ends[last - 1]
        words = self.text[self.starts[first]:end]
        if words.count("(") > words.count(")") and self.text[end:end + 1] == ")":
            words += ")"  # "Communist Party of India (Marxist)"
        return " ".join(words.split())

    def gap_before(self, index: int) -> str:
        return self.text[self.ends[index - 1] if index else 0:self.starts[index]]


def tokenize(text: str, *, turkish: bool = False) -> Tokens:
    """Split NFC `text` into folded word tokens, with BREAK at sentence ends and line breaks."""
    tokens = Tokens(text)
    words, starts, ends = tokens.words, tokens.starts, tokens.ends
    pos = 0
    for gap, word in _WORDS.findall(fold(text, turkish=turkish)):
        if gap and gap != " " and words and _BREAK.search(gap):
            words.append(BREAK)
            starts.append(pos)
            ends.append(pos)
        pos += len(gap)
        words.append(word)
        starts.append(pos)
        pos += len(word)
        ends.append(pos)
    return tokens


def phrase_tokens(phrase: str, *, turkish: bool = False) -> tuple[tuple[str, bool, bool], ...]:
    """(folded token, is stem, needs capitals) for each word of a registry phrase."""
    phrase = unicodedata.normalize("NFC", phrase)
    parsed = tokenize(phrase, turkish=turkish)
    result = []
    for word, start, end in zip(parsed.words, parsed.starts, parsed.ends, strict=True):
        if word == BREAK:
            continue
        original = phrase[start:end]
        caps = sum(c.isalpha() for c in original) >= 2 and original.isupper()
        result.append((word, phrase[end:end + 1] == "*", caps))
    return tuple(result)


@dataclass(slots=True)
class _Node:
    exact: dict[str, _Node] = field(default_factory=dict)
    stems: dict[str, _Node] = field(default_factory=dict)
    stem_lengths: tuple[int, ...] = ()
    payloads: list[tuple[tuple[int, ...], Any]] = field(default_factory=list)

    def children(self, word: str) -> list[_Node]:
        found = [self.exact[word]] if word in self.exact else []
        for length in self.stem_lengths:
            if length > len(word):
                break
            child = self.stems.get(word[:length])
            if child is not None:
                found.append(child)
        return found


@dataclass(frozen=True, slots=True)
class Match:
    first: int  # token index
    last: int  # one past the last token
    payloads: tuple[Any, ...]


class PhraseIndex:
    """Token trie of phrases -> payloads; `find` returns every phrase found in a text."""

    _CACHE_LIMIT = 200_000

    def __init__(self) -> None:
        self._root = _Node()
        self._first: dict[str, list[_Node]] = {}  # memo of root lookups: words repeat

    def add(self, phrase: str, payload: Any, *, turkish: bool = False) -> None:
        words = phrase_tokens(phrase, turkish=turkish)
        if not words:
            raise ValueError(f"phrase {phrase!r} has no words")
        node = self._root
        for position, (word, stem, _caps) in enumerate(words):
            if stem and position == 0 and len(word) < MIN_STEM:  # would match nearly anything
                raise ValueError(f"stem {word!r}* in {phrase!r} is shorter than {MIN_STEM} letters")
            node = (node.stems if stem else node.exact).setdefault(word, _Node())
        caps = tuple(i for i, (_w, _s, needs_caps) in enumerate(words) if needs_caps)
        node.payloads.append((caps, payload))
        self._first.clear()

    def freeze(self) -> None:
        """Index stem lengths; call after the last `add`."""
        for node in self._walk(self._root):
            node.stem_lengths = tuple(sorted({len(stem) for stem in node.stems}))
        self._first.clear()

    def find(self, tokens: Tokens) -> Iterator[Match]:
        words = tokens.words
        for first, word in enumerate(words):
            frontier = self._first.get(word)
            if frontier is None:
                frontier = self._root.children(word)
                if len(self._first) > self._CACHE_LIMIT:
                    self._first.clear()
                self._first[word] = frontier
            last = first + 1
            while frontier:
                for node in frontier:
                    if node.payloads:
                        yield from self._checked(tokens, first, last, node)
                if last == len(words):
                    break
                frontier = [child for node in frontier for child in node.children(words[last])]
                last += 1

    @staticmethod
    def _checked(tokens: Tokens, first: int, last: int, node: _Node) -> Iterator[Match]:
        text, starts, ends = tokens.text, tokens.starts, tokens.ends
        payloads = tuple(payload for caps, payload in node.payloads
                         if all(text[starts[first + i]:ends[first + i]].isupper() for i in caps))
        if payloads:
            yield Match(first, last, payloads)

    def _walk(self, node: _Node) -> Iterator[_Node]:
        yield node
        for child in (*node.exact.values(), *node.stems.values()):
            yield from self._walk(child)
