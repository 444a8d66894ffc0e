"""Which party an ambiguous phrase names: the context rules of the tagger.

A phrase that names exactly one party (a full name, an alias, a leader, an
unshared abbreviation) tags it. Anything else is resolved from the item's own
text or dropped, never guessed; docs/tagging.md has the rules and why. Each
decision is logged at DEBUG.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from feeds.registry import Registry
from feeds.textfold import Match, Tokens

log = logging.getLogger(__name__)

# Words that join the items of "CPs of Greece (KKE), Chile (CCP) and Turkey (TKP)".
_P = TypeVar("_P")
_JOINERS = frozenset({"and", "y", "e", "και", "ve", "und", "et", "и", "&"})


@dataclass(frozen=True, slots=True)
class Ref:
    """A phrase that names parties: how ("name", "abbr", "leader") and whether it means more."""

    codes: tuple[str, ...]
    how: str
    outside: bool = False  # a not_parties entry gives it a meaning outside the registry


@dataclass(frozen=True, slots=True)
class Country:
    code: str


@dataclass(frozen=True, slots=True)
class Block:
    meaning: str  # not_parties: this phrase names no party


@dataclass(frozen=True, slots=True)
class Cue:
    abbreviation: str  # this phrase signals the outside meaning of the abbreviation


@dataclass(frozen=True, slots=True)
class Keyword:
    topic: str
    strength: str  # "strong" | "weak" | "needs_party"


@dataclass(frozen=True, slots=True)
class Span:
    first: int
    last: int
    payloads: tuple[object, ...]

    def of(self, kind: type[_P]) -> list[_P]:
        return [p for p in self.payloads if isinstance(p, kind)]


def merged_spans(matches: Iterable[Match], tokens: Tokens) -> list[Span]:
    """One span per token range, with every payload found there (both Turkish passes)."""
    by_range: dict[tuple[int, int], dict[object, None]] = {}
    for match in matches:
        by_range.setdefault((match.first, match.last), {}).update(dict.fromkeys(match.payloads))
    return [Span(first, last, tuple(payloads)) for (first, last), payloads in sorted(by_range.items())]


def choose(spans: Iterable[Span], kinds: tuple[type, ...]) -> list[Span]:
    """Leftmost-longest, non-overlapping spans among those carrying one of `kinds`."""
    candidates = sorted((s for s in spans if any(isinstance(p, kinds) for p in s.payloads)),
                        key=lambda s: (s.first, -s.last))
    chosen: list[Span] = []
    end = 0
    for span in candidates:
        if span.first >= end:
            chosen.append(span)
            end = span.last
    return chosen


class PartyResolver:
    """Turns the entity spans of one text into {party code: evidence}."""

    def __init__(self, registry: Registry, tokens: Tokens, spans: list[Span],
                 heads: frozenset[tuple[str, ...]], defaults: Mapping[str, str | None]) -> None:
        self.registry = registry
        self.tokens = tokens
        self.spans = choose(spans, (Ref, Country, Block))
        self.cues = {c.abbreviation for span in spans for c in span.of(Cue)}
        self.heads = heads
        self.defaults = defaults
        self.countries = {c.code for span in self.spans for c in span.of(Country)}
        self.found: dict[str, list[str]] = {}

    def run(self, source_party: str | None) -> dict[str, list[str]]:
        if source_party is not None:
            self._add(source_party, "source feed")
        pending = []
        for span in self.spans:
            refs = span.of(Ref)
            if not refs or span.of(Block):
                continue
            codes = sorted({code for ref in refs for code in ref.codes})
            if len(codes) == 1 and not any(ref.outside for ref in refs):
                self._add(codes[0], self._text(span))
            else:
                pending.append((span, codes, any(ref.outside for ref in refs)))
        self._country_lists()
        for span, codes, outside in pending:
            self._resolve(span, codes, outside)
        return self.found

    def _add(self, code: str, words: str) -> None:
        self.found.setdefault(code, []).append(words)

    def _text(self, span: Span) -> str:
        return self.tokens.original(span.first, span.last)

    def _resolve(self, span: Span, codes: list[str], outside: bool) -> None:
        text = self._text(span)
        if outside and text in self.cues:
            log.debug("dropped %r: the text signals its meaning outside the registry", text)
            return
        prev = self._before(span)
        paired = self._paired(span, prev, codes) if prev is not None else None
        if prev is not None and paired is not None:
            self._add(paired, f"{self._text(prev)} ({text})")
            return
        named = [code for code in codes if code in self.found]
        if named:
            log.debug("%r supports %s, already named in the text", text, named)
            for code in named:
                self._add(code, text)
            return
        by_country = [code for code in codes if self.registry.parties[code].country in self.countries]
        if len(by_country) == 1:
            log.debug("%r resolved to %s: its country is named in the text", text, by_country[0])
            self._add(by_country[0], text)
            return
        log.debug("dropped %r: could be %s and nothing in the text decides", text,
                  codes + (["something outside the registry"] if outside else []))

    def _before(self, span: Span) -> Span | None:
        """The span right before `span` when `span` stands in parentheses after it."""
        index = self.spans.index(span)
        if index == 0:
            return None
        prev = self.spans[index - 1]
        if prev.last != span.first or "(" not in self.tokens.gap_before(span.first):
            return None
        return prev

    def _paired(self, span: Span, prev: Span, codes: list[str]) -> str | None:
        """"<Name> (<ABBR>)" and "<Country> (<ABBR>)": the pair picks one of the abbreviation's parties."""
        named = {code for ref in prev.of(Ref) for code in ref.codes} & set(codes)
        countries = {c.code for c in prev.of(Country)}
        in_country = {code for code in codes if self.registry.parties[code].country in countries}
        for choice, why in ((named, "name and abbreviation agree"), (in_country, "country and abbreviation")):
            if len(choice) == 1:
                code = choice.pop()
                log.debug("%r resolved to %s: %s", self._text(span), code, why)
                return code
        return None

    def _country_lists(self) -> None:
        """"CPs of Greece, Chile and Turkey": each country without its own (ABBR) means its CP."""
        words = self.tokens.words
        list_end: int | None = None
        for index, span in enumerate(self.spans):
            countries = span.of(Country)
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
            self._country_default(span, countries[0].code)

    def _in_parens_after(self, index: int) -> bool:
        span = self.spans[index]
        return index > 0 and self.spans[index - 1].last == span.first and (
            "(" in self.tokens.gap_before(span.first))

    def _head_before(self, first: int) -> bool:
        words = self.tokens.words
        return any(first >= len(h) and tuple(words[first - len(h):first]) == h for h in self.heads)

    def _country_default(self, span: Span, country: str) -> None:
        code = self.defaults.get(country)
        if code is None:
            log.debug("dropped 'CP of %s': the registry has no single communist party there", country)
            return
        log.debug("'CP of %s' resolved to %s", self._text(span), code)
        self._add(code, f"CP of {self._text(span)}")
