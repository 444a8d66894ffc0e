"""A deterministic corpus for deduplication quality: planted copies, labelled near-misses, background.

Every entry is an `Item` as a feed poll hands it to ingest (its own source,
guid-derived id, link, title, summary, language and date) with its ground
truth: a `story` label that copies of one story share, and a `kind`.

- Copies (must merge): a party's story carried by one or two aggregators,
  as the same link with tracking parameters, as a reworded title under the
  aggregator's own link, or as the identical title under another link.
- Near-misses (must not merge), one kind each: numbered series, dated
  bulletins, a generic title repeated by one source, a generic title from
  many sources, untitled entries, and the same subject from another party.
  A few near-misses are also shared by an aggregator (tracking link): those
  copies must merge with their own entry and no other.
- Background: unrelated headlines over a month, so the LSH index holds what
  a month of party news puts in it.

Same seed, same entries, in the same order.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import combinations

from bench.corpus import T0, Generator, Story
from bench.dedupe_words import DAILY, GENERIC, MONTHS, SERIES, SUMMITS, TRACKING, WEEKLY, ordinal_en
from bench.words import LANGUAGES
from feeds.model import Item, SourceRef, item_id
from feeds.tag.registry import Registry

COPY, BACKGROUND = "copy", "background"
SERIES_KIND, BULLETIN, GENERIC_ONE = "numbered series", "dated bulletin", "generic title, one source"
GENERIC_MANY, UNTITLED, OTHER_PARTY = "generic title, many sources", "untitled", "same subject, other party"
NEAR_MISSES = (SERIES_KIND, BULLETIN, GENERIC_ONE, GENERIC_MANY, UNTITLED, OTHER_PARTY)
VARIANTS = ("tracking link", "reworded", "syndicated")  # how an aggregator carries a copy
WINDOW_DAYS = 8  # planted entries are published over the last WINDOW_DAYS before T0
BACKGROUND_DAYS = 30
SHARED = 0.15  # of near-misses with a link: also carried by an aggregator with tracking parameters


@dataclass(frozen=True, slots=True)
class Entry:
    """One generated feed entry and its ground truth."""

    item: Item
    story: str  # entries of one story share it: they must end up in one stored item
    kind: str  # COPY, BACKGROUND or one of NEAR_MISSES
    variant: str = ""  # for an aggregator's copy: one of VARIANTS


@dataclass(frozen=True, slots=True)
class Feed:
    """A source: a party's own feed (`party` set) or an aggregator (`party` None)."""

    id: str
    title: str
    party: str | None
    host: str


def build(registry: Registry, entries: int = 4000, background: int = 20000, seed: int = 3) -> list[Entry]:
    """At least `entries` planted entries (every kind at least once), then `background` ones."""
    corpus = _Builder(registry, seed)
    makers: dict[Callable[[], None], int] = {
        corpus.copies: 40, corpus.series: 8, corpus.bulletins: 6, corpus.generic_one_source: 1,
        corpus.generic_many_sources: 5, corpus.untitled: 2, corpus.other_party: 10}
    for make in makers:
        make()
    while len(corpus.entries) < entries:
        corpus.rng.choices(list(makers), weights=list(makers.values()))[0]()
    corpus.background(background)
    return corpus.entries


def true_pairs(entries: Sequence[Entry]) -> set[tuple[int, int]]:
    """Index pairs (i < j) of entries of one story."""
    by_story: dict[str, list[int]] = {}
    for index, entry in enumerate(entries):
        by_story.setdefault(entry.story, []).append(index)
    return {pair for group in by_story.values() for pair in combinations(group, 2)}


def polls(entries: Sequence[Entry], seed: int = 3) -> list[tuple[datetime, list[Entry]]]:
    """The entries as polls deliver them, each poll one source's next 10–50 in date order,
    all sources' polls in time order (a poll comes 5–60 minutes after its newest entry)."""
    rng = random.Random(seed)
    by_source: dict[str, list[Entry]] = {}
    for entry in entries:
        by_source.setdefault(entry.item.sources[0].source_id, []).append(entry)
    found = [poll for source_id in sorted(by_source) for poll in _source_polls(by_source[source_id], rng)]
    return sorted(found, key=lambda poll: (poll[0], poll[1][0].item.sources[0].source_id))


def _source_polls(entries: list[Entry], rng: random.Random) -> list[tuple[datetime, list[Entry]]]:
    entries = sorted(entries, key=lambda entry: entry.item.published)
    found = []
    while entries:
        size = rng.randint(10, 50)
        batch, entries = entries[:size], entries[size:]
        found.append((batch[-1].item.published + timedelta(minutes=rng.randint(5, 60)), batch))
    return found


class _Builder:
    """Appends entries group by group; one random generator drives every choice."""

    def __init__(self, registry: Registry, seed: int) -> None:
        self.gen = Generator(registry, seed)
        self.rng = self.gen.rng
        self.registry = registry
        self.entries: list[Entry] = []
        self._stories = 0
        self._feeds: Counter[str] = Counter()  # entries so far per feed: the next guid
        self._press: Counter[str] = Counter()  # press feeds so far per party
        self._speakers = {lang: sorted(c for c, p in registry.parties.items() if lang in p.languages)
                          for lang in LANGUAGES}

    # -- groups --------------------------------------------------------------------------------------

    def copies(self) -> None:
        """A party's story and one or two aggregators' copies of it."""
        story = self._story(self.gen.language())
        label = self._label()
        self._add(self._party_feed(story.party), story.title, story.link, story.summary, story.language,
                  story.published, label, COPY)
        for number in self.rng.sample((1, 2, 3), k=self.rng.choice((1, 2))):
            self._copy(story, label, COPY, self._aggregator(story.language, number))

    def series(self) -> None:
        """One party's numbered series: only the number (or G7/G20) tells its members apart."""
        language = self.gen.language()
        feed = self._party_feed(self._party(language))
        kind = self.rng.choice(sorted(SERIES))
        theme = self._theme(feed, language)
        start = self._moment(WINDOW_DAYS - 4) - timedelta(days=4)  # four members end a day before T0
        for offset, number in enumerate(self._numbers(kind, language)):
            title = SERIES[kind][language].format(n=number, g=number, theme=theme)
            self._near_miss(feed, title, language, start + timedelta(days=offset, minutes=self._jitter(120)),
                            SERIES_KIND)

    def bulletins(self) -> None:
        """Daily bulletins on consecutive days, or two weekly digests a week apart."""
        language = self.gen.language()
        feed = self._party_feed(self._party(language)) if self.rng.random() < 0.5 \
            else self._aggregator(language, 1)
        if self.rng.random() < 0.6:
            self._daily(feed, language)
        else:
            self._weekly(feed, language)

    def _daily(self, feed: Feed, language: str) -> None:
        count = self.rng.randint(3, 6)
        first = T0 - timedelta(days=count + self.rng.randint(0, WINDOW_DAYS - count - 1), hours=5)
        for day in range(count):
            at = first + timedelta(days=day, minutes=self._jitter(60))
            title = DAILY[language].format(day=at.day, month=MONTHS[language][at.month - 2])
            self._near_miss(feed, title, language, at, BULLETIN)

    def _weekly(self, feed: Feed, language: str) -> None:
        """Less than seven days apart: inside any "within a week" window."""
        last = T0 - timedelta(minutes=self.rng.randrange(24 * 60))
        first = last - timedelta(days=6, hours=self.rng.randint(12, 23))
        week = first.isocalendar().week
        for at, number in ((first, week), (last, week + 1)):
            self._near_miss(feed, WEEKLY[language].format(week=number), language, at, BULLETIN)

    def generic_one_source(self) -> None:
        """A party's press feed: 20–50 entries titled "Press release", "Statement", ..."""
        language = self.gen.language()
        party = self._party(language)
        self._press[party] += 1
        feed = Feed(f"press-{party}-{self._press[party]}", f"{party} press office", party,
                    f"press.{party}.example")
        for _ in range(self.rng.randint(20, 50)):
            self._near_miss(feed, self.rng.choice(GENERIC[language]), language, self._moment(), GENERIC_ONE)

    def generic_many_sources(self) -> None:
        """One generic title from three to five sources (parties and aggregators) the same day."""
        language = self.gen.language()
        title, at = self.rng.choice(GENERIC[language]), self._moment(WINDOW_DAYS - 1)
        parties = self.rng.sample(self._speakers[language], k=min(3, len(self._speakers[language])))
        feeds = [self._party_feed(p) for p in parties] + [self._aggregator(language, n) for n in (1, 2, 3)]
        for feed in self.rng.sample(feeds, k=self.rng.randint(3, min(5, len(feeds)))):
            self._near_miss(feed, title, language, at + timedelta(minutes=self._jitter(720)), GENERIC_MANY)

    def untitled(self) -> None:
        """Entries without a title: some with only a summary, some with only a link."""
        language = self.gen.language()
        feed = self._party_feed(self._party(language)) if self.rng.random() < 0.7 \
            else self._aggregator(language, 2)
        for _ in range(self.rng.randint(4, 12)):
            summary_only = self.rng.random() < 0.5
            self._near_miss(feed, "", language, self._moment(), UNTITLED, link=not summary_only,
                            summary=summary_only)

    def other_party(self) -> None:
        """Two parties' statements on one event, worded alike; the first sometimes aggregated too."""
        story = self._story(self.gen.language())
        rival = self.gen.rival(story)
        names = [self.registry.parties[told.party].name for told in (story, rival)]
        rival = replace(rival, summary=story.summary.replace(names[0], names[1], 1),  # whole names
                        published=min(T0, story.published + timedelta(minutes=self._jitter(720))))
        label = self._label()
        for told, name in ((story, label), (rival, self._label())):
            self._add(self._party_feed(told.party), told.title, told.link, told.summary, told.language,
                      told.published, name, OTHER_PARTY)
        if self.rng.random() < 0.5:
            self._copy(story, label, OTHER_PARTY, self._aggregator(story.language, self.rng.randint(1, 3)))

    def background(self, count: int) -> None:
        """Unrelated headlines from the party feeds over the last BACKGROUND_DAYS."""
        for _ in range(count):
            story = self.gen.story()
            at = T0 - timedelta(minutes=self.rng.randrange(BACKGROUND_DAYS * 24 * 60))
            self._add(self._party_feed(story.party), story.title, story.link, story.summary, story.language,
                      at, self._label(), BACKGROUND)

    # -- parts ---------------------------------------------------------------------------------------

    def _copy(self, story: Story, label: str, kind: str, feed: Feed) -> None:
        """An aggregator's copy of `story`, published within a day of it."""
        variant = self.rng.choice(VARIANTS)
        title, link = story.title, f"https://{feed.host}/{story.language}/item/{label}"
        if variant == "tracking link":
            link = story.link + self.rng.choice(TRACKING)
        elif variant == "reworded":
            title = self.gen.copy(story).title
        at = min(T0, story.published + timedelta(minutes=self._jitter(20 * 60)))
        self._add(feed, title, link, story.summary, story.language, at, label, kind, variant)

    def _near_miss(self, feed: Feed, title: str, language: str, at: datetime, kind: str, *,
                   link: bool = True, summary: bool = True) -> None:
        """A near-miss entry: a story of its own; sometimes shared by an aggregator as well."""
        told = self.gen.story(feed.party or self._party(language), language)
        label = self._label()
        url = f"https://{feed.host}/{language}/{label}" if link else None
        self._add(feed, title, url, told.summary if summary else "", language, at, label, kind)
        if url and self.rng.random() < SHARED:
            shared = self._aggregator(language, self.rng.randint(1, 3))
            self._add(shared, title, url + self.rng.choice(TRACKING), told.summary if summary else "",
                      language, at + timedelta(minutes=self.rng.randint(10, 600)), label, kind, VARIANTS[0])

    def _add(self, feed: Feed, title: str, link: str | None, summary: str, language: str, at: datetime,
             story: str, kind: str, variant: str = "") -> None:
        self._feeds[feed.id] += 1
        guid = f"{feed.id}-{self._feeds[feed.id]}"
        item = Item(id=item_id(f"{feed.id}\x1f{guid}"), title=title, link=link, summary=summary, content="",
                    published=at, updated=at, language=language,
                    sources=(SourceRef(feed.id, feed.title, link, feed.party, kind="feed"),))
        self.entries.append(Entry(item, story, kind, variant))

    def _story(self, language: str) -> Story:
        story = self.gen.story(self._party(language), language)
        return replace(story, published=self._moment())

    def _theme(self, feed: Feed, language: str) -> str:
        """What a series is about: the topic words and the place of a generated headline."""
        parts = self.gen.story(feed.party or self._party(language), language).parts
        return f"{parts[2]} {parts[4]}"

    def _numbers(self, kind: str, language: str) -> list[str]:
        if kind == "summit":
            return list(SUMMITS)
        if kind == "congress":
            first = self.rng.randint(15, 23)
            return [ordinal_en(n) if language == "en" else str(n) for n in (first, first + 1)]
        first = self.rng.randint(2, 150)
        return [str(first + step) for step in range(self.rng.randint(2, 4))]

    def _party(self, language: str) -> str:
        return self.rng.choice(self._speakers[language] or self.gen.parties)

    def _party_feed(self, party: str) -> Feed:
        website = self.registry.parties[party].website or f"https://www.{party}.example"
        return Feed(f"party-{party}", self.registry.parties[party].name, party,
                    website.split("://", 1)[1].strip("/"))

    def _aggregator(self, language: str, number: int) -> Feed:
        return Feed(f"agg-{language}-{number}", f"Aggregator {number} ({language})", None,
                    f"news{number}.{language}.aggregator.example")

    def _moment(self, days: int = WINDOW_DAYS) -> datetime:
        return T0 - timedelta(minutes=self.rng.randrange(days * 24 * 60))

    def _jitter(self, minutes: int) -> int:
        return self.rng.randint(-minutes, minutes)

    def _label(self) -> str:
        self._stories += 1
        return f"s{self._stories}"
