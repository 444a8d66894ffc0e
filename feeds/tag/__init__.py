"""Tag an item's text with the parties and topics it concerns.

Everything the tagger knows comes from the registry: names, aliases,
abbreviations, leaders, country names, topic keywords and the `not_parties`
list are compiled once into one phrase index (feeds.tag.textfold). Tagging one
text is then one pass over its tokens plus a few rules for what an ambiguous
phrase refers to; docs/tagging.md explains those rules.

    tagger = Tagger(registry)
    tags = tagger.tag("The Communist Party of Greece (KKE) condemned ...")
    tags.parties == ("kke",)

Enters: an `Item` and the registry. Leaves: the item with its parties and topics. Imports
the model and errors; never fetch, parse, dedupe, store, publish or the scheduler.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from feeds.errors import RegistryError
from feeds.model import Item
from feeds.tag.registry import Registry
from feeds.tag.tagrules import (
    DIRECT,
    Block,
    Context,
    Country,
    Cue,
    Keyword,
    PartyResolver,
    Ref,
    choose,
    merged_spans,
    summarise,
)
from feeds.tag.textfold import (
    KATAKANA,
    Match,
    PhraseIndex,
    Tokens,
    fold,
    looks_turkish,
    phrase_tokens,
    tokenize,
)

# Spanish/Portuguese forms of "Communist Party of" that start a "<head> <Country>" list.
_EXTRA_HEADS = ("Partido Comunista de", "Partidos Comunistas de", "Partido Comunista do",
                "Partido Comunista da")
_COMBINING = re.compile("[\u0300-\u036f]")
_DATE = r"(?:\d{1,2}\s+\w+\s+\d{4}|\w+\s+\d{1,2},?\s+\d{4}|\d{4}-\d{2}-\d{2})"


_NO_RULES: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Tags:
    parties: tuple[str, ...]  # sorted codes
    topics: tuple[str, ...]  # sorted ids
    evidence: Mapping[str, Mapping[str, tuple[str, ...]]]  # {"parties": {code: words}, "topics": {...}}
    # {code: the rule that decided}, for the parties a context rule decided ("language pt", "pair" ...)
    rules: Mapping[str, str] = field(default_factory=lambda: _NO_RULES)


def tag_item(tagger: Tagger, item: Item) -> Item:
    """`item` with the parties and topics its text, categories and source give."""
    source_party = next((s.party for s in item.sources if s.party), None)
    tags = tagger.tag(f"{item.title}\n{item.summary}", language=item.language,
                      categories=item.categories, source_party=source_party)
    return replace(item, parties=tags.parties, topics=tags.topics)


class Tagger:
    """Compiled matcher for one registry; `tag` is safe to call for every item."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._index = PhraseIndex(summarise)
        self._outside = _outside_abbreviations(registry)
        self._add_parties(registry)
        self._add_not_parties(registry)
        self._add_topics(registry)
        for code, names in registry.countries.items():
            for name in names:
                self._add(name, Country(code))
        self._index.freeze()
        self._bylines = _byline_pattern(registry.bylines)
        self._topic_names = {fold(t): t for t in registry.topics} | {
            fold(topic.label): topic.id for topic in registry.topics.values()}
        self._context = Context(_heads(registry),
                                {code: _country_default(registry, code) for code in registry.countries},
                                _outside_languages(registry))

    def tag(self, text: str, *, language: str | None = None, categories: Sequence[str] = (),
            source_party: str | None = None) -> Tags:
        """Parties and topics of `text`; `categories` count for topics, `source_party` is always kept."""
        if source_party is not None and source_party not in self.registry.parties:
            raise ValueError(f"unknown source party {source_party!r}")
        text = _clean(text)
        if self._bylines is not None:
            text = self._bylines.sub("\n", text)
        tokens, spans = self._match(text, language)
        resolver = PartyResolver(self.registry, tokens, spans, self._context._replace(language=language))
        parties = resolver.run(source_party)
        topics = _Topics()
        topics.collect(tokens, spans)
        for category in categories:
            self._category(category, language, topics)
        rules = {code: rule for code, rule in resolver.rules.items() if rule not in DIRECT}
        return _tags(parties, topics.result(has_party=bool(parties)), rules)

    def _match(self, text: str, language: str | None) -> tuple[Tokens, list[Match]]:
        tokens = tokenize(text)
        found = self._index.find(tokens)
        if not text.isascii() and KATAKANA.search(text):
            found = [m for m in found if not tokens.inside_katakana_word(m.first, m.last)]
        if "I" not in text or not looks_turkish(text, language):
            return tokens, merged_spans(found)
        turkish = tokens.folded(turkish=True)  # Turkish capitals: I is ı, not i
        changed = [i for i, (a, b) in enumerate(zip(tokens.words, turkish.words, strict=True)) if a != b]
        if changed:
            found += self._index.find(turkish, around=changed)
        return tokens, merged_spans(found, ordered=False)

    def _category(self, category: str, language: str | None, topics: _Topics) -> None:
        category = _clean(category)
        topic_id = self._topic_names.get(fold(category).strip())
        if topic_id is not None:
            topics.add("strong", topic_id, category.strip())
        tokens, spans = self._match(category, language)
        topics.collect(tokens, spans)

    # -- compiling the registry ------------------------------------------------

    def _add(self, phrase: str, payload: object, *, turkish: bool = False) -> None:
        try:
            self._index.add(phrase, payload)
        except ValueError as exc:  # a stem too short, a phrase of punctuation only
            raise RegistryError(str(exc), key=f"phrase {phrase!r}") from exc
        if (turkish or looks_turkish(phrase, None)) and (
                phrase_tokens(phrase, turkish=True) != phrase_tokens(phrase)):
            self._index.add(phrase, payload, turkish=True)

    def _add_parties(self, registry: Registry) -> None:
        for party in registry.parties.values():
            turkish = party.country == "TR"
            for name in _name_variants(party.names, registry.expansions):
                self._add(name, Ref((party.code,), "name"), turkish=turkish)
            for abbr in party.abbreviations:
                self._add(abbr, Ref((party.code,), "abbr", abbr in self._outside), turkish=turkish)
            for leader in party.leaders:
                for name in leader.names:
                    self._add(name, Ref((party.code,), "leader"), turkish=turkish)

    def _add_not_parties(self, registry: Registry) -> None:
        for entry in registry.not_parties:
            for text in entry.texts:
                if text in self._outside:
                    for cue in entry.cues:
                        self._add(cue, Cue(text))
                else:
                    self._add(text, Block(entry.meaning))

    def _add_topics(self, registry: Registry) -> None:
        for topic in registry.topics.values():
            for language, words in topic.keywords.items():
                for word in words:
                    self._add(word, Keyword(topic.id, "strong"), turkish=language == "tr")
            for word in topic.weak:
                self._add(word, Keyword(topic.id, "weak"))
            for word in topic.needs_party:
                self._add(word, Keyword(topic.id, "needs_party"))


class _Topics:
    """Topic evidence by strength: strong keywords make a topic, the others only support it."""

    def __init__(self) -> None:
        self.found: dict[str, dict[str, list[str]]] = {"strong": {}, "weak": {}, "needs_party": {}}

    def add(self, strength: str, topic: str, words: str) -> None:
        self.found[strength].setdefault(topic, []).append(words)

    def collect(self, tokens: Tokens, spans: list[Match]) -> None:
        # Party names take part so that "Workers'" in "Communist and Workers' Parties" is no keyword.
        for span in choose(spans, "topical"):
            for keyword in span.summary.keywords:
                self.add(keyword.strength, keyword.topic, tokens.original(span.first, span.last))

    def result(self, *, has_party: bool) -> dict[str, list[str]]:
        strong, weak, needs = self.found["strong"], self.found["weak"], self.found["needs_party"]
        chosen = set(strong) | (set(needs) if has_party else set())
        return {t: strong.get(t, []) + needs.get(t, []) + weak.get(t, []) for t in chosen}


def tags_as_json(tags: Tags) -> dict[str, object]:
    """Plain JSON-ready form: {"parties": [...], "topics": [...], "evidence": {...}}; evidence has
    "rules": {code: rule} too when a context rule decided a party."""
    evidence: dict[str, object] = {facet: {key: list(words) for key, words in found.items()}
                                   for facet, found in tags.evidence.items()}
    if tags.rules:
        evidence["rules"] = dict(tags.rules)
    return {"parties": list(tags.parties), "topics": list(tags.topics), "evidence": evidence}


def explain(tags: Tags, registry: Registry) -> str:
    """One line per party and topic: its label and the words that matched."""
    lines = []
    for code in tags.parties:
        words = ", ".join(tags.evidence["parties"].get(code, ()))
        rule = f"  [rule: {tags.rules[code]}]" if code in tags.rules else ""
        lines.append(f"party  {code}: {registry.party_label(code)} <- {words}{rule}")
    for topic_id in tags.topics:
        words = ", ".join(tags.evidence["topics"].get(topic_id, ()))
        lines.append(f"topic  {topic_id}: {registry.topics[topic_id].label} <- {words}")
    return "\n".join(lines) if lines else "no parties, no topics"


def _tags(parties: Mapping[str, list[str]], topics: Mapping[str, list[str]], rules: dict[str, str]) -> Tags:
    def frozen(found: Mapping[str, list[str]]) -> Mapping[str, tuple[str, ...]]:
        return MappingProxyType({key: tuple(dict.fromkeys(words)) for key, words in sorted(found.items())})

    return Tags(parties=tuple(sorted(parties)), topics=tuple(sorted(topics)),
                evidence=MappingProxyType({"parties": frozen(parties), "topics": frozen(topics)}),
                rules=MappingProxyType(dict(sorted(rules.items()))) if rules else _NO_RULES)


def _clean(text: str) -> str:
    """NFC text without the accents NFC cannot compose ("İ".lower() leaves i + U+0307)."""
    if text.isascii():
        return text
    return _COMBINING.sub("", unicodedata.normalize("NFC", text))


def _outside_abbreviations(registry: Registry) -> frozenset[str]:
    """Registry abbreviations that `not_parties` says also mean something else."""
    abbreviations = {a for party in registry.parties.values() for a in party.abbreviations}
    return frozenset(t for entry in registry.not_parties for t in entry.texts if t in abbreviations)


def _outside_languages(registry: Registry) -> dict[str, frozenset[str]]:
    """Folded abbreviation -> the languages its outside meanings are written in ("*": any)."""
    abbreviations = {a for party in registry.parties.values() for a in party.abbreviations}
    languages: dict[str, set[str]] = {}
    for entry in registry.not_parties:
        for text in entry.texts:
            if text in abbreviations:
                languages.setdefault(fold(text), set()).update(entry.languages or ("*",))
    return {text: frozenset(found) for text, found in languages.items()}


def _name_variants(names: Iterable[str], expansions: Mapping[str, str]) -> Iterable[str]:
    """Each name, its " / " parts, and its short forms ("Communist Party of X" -> "CP of X")."""
    for name in names:
        for part in {name, *name.split(" / ")}:
            yield part
            for short, long in expansions.items():
                shortened = re.sub(rf"\b{re.escape(long)}\b", short, part, flags=re.IGNORECASE)
                if shortened != part:
                    yield shortened


def _heads(registry: Registry) -> frozenset[tuple[str, ...]]:
    """Folded token runs that introduce a country list: "CPs of", "Communist Party of" ..."""
    phrases = list(_EXTRA_HEADS)
    for short, long in registry.expansions.items():
        if long.lower().startswith("communist part"):
            phrases += [f"{short} of", f"{long} of"]
    return frozenset(tuple(word for word, _stem, _caps in phrase_tokens(p)) for p in phrases)


def _country_default(registry: Registry, country: str) -> str | None:
    """The party "the CP of <country>" means: the only party there, or the one named so."""
    parties = [p for p in registry.parties.values() if p.country == country and p.kind == "party"]
    if len(parties) == 1:
        return parties[0].code
    wanted = {fold(f"Communist Party of {name}") for name in registry.countries.get(country, ())}
    named = [p.code for p in parties if wanted & {fold(n) for n in p.names}]
    return named[0] if len(named) == 1 else None


def _byline_pattern(templates: Sequence[str]) -> re.Pattern[str] | None:
    """'ICP, <date>' -> a regex; a publisher's byline names no party."""
    if not templates:
        return None
    parts = [re.escape(t).replace("<date>", _DATE).replace("<site>", r"\S+") for t in templates]
    return re.compile("|".join(parts))
