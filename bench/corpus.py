"""A deterministic corpus of party news: headlines, planted duplicates, RSS 2.0 and Atom feeds.

Every story has a `key`; copies of one story (another source's reworded
headline: other verb form, a site suffix, capitals, a dropped clause, the
place moved to the front) share it, so the planted duplicate pairs are known.
A *rival* is the same subject from another party: a new key, never a duplicate.
Same seed, same corpus, byte for byte.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from itertools import combinations
from xml.sax.saxutils import escape, quoteattr

from bench.words import LANGUAGE_WEIGHTS, LANGUAGES, NAMES, SUFFIXES, SYLLABLES
from feeds.tag.registry import Registry

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)  # the corpus' "now"
COPY_SHARE = 0.15  # of generated headlines: a copy of an earlier story
RIVAL_SHARE = 0.03  # of generated headlines: the same subject from another party
PER_DAY = 150  # headlines a day across all parties (a few per party)
TRACKING = "?utm_source=rss&utm_medium=feed"


@dataclass(frozen=True, slots=True)
class Story:
    """One headline with its ground truth."""

    key: int  # copies of one story share it
    title: str
    summary: str
    language: str
    party: str  # registry code of the party the story is about
    topic: str
    published: datetime
    link: str
    parts: tuple[str, ...]  # subject, verb, rest, name, place phrase, qualifier (for copies)


@dataclass(frozen=True, slots=True)
class SourceDoc:
    """One generated feed: its config and its bytes."""

    id: str
    party: str | None  # None: an aggregator carrying many parties
    language: str
    host: int  # index of the (port) host serving it
    path: str
    content_type: str
    body: bytes
    entries: int


class Generator:
    """Deterministic headline factory over one registry."""

    def __init__(self, registry: Registry, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.registry = registry
        self.parties = sorted(registry.parties)
        self.topics = sorted(registry.topics)
        self._next_key = 0
        self.days = 20  # stories are published over this many days before T0

    def language(self) -> str:
        return self.rng.choices(list(LANGUAGE_WEIGHTS), weights=list(LANGUAGE_WEIGHTS.values()))[0]

    def party_language(self, code: str) -> str:
        spoken = [lang for lang in self.registry.parties[code].languages if lang in LANGUAGES]
        return spoken[0] if spoken else self.language()

    def story(self, party: str | None = None, language: str | None = None) -> Story:
        """A new story (a new key)."""
        rng = self.rng
        party = party or rng.choice(self.parties)
        lang = LANGUAGES[language or self.party_language(party)]
        topic = rng.choice(self.topics)
        verb = rng.choice(lang.verbs)
        rest = f"{self._topic_word(topic, lang.code)}, {self._topic_word(rng.choice(self.topics), lang.code)}"
        place = lang.in_place.format(place=rng.choice(lang.places))
        qualifier = rng.choice(lang.qualifiers)
        names = f"({self._name()}, {self._name()})"
        parts = (self._abbreviation(party), verb[0], rest, names, place, qualifier)
        self._next_key += 1
        published = T0 - timedelta(minutes=rng.randrange(self.days * 24 * 60))
        name = self.registry.parties[party].name
        summary = f"{name} {verb[0]} {rest} {place}. {rng.choice(lang.sentences)}"
        link = f"https://{_host(self.registry, party)}/{lang.code}/news/{self._next_key}-{topic}"
        return Story(self._next_key, _title(parts), summary, lang.code, party, topic, published, link, parts)

    def copy(self, story: Story) -> Story:
        """Another source's version of `story`: same key, reworded title, its own link."""
        rng = self.rng
        subject, verb, rest, name, place, qualifier = story.parts
        other = next((b for a, b in LANGUAGES[story.language].verbs if a == verb), verb)
        edits = rng.sample(("verb", "suffix", "upper", "drop", "front"), k=rng.choice((1, 2)))
        verb = other if "verb" in edits else verb
        qualifier = "" if "drop" in edits else qualifier
        title = f"{place}: " + _title([subject, verb, rest, name, qualifier]) if "front" in edits \
            else _title([subject, verb, rest, name, place, qualifier])
        title = title.upper() if "upper" in edits else title
        title += rng.choice(SUFFIXES) if "suffix" in edits else ""
        published = story.published + timedelta(minutes=rng.randrange(-36 * 60, 36 * 60))
        link = story.link.replace("/news/", "/copy/") + f"-{rng.randrange(10**6)}"
        return replace(story, title=title, published=min(published, T0), link=link)

    def rival(self, story: Story) -> Story:
        """The same subject in another party's words: a different story."""
        party = self.rng.choice([p for p in self.parties if p != story.party])
        self._next_key += 1
        parts = (self._abbreviation(party), *story.parts[1:])
        name = self.registry.parties[party].name
        return replace(story, key=self._next_key, party=party, title=_title(parts), parts=parts,
                       summary=f"{name} {story.summary.split(' ', 1)[1]}",
                       link=f"https://{_host(self.registry, party)}/{story.language}/news/{self._next_key}")

    def headlines(self, count: int) -> list[Story]:
        """`count` headlines: mostly new stories, some copies of earlier ones, some rivals.

        They spread over time as party news does: about PER_DAY headlines a day.
        """
        self.days = max(self.days, count // PER_DAY)
        stories: list[Story] = []
        originals: list[Story] = []
        while len(stories) < count:
            roll = self.rng.random()
            if originals and roll < COPY_SHARE:
                stories.append(self.copy(self.rng.choice(originals)))
            elif originals and roll < COPY_SHARE + RIVAL_SHARE:
                stories.append(self.rival(self.rng.choice(originals)))
            else:
                originals.append(self.story())
                stories.append(originals[-1])
        return stories

    def stream(self, count: int, recent: int = 2_000) -> Iterator[Story]:
        """`count` headlines drawn as `headlines` draws them, one at a time: copies and rivals are
        of the `recent` newest originals, so memory does not grow with `count` (the scale suite's
        million-item store)."""
        self.days = max(self.days, count // PER_DAY)
        originals: deque[Story] = deque(maxlen=recent)
        for _ in range(count):
            roll = self.rng.random()
            if originals and roll < COPY_SHARE:
                yield self.copy(self.rng.choice(originals))
            elif originals and roll < COPY_SHARE + RIVAL_SHARE:
                yield self.rival(self.rng.choice(originals))
            else:
                originals.append(self.story())
                yield originals[-1]

    def _name(self) -> str:
        """Who or what the story is about: a known name, or a made-up one (people, towns, firms)."""
        if self.rng.random() < 0.3:
            return self.rng.choice(NAMES)
        return "".join(self.rng.choices(SYLLABLES, k=self.rng.choice((3, 4)))).capitalize()

    def _abbreviation(self, code: str) -> str:
        party = self.registry.parties[code]
        short = [a for a in party.abbreviations if a.isupper() and len(a) <= 6]
        return short[0] if short else party.name

    def _topic_word(self, topic: str, language: str) -> str:
        keywords = self.registry.topics[topic].keywords
        words = [w.rstrip("*") for w in keywords.get(language) or keywords.get("en") or (topic,)]
        return self.rng.choice(words)


def planted_pairs(stories: Sequence[Story]) -> set[tuple[int, int]]:
    """Index pairs (i < j) of headlines that are copies of one story."""
    by_key: dict[int, list[int]] = {}
    for index, story in enumerate(stories):
        by_key.setdefault(story.key, []).append(index)
    return {pair for group in by_key.values() for pair in combinations(group, 2)}


def _title(parts: Sequence[str]) -> str:
    return " ".join(p for p in parts if p)


def _host(registry: Registry, party: str) -> str:
    website = registry.parties[party].website or f"https://www.{party}.example"
    return website.split("://", 1)[1].strip("/")


# -- feeds ------------------------------------------------------------------------------------------


def sources(gen: Generator, count: int, entries: int, hosts: int) -> list[SourceDoc]:
    """`count` feeds of `entries` items: party feeds, and aggregators that copy their stories.

    An aggregator's item is a reworded copy of a party feed's story (30%), the
    same link with tracking parameters (10%), or a story of its own.
    """
    docs: list[SourceDoc] = []
    seen: dict[str, list[Story]] = {}
    for index in range(count):
        party = gen.parties[index % len(gen.parties)] if index % 7 else None
        language = gen.party_language(party) if party else gen.language()
        stories = [_aggregated(gen, seen.get(language, []), language) if party is None
                   else gen.story(party, language) for _ in range(entries)]
        seen.setdefault(language, []).extend(s for s in stories if party)
        docs.append(_document(f"bench-{index:05d}", party, language, index % hosts, stories, index % 5 < 2))
    return docs


def _aggregated(gen: Generator, pool: list[Story], language: str) -> Story:
    roll = gen.rng.random()
    if pool and roll < 0.3:
        return gen.copy(gen.rng.choice(pool))
    if pool and roll < 0.4:
        story = gen.rng.choice(pool)
        return replace(story, link=story.link + TRACKING)
    return gen.story(language=language)


def _document(source_id: str, party: str | None, language: str, host: int, stories: list[Story],
              atom: bool) -> SourceDoc:
    stories = sorted(stories, key=lambda s: s.published, reverse=True)
    title = f"{party or 'Agency'} news ({language})"
    if atom:
        body, content_type = _atom(source_id, title, language, stories), "application/atom+xml"
    else:
        body, content_type = _rss(source_id, title, language, stories), "application/rss+xml"
    return SourceDoc(source_id, party, language, host, f"/{source_id}.xml", f"{content_type}; charset=utf-8",
                     body.encode("utf-8"), len(stories))


def _rss(source_id: str, title: str, language: str, stories: list[Story]) -> str:
    items = "".join(
        f"<item><title>{escape(s.title)}</title><link>{escape(s.link)}</link>"
        f'<guid isPermaLink="false">{source_id}-{s.key}</guid>'
        f"<pubDate>{format_datetime(s.published)}</pubDate>"
        f"<dc:creator>Press office</dc:creator><category>{escape(s.topic)}</category>"
        f"<description>{escape(_html(s))}</description></item>\n" for s in stories)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>{escape(title)}</title><link>https://example.org/{source_id}</link>"
            f"<description>{escape(title)}</description><language>{language}</language>\n{items}"
            "</channel></rss>\n")


def _atom(source_id: str, title: str, language: str, stories: list[Story]) -> str:
    updated = max((s.published for s in stories), default=T0).isoformat()
    entries = "".join(
        f"<entry><title>{escape(s.title)}</title><id>tag:example.org,2024:{source_id}/{s.key}</id>"
        f"<link rel=\"alternate\" href={quoteattr(s.link)}/><published>{s.published.isoformat()}</published>"
        f"<updated>{s.published.isoformat()}</updated><author><name>Press office</name></author>"
        f"<category term={quoteattr(s.topic)}/><summary type=\"html\">{escape(s.summary)}</summary>"
        f"<content type=\"html\">{escape(_html(s))}</content></entry>\n" for s in stories)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{language}">'
            f"<title>{escape(title)}</title><id>tag:example.org,2024:{source_id}</id><updated>{updated}</updated>"
            f'<link rel="self" href="https://example.org/{source_id}.xml"/>'
            f'<link href="https://example.org/{source_id}"/>\n{entries}</feed>\n')


def _html(story: Story) -> str:
    return f"<p>{escape(story.summary)}</p><p><a href=\"{escape(story.link)}\">{escape(story.title)}</a></p>"


def iter_chunks(items: Sequence[Story], size: int) -> Iterator[Sequence[Story]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
