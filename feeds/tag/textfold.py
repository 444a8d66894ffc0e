"""Folding, tokenising and phrase lookup for the tagger.

A text is split into words once (one regex); each word is folded on its own,
through a memo, since words repeat from item to item. Folding lower-cases,
strips accents and Greek tonos, and keeps Turkish dotless ı apart from i; in
Turkish text capital I folds to ı (Turkish pairs I/ı and İ/i).

Scripts written without spaces between words (Chinese, Japanese, Thai, Lao,
Khmer, Myanmar) are split into one "word" per character, so a name is matched as
a sequence of characters wherever it stands in a sentence; every other script
(Latin, Greek, Cyrillic, Arabic, Hebrew, Devanagari and the other Indic scripts,
Hangul) keeps whole words, its combining vowel signs inside the word.

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

# Characters of the scripts written without spaces: each is a word of its own.
NO_SPACE = ("\u0e00-\u0eff"  # Thai, Lao
            "\u1000-\u109f"  # Myanmar
            "\u1780-\u17ff"  # Khmer
            "\u3005-\u3007\u3040-\u30ff\u31f0-\u31ff"  # 々〆〇, kana
            "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
            "\uff66-\uff9f")  # half-width katakana


def _mark_ranges() -> str:
    """Combining marks (Devanagari vowel signs, Arabic harakat ...) as a character class body:
    `\\w` leaves them out, which would cut "कम्युनिस्ट" into pieces."""
    no_space = re.compile(f"[{NO_SPACE}]")
    ranges: list[list[int]] = []
    for cp in range(0x300, 0x10000):
        if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me") and not no_space.match(chr(cp)):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    return "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


_MARKS = _mark_ranges()
_PLAIN_WORDS = re.compile(r"(\W*)(\w+)")  # the whole text is words of \w, no marks, no CJK
_SPECIAL = re.compile(f"[{_MARKS}{NO_SPACE}]")
_WORDS = re.compile(rf"([^\w{_MARKS}{NO_SPACE}]*)([{NO_SPACE}]|(?:[^\W{NO_SPACE}]|[{_MARKS}])+)")
_BREAK = re.compile(r"[.!?;:]\s|\n|[。！？：；।॥؟؛]")  # a sentence end or line break: no phrase spans one
_GLUE = re.compile("[\u3005-\u3007\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HANGUL = re.compile("[\uac00-\ud7a3]")
KATAKANA = re.compile("[\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9f]")  # letters, not ・
_TURKISH_LETTERS = re.compile("[ğĞşŞıİ]")
_MEMO_LIMIT = 200_000
MIN_STEM = 3  # a shorter first-word stem would match nearly anything
MIN_HANGUL_STEM = 2  # Hangul syllables: two already spell a word (선거*, 파업*)


def _fold_char(ch: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if len(base) != 1:
        base = ch
    for lowered in (base.casefold(), base.lower()):  # casefold: ς -> σ; lower keeps ß one char
        if len(lowered) == 1:
            return lowered
    return base


# Arabic-script letters that Persian and Arabic (and careless typing) write either way.
_ARABIC_LETTERS = {"\u0649": "\u064a", "\u06cc": "\u064a", "\u06a9": "\u0643"}  # ى ی -> ي, ک -> ك


def _table(turkish: bool) -> dict[int, str]:
    codes = [*range(0x41, 0x3000), *range(0xff01, 0xffef)]  # and the full-width forms: ＪＣＰ is JCP
    table = {cp: folded for cp in codes if (folded := _fold_char(chr(cp))) != chr(cp)}
    table |= {ord(letter): folded for letter, folded in _ARABIC_LETTERS.items()}
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

    def glued_before(self, index: int) -> bool:
        """Word `index` is a Chinese character or katakana written right after another: inside a
        compound ("ロシア連邦共産党", "集中共同"), not at its start."""
        return index > 0 and not self.gaps[index] and bool(_GLUE.match(self.originals[index - 1])) and (
            bool(_GLUE.match(self.originals[index])))

    def inside_katakana_word(self, first: int, last: int) -> bool:
        """Words `first` to `last - 1` start or end inside a longer katakana word: katakana is
        written without spaces, but a run of it is one word ("シリア" in "シリアル")."""
        originals, gaps = self.originals, self.gaps
        before = first > 0 and not gaps[first] and bool(
            KATAKANA.match(originals[first - 1]) and KATAKANA.match(originals[first]))
        return before or (last < len(originals) and not gaps[last] and bool(
            KATAKANA.match(originals[last - 1]) and KATAKANA.match(originals[last])))

    def folded(self, *, turkish: bool) -> Tokens:
        """The same words folded the other way (Turkish or not)."""
        return Tokens(self.gaps, self.originals, _fold_words(self.originals, turkish), self.tail)


def tokenize(text: str, *, turkish: bool = False) -> Tokens:
    """Split NFC `text` into words."""
    plain = text.isascii() or _SPECIAL.search(text) is None
    pairs = (_PLAIN_WORDS if plain else _WORDS).findall(text)
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


def arabic_forms(word: str) -> list[str]:
    """A folded Arabic word without its proclitics: "والحزب" -> "الحزب", "حزب"; "لفلسطين" ->
    "فلسطين"; "للاحتلال" -> "الاحتلال", "احتلال". Each form keeps three letters or more."""
    forms = []
    if word[0] in "وف" and len(word) > 3:  # and, so
        word = word[1:]
        forms.append(word)
    if word.startswith("لل") and len(word) > 4:  # li- + al-: the article's alif is dropped
        word = "ال" + word[2:]
        forms.append(word)
    elif word[0] in "بلك" and len(word) > 3:  # with, to, like
        word = word[1:]
        forms.append(word)
    if word.startswith("ال") and len(word) > 4:  # the article
        forms.append(word[2:])
    return forms


def hebrew_forms(word: str) -> list[str]:
    """A Hebrew word without its prefixes: "ובעזה" -> "בעזה", "עזה"; "הכיבוש" -> "כיבוש".
    Each form keeps three letters or more."""
    forms = []
    if word[0] == "ו" and len(word) > 3:  # and
        word = word[1:]
        forms.append(word)
    if word[0] in "שמ" and len(word) > 3:  # that, from
        word = word[1:]
        forms.append(word)
    if word[0] in "בלכ" and len(word) > 3:  # in, to, as
        word = word[1:]
        forms.append(word)
    if word[0] == "ה" and len(word) > 3:  # the
        forms.append(word[1:])
    return forms


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
            shortest = MIN_HANGUL_STEM if _HANGUL.match(word) else MIN_STEM
            if stem and position == 0 and len(word) < shortest:
                raise ValueError(f"stem {word!r}* in {phrase!r} is shorter than {shortest} letters")
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
        words, gaps, found = tokens.words, tokens.gaps, []
        count = len(words)
        for word in _missing(self._first, words):
            self._first[word] = self._starting(word)
        frontiers = list(map(self._first.__getitem__, words))
        starts: Iterable[int] = range(count)
        if around:
            starts = sorted({s for i in around for s in range(max(0, i - self.longest + 1), i + 1)})
        for first in compress(starts, map(frontiers.__getitem__, starts)):  # words that start a phrase
            frontier = frontiers[first]
            last = first + 1
            while True:  # one turn per word of the phrases under way (CJK: per character)
                extended = []
                for node in frontier:
                    if node.terminal:
                        summary = self._summary(tokens, first, node) if node.capped else node.summary
                        if summary is not None:
                            found.append(Match(first, last, summary))
                    if node.inner and last < count:
                        child = node.exact.get(words[last])
                        if child is not None:
                            extended.append(child)
                        if node.stem_lengths:
                            extended += node.stem_children(words[last])
                gap = gaps[last] if extended else ""
                if not extended or (gap and gap != " " and _BREAK.search(gap)):  # a sentence ends
                    break
                frontier = extended
                last += 1
        return found

    def _starting(self, word: str) -> list[_Node]:
        """The trie nodes a phrase starting with `word` goes on from; an Arabic or Hebrew word
        also as itself without the clitics written onto it (و ف ب ل ك, ال; ו ה ב ל מ ש כ)."""
        found = self._root.children(word)
        first = word[:1]
        forms = (arabic_forms(word) if "\u0620" <= first <= "\u064a"
                 else hebrew_forms(word) if "\u05d0" <= first <= "\u05ea" else ())
        for form in forms:
            seen = {id(node) for node in found}
            found += [node for node in self._root.children(form) if id(node) not in seen]
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
