"""Which feeds to publish, and which stored items each one selects.

A feed's selection is a `Query` (feeds/store/query.py): tags (party, topic), places
(country, region: resolved here to the parties of those countries through the registry),
languages, combined with `All` (AND), `Any` (OR) and `Not`. The store translates a resolved
query and selects; items are never held in memory to be filtered here.

`plan` lists every feed of a publish run: all, one per party and topic with
items, per country and per language when switched on, and the composed feeds
of the configuration. It is pure: counts and languages come in from the store.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from feeds.model import FeedSpec, SiteInfo
from feeds.store.query import All, Any, Not, Query, Term, terms
from feeds.tag.registry import Registry

FACETS = ("party", "topic", "country", "region", "language")
# Display names for the languages party feeds come in; others show their code.
LANGUAGE_NAMES = {
    "ar": "Arabic", "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "fa": "Persian",
    "fr": "French", "he": "Hebrew", "hi": "Hindi", "it": "Italian", "pl": "Polish", "pt": "Portuguese",
    "ru": "Russian", "tr": "Turkish", "uk": "Ukrainian", "zh": "Chinese",
}


@dataclass(frozen=True, slots=True)
class ComposedFeed:
    """A feed the configuration defines by a query."""

    id: str
    title: str
    query: Query
    path: str  # e.g. "feeds/latin-america.atom"
    subtitle: str = ""
    icon: str | None = None


@dataclass(frozen=True, slots=True)
class PublishOptions:
    """Publishing settings beyond the site: archives, extra feeds, icons."""

    archive_page_size: int = 50
    by_country: bool = False
    by_language: bool = False
    composed: tuple[ComposedFeed, ...] = ()
    icons: Mapping[str, str] = field(default_factory=dict)  # party code -> icon URL


@dataclass(frozen=True, slots=True)
class PlannedFeed:
    """One feed of a publish run: what it shows, where its history is kept, what it selects."""

    spec: FeedSpec
    log_key: str  # the feed's history in the store; stable across path changes
    query: Query | None  # None: every item
    icon: str | None = None


def unknown_values(query: Query, registry: Registry) -> list[tuple[Term, str]]:
    """(term, value) for every party, topic or region the registry does not know. Countries are
    not checked: a country without registry parties is valid and selects nothing (yet)."""
    known: dict[str, Iterable[str]] = {
        "party": registry.parties, "topic": registry.topics, "region": registry.regions,
    }
    return [(term, value) for term in terms(query) if term.facet in known
            for value in term.values if value not in known[term.facet]]


def resolve(query: Query, registry: Registry) -> Query:
    """`query` with countries and regions replaced by the parties of those countries."""
    if isinstance(query, Not):
        return Not(resolve(query.part, registry))
    if isinstance(query, All | Any):
        return type(query)(tuple(resolve(part, registry) for part in query.parts))
    if query.facet not in ("country", "region"):
        return query
    countries = set(query.values) if query.facet == "country" else {
        code for region in query.values for code in registry.regions.get(region, ())}
    parties = sorted(code for code, party in registry.parties.items() if party.country in countries)
    return Term("party", tuple(parties), query.origin)


# --- the plan -----------------------------------------------------------------------------


def plan(registry: Registry, site: SiteInfo, counts: Collection[tuple[str, str]],
         languages: Sequence[str], options: PublishOptions) -> list[PlannedFeed]:
    """`all.atom`, a feed per party and topic with items, per country and language if on, composed.

    `counts`: the (facet, tag) pairs some item carries (a mapping to counts will do)."""
    feeds = [PlannedFeed(FeedSpec("all.atom", "all", None, site.title,
                                  "Every item partyfeeds holds, newest first"), "all", None)]
    feeds += _party_feeds(registry, counts, options)
    feeds += _topic_feeds(registry, site, counts)
    if options.by_country:
        feeds += _country_feeds(registry, site, counts)
    if options.by_language:
        feeds += [_language_feed(code, site) for code in sorted(set(languages))]
    feeds += [_composed(feed, registry) for feed in options.composed]
    return feeds


def _party_feeds(registry: Registry, counts: Collection[tuple[str, str]],
                 options: PublishOptions) -> list[PlannedFeed]:
    feeds = []
    for code in sorted(c for (facet, c) in counts if facet == "party" and c in registry.parties):
        party, label = registry.parties[code], registry.party_label(code)
        native = f" — {party.native_name}" if party.native_name and party.native_name != party.name else ""
        spec = FeedSpec(f"party/{code}.atom", "party", code, label,
                        f"News from and about the {label}{native}", website=party.website)
        feeds.append(PlannedFeed(spec, f"party/{code}", Term("party", (code,)), options.icons.get(code)))
    return feeds


def _topic_feeds(registry: Registry, site: SiteInfo, counts: Collection[tuple[str, str]]
                 ) -> list[PlannedFeed]:
    feeds = []
    for topic_id in sorted(t for (facet, t) in counts if facet == "topic" and t in registry.topics):
        label = registry.topics[topic_id].label
        spec = FeedSpec(f"topic/{topic_id}.atom", "topic", topic_id, f"{label} — {site.title}",
                        f"Communist and workers' parties' news on: {label}")
        feeds.append(PlannedFeed(spec, f"topic/{topic_id}", Term("topic", (topic_id,))))
    return feeds


def _country_feeds(registry: Registry, site: SiteInfo, counts: Collection[tuple[str, str]]
                   ) -> list[PlannedFeed]:
    parties = registry.parties
    tagged = {parties[c].country for (facet, c) in counts if facet == "party" and c in parties}
    feeds = []
    for country in sorted(tagged - {"XX"}):
        name = next(iter(registry.countries.get(country, ())), country)
        spec = FeedSpec(f"country/{country.lower()}.atom", "country", country, f"{name} — {site.title}",
                        f"News from and about the communist and workers' parties of {name}")
        feeds.append(PlannedFeed(spec, f"country/{country.lower()}",
                                 resolve(Term("country", (country,)), registry)))
    return feeds


def _language_feed(code: str, site: SiteInfo) -> PlannedFeed:
    name = LANGUAGE_NAMES.get(code, code)
    spec = FeedSpec(f"language/{code}.atom", "language", code, f"In {name} — {site.title}",
                    f"Every item in {name} ({code})")
    return PlannedFeed(spec, f"language/{code}", Term("language", (code,)))


def _composed(feed: ComposedFeed, registry: Registry) -> PlannedFeed:
    spec = FeedSpec(feed.path, "composed", feed.id, feed.title, feed.subtitle)
    return PlannedFeed(spec, f"composed/{feed.id}", resolve(feed.query, registry), feed.icon)
