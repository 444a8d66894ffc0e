"""Which party an ambiguous phrase names: the context rules of the tagger.

A phrase that names exactly one party (a full name, an alias, a leader, an
unshared abbreviation) tags it. Anything else is resolved from the item's own
text or dropped, never guessed; docs/tagging.md has the rules and why. Each
decision is logged at DEBUG.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import NamedTuple

from feeds.tag.registry import Registry
from feeds.tag.textfold import Match, Tokens, fold

log = logging.getLogger(__name__)

# Words that join the items of "CPs of Greece (KKE), Chile (CCP) and Turkey (TKP)".
_JOINERS = frozenset({"and", "y", "e", "και", "ve", "und", "et", "и", "&"})
# Chinese words of one character that stand before a name without a space ("在中共中央"):
# after any other Chinese character or katakana, an abbreviation is inside a longer word.
_CJK_FUNCTION_WORDS = frozenset("在与和对向同及的是为跟由据将把被从自以于并让给")
# How a party was decided, for `partyfeeds tag`: the ones that need no rule are left out.
DIRECT = frozenset({"name", "abbr", "leader", "source feed"})


class Ref(NamedTuple):
    """A phrase that names parties: how ("name", "abbr", "leader") and whether it means more."""

    codes: tuple[str, ...]
    how: str
    outside: bool = False  # a not_parties entry gives it a meaning outside the registry


class Country(NamedTuple):
    code: str


class Block(NamedTuple):
    meaning: str  # not_parties: this phrase names no party


class Cue(NamedTuple):
    abbreviation: str  # this phrase signals the outside meaning of the abbreviation


class Keyword(NamedTuple):
    topic: str
    strength: str  # "strong" | "weak" | "needs_party"


class Summary(NamedTuple):
    """Everything the payloads on one span say, worked out once per trie node."""

    payloads: tuple[object, ...]
    codes: tuple[str, ...]  # parties the phrase may name
    outside: bool
    countries: tuple[str, ...]
    blocked: bool
    keywords: tuple[Keyword, ...]
    cues: tuple[str, ...]
    entity: bool  # takes part in choosing party phrases
    topical: bool  # takes part in choosing topic phrases
    how: str  # "name", "abbr", "leader" (the strongest of its refs), or ""


def summarise(payloads: tuple[object, ...]) -> Summary:
    refs = [p for p in payloads if isinstance(p, Ref)]
    countries = tuple(p.code for p in payloads if isinstance(p, Country))
    blocked = any(isinstance(p, Block) for p in payloads)
    keywords = tuple(p for p in payloads if isinstance(p, Keyword))
    return Summary(
        payloads=payloads, codes=tuple(sorted({c for ref in refs for c in ref.codes})),
        outside=any(ref.outside for ref in refs), countries=countries, blocked=blocked,
        keywords=keywords, cues=tuple(p.abbreviation for p in payloads if isinstance(p, Cue)),
        entity=bool(refs or countries or blocked), topical=bool(refs or keywords),
        how=next((how for how in ("name", "leader", "abbr") if any(ref.how == how for ref in refs)), ""))


def merged_spans(matches: list[Match], *, ordered: bool = True) -> list[Match]:
    """One span per word range, in (first, last) order; `find` gives that order for one text."""
    if not ordered:
        matches = sorted(matches, key=lambda m: (m.first, m.last))
    merged: list[Match] = []
    for match in matches:
        prev = merged[-1] if merged else None
        if prev is None or (prev.first, prev.last) != (match.first, match.last):
            merged.append(match)
        elif prev.summary is not match.summary:  # two trie paths or two foldings meet here
            payloads = prev.summary.payloads + match.summary.payloads
            merged[-1] = Match(match.first, match.last, _merged(payloads))
    return merged


_MERGED: dict[tuple[object, ...], Summary] = {}


def _merged(payloads: tuple[object, ...]) -> Summary:
    """The summary of two spans' payloads together; the same pairs meet in text after text."""
    summary = _MERGED.get(payloads)
    if summary is None:
        if len(_MERGED) > 50_000:
            _MERGED.clear()
        summary = _MERGED[payloads] = summarise(tuple(dict.fromkeys(payloads)))
    return summary


def choose(spans: list[Match], facet: str) -> list[Match]:
    """Leftmost-longest, non-overlapping spans among those that count for `facet`.

    `spans` are in (first, last) order, so the longest at a start comes last.
    """
    chosen: list[Match] = []
    end = 0
    for span in spans:
        if not getattr(span.summary, facet):
            continue
        if span.first >= end:
            chosen.append(span)
            end = span.last
        elif span.first == chosen[-1].first:  # a longer phrase at the same start
            chosen[-1] = span
            end = span.last
    return chosen


class Context(NamedTuple):
    """What the tagger knows beside the text: compiled once from the registry, plus the item's language."""

    heads: frozenset[tuple[str, ...]]  # folded token runs that introduce a country list
    defaults: Mapping[str, str | None]  # country -> the party "the CP of <country>" means
    outside: Mapping[str, frozenset[str]]  # folded abbreviation -> languages of its outside
    #                                        meanings ("*" among them: any language)
    language: str | None = None  # the item's


class PartyResolver:
    """Turns the spans of one text into {party code: evidence}, and `rules`: {code: what decided}."""

    def __init__(self, registry: Registry, tokens: Tokens, spans: list[Match], context: Context) -> None:
        self.registry = registry
        self.tokens = tokens
        self.spans = [span for span in choose(spans, "entity") if not self._inside_a_word(span)]
        self.context = context
        heads, defaults = context.heads, context.defaults
        self.cues = {cue for span in spans for cue in span.summary.cues}
        self.heads = heads
        self.head_lengths = {len(head) for head in heads}
        self.defaults = defaults
        self.countries = {c for span in self.spans for c in span.summary.countries}
        self.found: dict[str, list[str]] = {}
        self.rules: dict[str, str] = {}
        self.pending: list[int] = []  # spans that name no party on their own

    def run(self, source_party: str | None) -> dict[str, list[str]]:
        if source_party is not None:
            self._add(source_party, "source feed", "source feed")
        pending = []
        for index, span in enumerate(self.spans):
            codes, outside = span.summary.codes, span.summary.outside
            if not codes or span.summary.blocked:
                continue
            if len(codes) == 1 and not outside:
                self._add(codes[0], self._text(span), span.summary.how)
            else:
                pending.append(index)
        if self.countries:
            self._country_lists()
        self.pending = pending
        for index in pending:
            self._resolve(index)
        return self.found

    def _add(self, code: str, words: str, rule: str) -> None:
        self.found.setdefault(code, []).append(words)
        self.rules.setdefault(code, rule)

    def _inside_a_word(self, span: Match) -> bool:
        """A Chinese or Japanese abbreviation glued to the character before it is part of another
        word: "共産党" in "ロシア連邦共産党", "中共" in "集中共同"."""
        if span.summary.how != "abbr" or not self.tokens.glued_before(span.first):
            return False
        return self.tokens.originals[span.first - 1] not in _CJK_FUNCTION_WORDS

    def _text(self, span: Match) -> str:
        return self.tokens.original(span.first, span.last)

    def _resolve(self, index: int) -> None:
        span = self.spans[index]
        codes, outside, text = span.summary.codes, span.summary.outside, self._text(span)
        if outside and text in self.cues:
            log.debug("dropped %r: the text signals its meaning outside the registry", text)
            return
        paired = self._paired(index) if self._in_parens_after(index) else None
        if paired is not None:
            self._add(paired, f"{self._text(self.spans[index - 1])} ({text})", "pair")
            return
        named = [code for code in codes if code in self.found]
        if named:
            log.debug("%r supports %s, already named in the text", text, named)
            for code in named:
                self._add(code, text, "named in the text")
            return
        language = self.context.language
        for support, why, rule in (
                (self._writes_in(codes, text), f"the only one writing in {language}", f"language {language}"),
                (self._countries_of(codes), "its country is named in the text", "country in the text"),
                (self._corroborated(index), "another ambiguous mention names it too", "corroborated")):
            if len(support) == 1:
                log.debug("%r resolved to %s: %s", text, support[0], why)
                self._add(support[0], text, rule)
                return
        log.debug("dropped %r: could be %s and nothing in the text decides", text,
                  [*codes, *(["something outside the registry"] if outside else [])])

    def _writes_in(self, codes: tuple[str, ...], text: str) -> list[str]:
        """The one party among `codes` whose languages include the item's, unless an outside
        meaning of the abbreviation may be written in that language too."""
        language = self.context.language
        if language is None:
            return []
        outside = self.context.outside.get(fold(text))
        if outside is not None and (language in outside or "*" in outside):
            return []
        return [code for code in codes if language in self.registry.parties[code].languages]

    def _countries_of(self, codes: tuple[str, ...]) -> list[str]:
        return [code for code in codes if self.registry.parties[code].country in self.countries]

    def _corroborated(self, index: int) -> list[str]:
        """Codes this span shares with another ambiguous mention ("Brian Becker ... PSL")."""
        text = self._text(self.spans[index])
        others = {code for other in self.pending if self._text(self.spans[other]) != text
                  for code in self.spans[other].summary.codes}
        return [code for code in self.spans[index].summary.codes if code in others]

    def _paired(self, index: int) -> str | None:
        """"<Name> (<ABBR>)", "<Country> (<ABBR>)": the pair picks one of the abbreviation's parties."""
        span, prev = self.spans[index], self.spans[index - 1].summary
        codes = span.summary.codes
        named = set(prev.codes) & set(codes)
        in_country = {code for code in codes if self.registry.parties[code].country in prev.countries}
        for choice, why in ((named, "name and abbreviation agree"), (in_country, "country and abbreviation")):
            if len(choice) == 1:
                code = choice.pop()
                log.debug("%r resolved to %s: %s", self._text(span), code, why)
                return code
        return None

    def _in_parens_after(self, index: int) -> bool:
        """Span `index` stands in parentheses right after the span before it."""
        return index > 0 and self.spans[index - 1].last == self.spans[index].first and (
            "(" in self.tokens.gaps[self.spans[index].first])

    def _country_lists(self) -> None:
        """"CPs of Greece, Chile and Turkey": each country without its own (ABBR) means its CP."""
        words = self.tokens.words
        list_end: int | None = None
        for index, span in enumerate(self.spans):
            countries = span.summary.countries
            if not countries:
                in_list = list_end is not None and self._in_parens_after(index)  # "(KKE)" in the list
                list_end = span.last if in_list else None
                continue
            joined = list_end is not None and all(w in _JOINERS for w in words[list_end:span.first])
            if not (joined or self._head_before(span.first)):
                list_end = None
                continue
            list_end = span.last
            if index + 1 < len(self.spans) and self._in_parens_after(index + 1):
                continue  # "Chile (CCP)": the abbreviation decides, not the country
            self._country_default(span, countries[0])

    def _head_before(self, first: int) -> bool:
        words = self.tokens.words
        return any(tuple(words[first - n:first]) in self.heads for n in self.head_lengths if first >= n)

    def _country_default(self, span: Match, country: str) -> None:
        code = self.defaults.get(country)
        if code is None:
            log.debug("dropped 'CP of %s': the registry has no single communist party there", country)
            return
        log.debug("'CP of %s' resolved to %s", self._text(span), code)
        self._add(code, f"CP of {self._text(span)}", "country list")
