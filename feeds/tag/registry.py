"""The party registry and topic taxonomy: typed, validated, loaded once.

`load_registry` reads the shipped registry/parties.yaml and registry/topics.yaml
plus any operator override files (same shape: a `parties:` and/or `topics:`
list; an entry whose code/id exists replaces those fields, a new one is added).
Every structural problem is a `RegistryError` naming the file, key and line.
"""

from __future__ import annotations

import copyreg
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from feeds.errors import RegistryError
from feeds.parse.yamldoc import LineList, load_yaml

KINDS = frozenset({"party", "front", "coalition", "network", "media", "campaign", "youth", "union"})
CONFIDENCES = frozenset({"high", "medium", "low", "inferred"})


@dataclass(frozen=True, slots=True)
class FeedCandidate:
    url: str
    language: str | None
    confidence: str


@dataclass(frozen=True, slots=True)
class Leader:
    name: str
    native: str | None = None
    alt_spellings: tuple[str, ...] = ()
    role: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.name, self.native, *self.alt_spellings) if n)


@dataclass(frozen=True, slots=True)
class Party:
    code: str
    kind: str
    name: str
    native_name: str | None
    abbreviations: tuple[str, ...]  # primary first
    country: str  # ISO 3166-1 alpha-2; "XX" = international
    languages: tuple[str, ...]
    website: str | None
    feeds: tuple[FeedCandidate, ...]
    aliases: tuple[str, ...] = ()
    leaders: tuple[Leader, ...] = ()
    collides_with: tuple[str, ...] = ()  # free text, for people; matching uses abbreviations
    notes: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every full name and alias (not abbreviations, not leaders)."""
        return tuple(n for n in (self.name, self.native_name, *self.aliases) if n)


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    label: str
    keywords: Mapping[str, tuple[str, ...]]  # language -> keywords ("*" suffix = stem)
    weak: tuple[str, ...] = ()  # count only beside a keyword of the same topic
    needs_party: tuple[str, ...] = ()  # count only when the item names a party
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class NotParty:
    """Strings that look like registry parties but are not.

    A text equal to a registry abbreviation is an *outside meaning* of it (the
    abbreviation then needs supporting context, and any of `cues` vetoes it);
    any other text blocks that phrase from naming a party.
    """

    texts: tuple[str, ...]
    meaning: str
    cues: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()  # where the outside meaning is written; () = any language


@dataclass(frozen=True, slots=True)
class ItemType:
    id: str
    cues: tuple[str, ...]


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


def _read_only(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)


# The parse workers tag items too (feeds/prepare.py), so a registry and the tagger compiled
# from it must pickle: a read-only view pickles as its dict and comes back read-only.
copyreg.pickle(MappingProxyType, lambda view: (_read_only, (dict(view),)))


@dataclass(frozen=True, slots=True)
class Registry:
    parties: Mapping[str, Party]
    topics: Mapping[str, Topic]
    countries: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)  # ISO code -> names
    not_parties: tuple[NotParty, ...] = ()
    expansions: Mapping[str, str] = field(default_factory=_empty)  # "CP" -> "Communist Party"
    bylines: tuple[str, ...] = ()  # "ICP, <date>": publisher bylines to ignore
    item_types: tuple[ItemType, ...] = ()
    regions: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)

    def party_label(self, code: str) -> str:
        """E.g. "Communist Party of Greece (KKE)"."""
        party = self.parties[code]
        abbr = party.abbreviations[0] if party.abbreviations else None
        if not abbr or abbr in party.name or party.name.endswith(")"):  # "... (Marxist)" stays as is
            return party.name
        return f"{party.name} ({abbr})"

    def region_of(self, country: str) -> str | None:
        return next((name for name, codes in self.regions.items() if country in codes), None)


def describe(registry: Registry) -> str:
    """Its size in one line: "126 parties, 839 names and abbreviations, 49 languages; 18 topics,
    4,102 keywords in 49 languages"."""
    parties = registry.parties.values()
    names = {name for party in parties for name in (*party.names, *party.abbreviations)}
    languages = {language for party in parties for language in party.languages}
    topics = registry.topics.values()
    keywords = sum(len(words) for topic in topics for words in topic.keywords.values())
    keyword_languages = {language for topic in topics for language in topic.keywords}
    return (f"{_count(len(registry.parties), 'party', 'parties')}, "
            f"{_count(len(names), 'name and abbreviation', 'names and abbreviations')}, "
            f"{_count(len(languages), 'language')}; {_count(len(registry.topics), 'topic')}, "
            f"{_count(keywords, 'keyword')} in {_count(len(keyword_languages), 'language')}")


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number:,} {one if number == 1 else many or one + 's'}"


def load_registry(parties_path: Path, topics_path: Path, overrides: Sequence[Path] = ()) -> Registry:
    """Read, merge and validate the registry files."""
    parties_doc = load_yaml(parties_path, RegistryError)
    topics_doc = load_yaml(topics_path, RegistryError)
    override_docs = [(load_yaml(path, RegistryError), str(path)) for path in overrides]
    return build_registry(parties_doc, topics_doc, override_docs,
                          parties_path=str(parties_path), topics_path=str(topics_path))


def build_registry(
    parties_doc: Any,
    topics_doc: Any,
    overrides: Sequence[tuple[Any, str]] = (),
    *,
    parties_path: str = "<parties>",
    topics_path: str = "<topics>",
) -> Registry:
    """Build a Registry from parsed documents; overrides are (document, path) pairs."""
    pdoc = _top(parties_doc, parties_path, {"parties", "not_parties", "countries"})
    tdoc = _top(topics_doc, topics_path, {"facets", "topics", "item_types", "regions", "normalisation"})
    party_entries = _entries(pdoc, "parties", "code", parties_path)
    topic_entries = _entries(tdoc, "topics", "id", topics_path)
    for doc, path in overrides:
        odoc = _top(doc, path, {"parties", "topics"})
        party_entries = _merge(party_entries, _entries(odoc, "parties", "code", path))
        topic_entries = _merge(topic_entries, _entries(odoc, "topics", "id", path))
    countries = _countries(_section(pdoc, "countries", parties_path))
    norm = _section(tdoc, "normalisation", topics_path)
    return Registry(
        parties=MappingProxyType({e.key: _party(e, countries) for e in party_entries.values()}),
        topics=MappingProxyType({e.key: _topic(e) for e in topic_entries.values()}),
        countries=MappingProxyType(countries),
        not_parties=tuple(_not_parties(pdoc, parties_path)),
        expansions=MappingProxyType(_expansions(norm)),
        bylines=norm.strings("strip_bylines"),
        item_types=tuple(ItemType(e.key, e.strings("cues"))
                         for e in _entries(tdoc, "item_types", "id", topics_path).values()),
        regions=MappingProxyType(_regions(_section(tdoc, "regions", topics_path))),
    )


# -- validation helpers: every error names file, key and line ---------------


class _Entry:
    """One mapping from a registry file, remembering where each field came from."""

    def __init__(self, data: Mapping[str, Any], path: str, label: str, key: str = "") -> None:
        self.key = key
        self.label = label
        self.data = dict(data)
        line_of = getattr(data, "line_of", lambda _k: getattr(data, "line", None))
        self.where = {k: (path, line_of(k)) for k in data}
        self.origin = (path, getattr(data, "line", None))

    def fail(self, field: str, message: str, index: int | None = None) -> NoReturn:
        """Raise naming the field's line, or its element's line when `index` is given."""
        path, line = self.where.get(field, self.origin)
        items = self.data.get(field)
        if index is not None and isinstance(items, LineList):
            line = items.line_of(index)
        raise RegistryError(message, path=path, line=line, key=f"{self.label}.{field}".strip("."))

    def str_(self, field: str, *, optional: bool = False) -> str | None:
        value = self.data.get(field)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not (value or optional):
            self.fail(field, "required text" if value is None else f"must be text, not {value!r}")
        return value

    def list_(self, field: str) -> list[Any]:
        value = self.data.get(field) or []
        if not isinstance(value, list):
            self.fail(field, "must be a list")
        return value

    def strings(self, field: str, value: Any = None) -> tuple[str, ...]:
        """`value` (default: the field) as a tuple of text; the line of a bad element is named."""
        items = self.list_(field) if value is None else value
        if not isinstance(items, list):
            self.fail(field, "must be a list of text")
        for index, item in enumerate(items):
            if not isinstance(item, str) or not item.strip():
                line = items.line_of(index) if isinstance(items, LineList) else None
                path = self.where.get(field, self.origin)[0]
                raise RegistryError(f"element {index} must be text, not {item!r} (quote it)",
                                    path=path, line=line or self.where.get(field, self.origin)[1],
                                    key=f"{self.label}.{field}".strip("."))
        return tuple(items)


def _top(doc: Any, path: str, allowed: set[str]) -> _Entry:
    if not isinstance(doc, Mapping):
        raise RegistryError("the document must be a mapping", path=path, line=1)
    entry = _Entry(doc, path, "")
    for key in doc:
        if key not in allowed:
            entry.fail(key, f"unknown section (expected {', '.join(sorted(allowed))})")
    return entry


def _section(doc: _Entry, name: str, path: str) -> _Entry:
    value = doc.data.get(name) or {}
    if not isinstance(value, Mapping):
        doc.fail(name, "must be a mapping")
    entry = _Entry(value, path, name)
    entry.origin = doc.where.get(name, doc.origin)
    return entry


def _entries(doc: _Entry, section: str, id_key: str, path: str) -> dict[str, _Entry]:
    result: dict[str, _Entry] = {}
    for index, raw in enumerate(doc.list_(section)):
        line = doc.data[section].line_of(index) if isinstance(doc.data[section], LineList) else None
        if not isinstance(raw, Mapping) or not isinstance(raw.get(id_key), str) or not raw[id_key]:
            raise RegistryError(f"must be a mapping with a text {id_key}", path=path, line=line,
                                key=f"{section}[{index}]")
        key = raw[id_key]
        if key in result:
            raise RegistryError(f"duplicate {id_key} {key!r}", path=path, line=line,
                                key=f"{section}[{index}]")
        result[key] = _Entry(raw, path, f"{section}[{key}]", key)
    return result


def _merge(base: dict[str, _Entry], extra: dict[str, _Entry]) -> dict[str, _Entry]:
    """Override entries replace the fields they give; new codes/ids are added."""
    merged = dict(base)
    for key, entry in extra.items():
        if key in merged:
            old = merged[key]
            old.data.update(entry.data)
            old.where.update(entry.where)
        else:
            merged[key] = entry
    return merged


# -- builders ----------------------------------------------------------------


def _party(e: _Entry, countries: Mapping[str, tuple[str, ...]]) -> Party:
    kind = e.str_("kind")
    if kind not in KINDS:
        e.fail("kind", f"unknown kind {kind!r} (one of {', '.join(sorted(KINDS))})")
    country = e.str_("country") or ""
    if country != "XX" and country not in countries:
        e.fail("country", f"unknown country code {country!r} (list it under countries:)")
    return Party(
        code=e.key, kind=kind or "", name=e.str_("name_en") or "",
        native_name=e.str_("name_native", optional=True) or None,
        abbreviations=_abbreviations(e), country=country,
        languages=e.strings("languages"),
        website=e.str_("website", optional=True) or None,
        feeds=tuple(_feed(e, i, raw) for i, raw in enumerate(e.list_("feeds"))),
        aliases=e.strings("aliases"),
        leaders=tuple(_leader(e, i, raw) for i, raw in enumerate(e.list_("leaders"))),
        collides_with=e.strings("collides_with"),
        notes=e.str_("notes", optional=True),
    )


def _abbreviations(e: _Entry) -> tuple[str, ...]:
    raw = e.data.get("abbr") or []
    if isinstance(raw, Mapping):  # {en: [...], native: [...]}
        return tuple(dict.fromkeys(a for words in raw.values() for a in e.strings("abbr", words)))
    return tuple(dict.fromkeys(e.strings("abbr")))


def _feed(e: _Entry, index: int, raw: Any) -> FeedCandidate:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("url"), str):
        e.fail("feeds", f"feeds[{index}] must be a mapping with a url", index)
    url, confidence, lang = raw["url"], raw.get("confidence"), raw.get("lang")
    if not url.startswith(("http://", "https://")):
        e.fail("feeds", f"feeds[{index}].url {url!r} is not an http(s) URL", index)
    if confidence not in CONFIDENCES:
        e.fail("feeds", f"feeds[{index}].confidence {confidence!r} not in {sorted(CONFIDENCES)}", index)
    return FeedCandidate(url=url, language=lang if isinstance(lang, str) else None, confidence=confidence)


def _leader(e: _Entry, index: int, raw: Any) -> Leader:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        e.fail("leaders", f"leaders[{index}] must be a mapping with a name", index)
    native = raw.get("native")
    return Leader(name=raw["name"], native=native if isinstance(native, str) else None,
                  alt_spellings=e.strings("leaders", raw.get("alt_spellings") or []),
                  role=raw.get("role") if isinstance(raw.get("role"), str) else None)


def _topic(e: _Entry) -> Topic:
    raw = e.data.get("keywords")
    if not isinstance(raw, Mapping) or not raw:
        e.fail("keywords", "must be a mapping of language -> list of keywords")
    keywords = {str(lang): e.strings("keywords", words) for lang, words in raw.items()}
    return Topic(id=e.key, label=e.str_("label") or "", keywords=MappingProxyType(keywords),
                 weak=e.strings("weak"), needs_party=e.strings("needs_party"),
                 notes=e.str_("notes", optional=True))


def _countries(section: _Entry) -> dict[str, tuple[str, ...]]:
    for code in section.data:
        if not (isinstance(code, str) and len(code) == 2 and code.isupper()):
            section.fail(str(code), f"{code!r} is not an ISO 3166-1 alpha-2 code (quote NO, ON...)")
    return {code: section.strings(code) for code in section.data}


def _not_parties(doc: _Entry, path: str) -> Iterable[NotParty]:
    items = doc.list_("not_parties")
    for index, raw in enumerate(items):
        if not isinstance(raw, Mapping):
            doc.fail("not_parties", f"not_parties[{index}] must be a mapping")
        e = _Entry(raw, path, f"not_parties[{index}]")
        text = raw.get("text")
        texts = (text,) if isinstance(text, str) else e.strings("text")
        yield NotParty(texts=texts, meaning=e.str_("meaning") or "", cues=e.strings("cues"),
                       languages=e.strings("languages"))


def _expansions(norm: _Entry) -> dict[str, str]:
    raw = norm.data.get("expand_abbreviations") or {}
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        norm.fail("expand_abbreviations", "must map abbreviations to their expansions")
    return {str(k): v for k, v in raw.items()}


def _regions(section: _Entry) -> dict[str, tuple[str, ...]]:
    result = {}
    for name, codes in section.data.items():
        if isinstance(codes, Mapping):  # e.g. international: {rule: ...} is derived, not listed
            continue
        listed = section.strings(name)
        bad = [c for c in listed if not (len(c) == 2 and c.isupper())]
        if bad:
            section.fail(name, f"{bad[0]!r} is not an ISO country code")
        result[str(name)] = listed
    return result
