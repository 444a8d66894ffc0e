"""What a feed selects: a query over the items' tags and languages, and its canonical form.

A `Query` is a tree of `Term`s (items carrying any of some values of a facet: party, topic,
country, region, language) combined with `All` (AND), `Any` (OR) and `Not`. Publish builds
queries and resolves countries and regions to parties through the registry; the store
translates a resolved query into its own language (feeds/store/selection.py for SQLite), so
no caller writes SQL.

A feed's history is kept while its query stays the same, so the identity of a query is its
`canonical` text: a normal form of the tree (values sorted and unique, the parts of `All` and
`Any` in a fixed order), independent of how any store translates it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Term:
    """Items carrying any of `values` for `facet` (party, topic, country, region or language)."""

    facet: str
    values: tuple[str, ...]
    origin: tuple[str, int | None, str] | None = field(default=None, compare=False)  # file, line, key


@dataclass(frozen=True, slots=True)
class All:
    parts: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class Any:
    parts: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Query


Query = Term | All | Any | Not


def terms(query: Query) -> Iterable[Term]:
    """Every leaf of `query`, in order."""
    if isinstance(query, Term):
        yield query
    elif isinstance(query, Not):
        yield from terms(query.part)
    else:
        for part in query.parts:
            yield from terms(part)


def canonical(query: Query | None) -> str:
    """The identity of what `query` selects, as stable text: two queries that differ only in the
    order of values or parts, or in repeated values, have the same form; None (every item) is "*"."""
    return "*" if query is None else json.dumps(_normal(query), ensure_ascii=False, separators=(",", ":"))


def _normal(query: Query) -> list[object]:
    if isinstance(query, Term):
        values = sorted({v.lower() for v in query.values} if query.facet == "language" else set(query.values))
        return [query.facet, values]
    if isinstance(query, Not):
        return ["not", _normal(query.part)]
    parts = sorted((_normal(part) for part in query.parts), key=lambda part: json.dumps(part))
    return ["all" if isinstance(query, All) else "any", parts]
