"""Folding, tokenising and phrase lookup for the tagger.

A text is split into words once (one regex); each word is folded on its own,
through a memo, since words repeat from item to item. Folding lower-cases,
strips accents and Greek tonos, and keeps Turkish dotless ı apart from i; in
Turkish text capital I folds to ı (Turkish pairs I/ı and İ/i).

Phrases (names, aliases, keywords) live in a word trie: one dict lookup per
word instead of one regex per phrase. A phrase word ending in "*" is a stem
(prefix); a word written in capitals (KKE, NATO) matches only capitals.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
from typing import Any, NamedTuple

_WORDS = re.compile(r"(\W*)(\w+)")
_BREAK = re.compile(r"[.!?;:]\s|\n")  # a sentence end or line break: no phrase spans one
_TURKISH_LETTERS = re.compile("[ğĞşŞıİ]")
_MEMO_LIMIT = 200_000
MIN_STEM = 3  # a shorter first-word stem would match nearly anything


def _fold_char(ch: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if len(base) != 1:
        base = ch
    for lowered in (base.casefold(), base.lower()):  # casefold: ς -> σ; lower keeps ß one char
        if len(lowered) == 1:
            return lowered
    return base


def _table(turkish: bool) -> dict[int, str]:
    table = {cp: folded for cp in range(0x41, 0x3000) if (folded := _fold_char(chr(cp))) != chr(cp)}
    if turkish:
        table[ord("I")] = "ı"
    return table


_TABLES = {False: _table(turkish=False), True: _table(turkish=True)}
_MEMOS: dict[bool, dict[str, str]] = {False: {}, True: {}}


def fold(text: str, *, turkish: bool = False) -> str:
    """Lower-case, accent-free `text` (NFC), one character for one character."""
    return text.translate(_TABLES[turkish])


def _missing(memo: dict[str, Any], words: Iterable[str]) -> set[str]:
    """The `words` that `memo` lacks, to be inserted before the caller reads any of them. A memo
    they would take past _MEMO_LIMIT is emptied first, so all of them are missing then: nothing
    is ever dropped between its insertion and its use."""
    wanted = set(words)
    missing = wanted.difference(memo)
    if missing and len(memo) + len(missing) > _MEMO_LIMIT:
        memo.clear()
        return wanted
    return missing


def looks_turkish(text: str, language: str | None) -> bool:
    return language == "tr" or (language is None and _TURKISH_LETTERS.search(text) is not None)


@dataclass(slots=True)
class Tokens:
    """The words of one text: as written, folded, and the text before each."""

    gaps: list[str]  # gaps[i]: the text between word i-1 and word i
    originals: list[str]
    words: list[str]  # folded
    tail: str = ""  # the text after the last word

    def original(self, first: int, last: int) -> str:
        """Words `first` to `last - 1` as written, whitespace collapsed."""
        if last == first + 1:
            return self.originals[first]
        text = self.originals[first] + "".join(
            self.gaps[i] + self.originals[i] for i in range(first + 1, last))
        after = self.gaps[last] if last < len(self.gaps) else self.tail
        if text.count("(") > text.count(")") and after.startswith(")"):
            text += ")"  # "Communist Party of India (Marxist)"
        return " ".join(text.split())

    def breaks_before(self, index: int) -> bool:
        gap = self.gaps[index]
        return gap != " " and _BREAK.search(gap) is not None

    def folded(self, *, turkish: bool) -> Tokens:
        """The same words folded the other way (Turkish or not)."""
        return Tokens(self.gaps, self.originals, _fold_words(self.originals, turkish), self.tail)


def tokenize(text: str, *, turkish: bool = False) -> Tokens:
    """Split NFC `text` into words."""
    pairs = _WORDS.findall(text)
    gaps = list(map(itemgetter(0), pairs))
    originals = list(map(itemgetter(1), pairs))
    consumed = sum(map(len, gaps)) + sum(map(len, originals))
    return Tokens(gaps, originals, _fold_words(originals, turkish), text[consumed:])


def _fold_words(originals: list[str], turkish: bool) -> list[str]:
    memo = _MEMOS[turkish]
    missing = _missing(memo, originals)  # sets and map keep the per-word work in C
    if missing:
        table = _TABLES[turkish]
        memo.update(zip(missing, [word.translate(table) for word in missing], strict=True))
    return list(map(memo.__getitem__, originals))


def phrase_tokens(phrase: str, *, turkish: bool = False) -> tuple[tuple[str, bool, bool], ...]:
    """(folded word, is stem, needs capitals) for each word of a registry phrase."""
    phrase = unicodedata.normalize("NFC", phrase)
    parsed = tokenize(phrase, turkish=turkish)
    after = [*parsed.gaps[1:], parsed.tail]
    several = len(parsed.words) > 1
    result = []
    for original, word, rest in zip(parsed.originals, parsed.words, after, strict=True):
        letters = sum(c.isalpha() for c in original)
        caps = original.isupper() and (letters >= 2 or (phrase.isupper() and several))  # "U.S."
        result.append((word, rest.startswith("*"), caps))
    return tuple(result)


@dataclass(slots=True)
class _Node:
    exact: dict[str, _Node] = field(default_factory=dict)
    stems: dict[str, _Node] = field(default_factory=dict)
    stem_lengths: tuple[int, ...] = ()
    plain: list[Any] = field(default_factory=list)  # payloads of phrases without capitals
    capped: list[tuple[tuple[int, ...], Any]] = field(default_factory=list)  # (capital words, payload)
    summary: Any = None  # summarise(every payload), when every capital matches
    terminal: bool = False
    inner: bool = False  # has children: a longer phrase may go on

    def children(self, word: str) -> list[_Node]:
        child = self.exact.get(word)
        found = [child] if child is not None else []
        if self.stem_lengths:
            found += self.stem_children(word)
        return found

    def stem_children(self, word: str) -> list[_Node]:
        found = []
        for length in self.stem_lengths:
            if length > len(word):
                break
            child = self.stems.get(word[:length])
            if child is not None:
                found.append(child)
        return found


class Match(NamedTuple):
    first: int  # word index
    last: int  # one past the last word
    summary: Any  # what `summarise` made of the payloads found there


class PhraseIndex:
    """Word trie of phrases -> payloads; `find` returns every phrase in a text.

    `summarise` turns the payloads found on one span into what `find` returns;
    it runs once per trie node at `freeze`, and again only when a capital fails.
    """

    def __init__(self, summarise: Callable[[tuple[Any, ...]], Any]) -> None:
        self._root = _Node()
        self._summarise = summarise
        self._first: dict[str, list[_Node]] = {}  # memo of root lookups
        self.longest = 0  # words in the longest phrase

    def add(self, phrase: str, payload: Any, *, turkish: bool = False) -> None:
        words = phrase_tokens(phrase, turkish=turkish)
        if not words:
            raise ValueError(f"phrase {phrase!r} has no words")
        self.longest = max(self.longest, len(words))
        node = self._root
        for position, (word, stem, _caps) in enumerate(words):
            if stem and position == 0 and len(word) < MIN_STEM:
                raise ValueError(f"stem {word!r}* in {phrase!r} is shorter than {MIN_STEM} letters")
            node = (node.stems if stem else node.exact).setdefault(word, _Node())
        caps = tuple(i for i, (_w, _s, needs_caps) in enumerate(words) if needs_caps)
        if caps:
            node.capped.append((caps, payload))
        else:
            node.plain.append(payload)

    def freeze(self) -> None:
        """Precompute stem lengths and summaries; call after the last `add`."""
        for node in self._walk(self._root):
            node.stem_lengths = tuple(sorted({len(stem) for stem in node.stems}))
            payloads = tuple(dict.fromkeys([*node.plain, *(p for _c, p in node.capped)]))
            node.terminal = bool(payloads)
            node.inner = bool(node.exact or node.stems)
            node.summary = self._summarise(payloads) if payloads else None
        self._first.clear()

    def find(self, tokens: Tokens, around: Sequence[int] = ()) -> list[Match]:
        """Every phrase in `tokens` (overlapping ones too), capitals checked.

        With `around`, only phrases that may cover one of those word indices.
        """
        words, found = tokens.words, []
        count = len(words)
        for word in _missing(self._first, words):
            self._first[word] = self._root.children(word)
        frontiers = list(map(self._first.__getitem__, words))
        starts: Iterable[int] = range(count)
        if around:
            starts = sorted({s for i in around for s in range(max(0, i - self.longest + 1), i + 1)})
        for first in compress(starts, map(frontiers.__getitem__, starts)):  # words that start a phrase
            frontier = frontiers[first]
            last = first + 1
            while frontier:
                for node in frontier:
                    if node.terminal:
                        summary = self._summary(tokens, first, node) if node.capped else node.summary
                        if summary is not None:
                            found.append(Match(first, last, summary))
                if last == count or not any(node.inner for node in frontier):
                    break
                word = words[last]
                extended = []
                for node in frontier:
                    child = node.exact.get(word)
                    if child is not None:
                        extended.append(child)
                    if node.stem_lengths:
                        extended += node.stem_children(word)
                if extended and tokens.breaks_before(last):
                    break
                frontier = extended
                last += 1
        return found

    def _summary(self, tokens: Tokens, first: int, node: _Node) -> Any:
        originals = tokens.originals
        passed = [p for caps, p in node.capped if all(originals[first + i].isupper() for i in caps)]
        if len(passed) == len(node.capped):
            return node.summary
        payloads = tuple(dict.fromkeys([*node.plain, *passed]))
        return self._summarise(payloads) if payloads else None

    def _walk(self, node: _Node) -> Iterator[_Node]:
        yield node
        for child in (*node.exact.values(), *node.stems.values()):
            yield from self._walk(child)
