"""Deduplication: is an incoming item one we already hold?

Two tiers, cheapest first (see docs/dedupe.md for the reasoning):

1. Identity keys: the item id and the canonical link. The same item fetched
   twice, revised, or re-posted under a new guid with the same link, hits a key.
2. Near duplicates: the same story from another source with a reworded title
   and a different link. Titles are reduced to word sets; a 32-value MinHash
   signature is cut into 16 bands of 2 rows (LSH, feeds.lsh), and only items
   sharing a band are compared, so the work grows with the number of items,
   not pairs.
   `near_duplicates` runs the same method over a whole batch at once (numpy
   signatures, band buckets sorted in place): seconds for 100,000 titles.
   A candidate is the same story only when all of these hold:
   - title similarity >= SIMILARITY (the larger of Jaccard and, for titles of
     at least MIN_CONTAINMENT_TOKENS words, containment of the shorter title),
   - party sets are compatible: both empty, or one contains the other and they
     share a party (statements of *different* parties stay apart),
   - languages agree where both are known,
   - published dates lie within MAX_DAYS_APART days.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np

from feeds.lsh import NUM_BANDS, ROWS_PER_BAND, Tokens, title_tokens, token_signatures
from feeds.model import Item
from feeds.urls import canonical_url

SIMILARITY = 0.6
MIN_CONTAINMENT_TOKENS = 5
MAX_DAYS_APART = 7


def identity_keys(item: Item) -> tuple[str, ...]:
    """Exact keys under which an item is known: its id and its links."""
    keys = [f"id:{item.id}"]
    links = [item.link] + [s.link for s in item.sources]
    keys.extend(sorted({f"link:{canonical_url(link)}" for link in links if link}))
    return tuple(keys)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard, or containment of the shorter title when both are long enough."""
    if not a or not b:
        return 0.0
    shared = len(a & b)
    jaccard = shared / len(a | b)
    if min(len(a), len(b)) >= MIN_CONTAINMENT_TOKENS:
        return max(jaccard, shared / min(len(a), len(b)))
    return jaccard


def parties_compatible(a: Iterable[str], b: Iterable[str]) -> bool:
    """Both untagged, or nested party sets that share a party."""
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return True
    return bool(sa & sb) and (sa <= sb or sb <= sa)


@dataclass(frozen=True, slots=True)
class Verdict:
    same: bool
    reason: str


class Story(Protocol):
    """What `same_story` reads: an Item, or a stored item's facts (feeds.store.CandidateFacts)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def language(self) -> str | None: ...
    @property
    def published(self) -> datetime: ...
    @property
    def parties(self) -> tuple[str, ...]: ...


def same_story(a: Story, b: Story) -> Verdict:
    """Decide whether two items with different identity are one story, and say why."""
    return _judge(a, b, explain=True)


def is_same_story(a: Story, b: Story) -> bool:
    """`same_story(a, b).same` without composing the reason: ingest asks this of every candidate."""
    return _judge(a, b, explain=False).same


_WINDOW = timedelta(days=MAX_DAYS_APART)
_NO = Verdict(False, "")


def _judge(a: Story, b: Story, *, explain: bool) -> Verdict:
    if a.language and b.language and a.language != b.language:
        return Verdict(False, f"languages differ ({a.language} vs {b.language})") if explain else _NO
    if abs(a.published - b.published) > _WINDOW:
        return Verdict(False, f"published more than {MAX_DAYS_APART} days apart") if explain else _NO
    if a.parties != b.parties and not parties_compatible(a.parties, b.parties):
        reason = f"parties differ ({sorted(a.parties)} vs {sorted(b.parties)})"
        return Verdict(False, reason) if explain else _NO
    score = similarity(title_tokens(a.title), title_tokens(b.title))
    if score < SIMILARITY:
        return Verdict(False, f"titles {score:.2f} similar (< {SIMILARITY})") if explain else _NO
    return Verdict(True, f"titles {score:.2f} similar, parties compatible" if explain else "")


# -- a whole batch at once -------------------------------------------------------------------------

MAX_CANDIDATES = 50  # per band, an item meets at most this many neighbours of its bucket
_MIX = np.uint64(0x9E3779B97F4A7C15)


def near_duplicates(items: Sequence[Item]) -> list[tuple[int, int]]:
    """Index pairs (i < j) of `items` that are one story, by the same LSH and tests as `same_story`.

    Buckets are sorted arrays, not dicts: each band's (row, row) values are
    mixed into one 64-bit key and sorted (items in time order, so a bucket's
    neighbours are near in time); equal keys up to MAX_CANDIDATES apart are
    candidates. The cheap tests (date, language, party sets of one party)
    run on whole arrays, then the word-by-word ones (`_same`), also on arrays.
    Never all pairs.
    """
    order = sorted(range(len(items)), key=lambda i: items[i].published)
    ordered = [items[i] for i in order]
    tokens = Tokens.of_titles([item.title for item in ordered])
    facts = _Facts.of(ordered, tokens.sizes)
    a, b = _candidate_pairs(token_signatures(tokens), facts)
    same = _same(a, b, tokens, facts)
    positions = np.array(order, dtype=np.int64)
    first, second = positions[a[same]], positions[b[same]]
    return sorted(zip(np.minimum(first, second).tolist(), np.maximum(first, second).tolist(), strict=True))


@dataclass(frozen=True, slots=True)
class _Facts:
    """Per item, as arrays: what the cheap tests need."""

    usable: np.ndarray  # the title has tokens
    seconds: np.ndarray  # published, seconds since the epoch
    language: np.ndarray  # 0: unknown
    parties: np.ndarray  # one id per distinct party set
    party_count: np.ndarray
    party_sets: list[frozenset[str]]  # by id

    @classmethod
    def of(cls, items: Sequence[Item], sizes: np.ndarray) -> _Facts:
        languages: dict[str | None, int] = {None: 0}
        party_sets: dict[frozenset[str], int] = {}
        return cls(
            usable=sizes > 0,
            seconds=np.array([item.published.timestamp() for item in items], dtype=np.float64),
            language=np.array([languages.setdefault(i.language, len(languages)) for i in items],
                              dtype=np.int64),
            parties=np.array([party_sets.setdefault(frozenset(i.parties), len(party_sets)) for i in items],
                             dtype=np.int64),
            party_count=np.array([len(set(i.parties)) for i in items], dtype=np.int64),
            party_sets=list(party_sets),
        )

    def near(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Pairs published at most MAX_DAYS_APART days apart."""
        return np.abs(self.seconds[a] - self.seconds[b]) <= MAX_DAYS_APART * 86400

    def plausible(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Of pairs near in time, those that may be one story: no two known languages, parties not
        plainly apart."""
        language = (self.language[a] == self.language[b]) | (self.language[a] == 0) | (self.language[b] == 0)
        ca, cb = self.party_count[a], self.party_count[b]
        apart = (self.parties[a] != self.parties[b]) & (((ca == 1) & (cb == 1)) | ((ca == 0) != (cb == 0)))
        return language & ~apart

    def compatible(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """`parties_compatible` of each pair, asked once per distinct pair of party sets."""
        count = len(self.party_sets)
        combos, inverse = np.unique(self.parties[a] * count + self.parties[b], return_inverse=True)
        sets = self.party_sets
        answers = [parties_compatible(sets[c // count], sets[c % count]) for c in combos.tolist()]
        return np.array(answers, dtype=bool)[inverse.reshape(-1)]


def _candidate_pairs(sig: np.ndarray, facts: _Facts) -> tuple[np.ndarray, np.ndarray]:
    """Distinct plausible pairs (a < b) sharing a band key, as two arrays.

    In a band's sorted keys an item's bucket neighbours follow it in time order, so a
    position whose neighbour `step` places on has another key, or is too far in time, has
    none further on either: only the positions that passed one step are tried at the next
    (most neighbours of the template-like titles are weeks apart).
    """
    keep = np.flatnonzero(facts.usable)
    count = len(facts.usable)
    found = []
    for band in range(NUM_BANDS):
        rows = sig[keep, band * ROWS_PER_BAND:(band + 1) * ROWS_PER_BAND]
        key = rows[:, 0] * _MIX ^ rows[:, 1]
        order = np.argsort(key, kind="stable")
        ordered, ids = key[order], keep[order]
        alive = np.arange(len(ordered) - 1)
        for step in range(1, MAX_CANDIDATES + 1):
            alive = alive[alive + step < len(ordered)]
            alive = alive[ordered[alive] == ordered[alive + step]]
            a, b = ids[alive], ids[alive + step]  # a < b: the stable sort keeps ids rising
            near = facts.near(a, b)
            alive, a, b = alive[near], a[near], b[near]
            if not alive.size:
                break
            ok = facts.plausible(a, b)
            found.append(a[ok] * count + b[ok])
    codes = np.sort(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)
    codes = codes[np.concatenate(([True], codes[1:] != codes[:-1]))] if codes.size else codes
    return codes // count, codes % count


def _same(a: np.ndarray, b: np.ndarray, tokens: Tokens, facts: _Facts) -> np.ndarray:
    """`same_story(...).same` of each plausible pair, on arrays: the shared words of a pair are
    a's token ids looked up among b's, in one sorted array of (item, token id) codes."""
    sizes, width = tokens.sizes, len(tokens.vocabulary)
    owner = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    codes = np.sort(owner * width + tokens.ids)
    pair = np.repeat(np.arange(len(a), dtype=np.int64), sizes[a])  # one entry per token of a
    within = np.arange(len(pair), dtype=np.int64) - np.repeat(np.cumsum(sizes[a]) - sizes[a], sizes[a])
    probe = b[pair] * width + tokens.ids[tokens.starts[a][pair] + within]
    at = np.minimum(np.searchsorted(codes, probe), len(codes) - 1)
    shared = np.bincount(pair[codes[at] == probe], minlength=len(a))
    return facts.compatible(a, b) & (_similarity(shared, sizes[a], sizes[b]) >= SIMILARITY)


def _similarity(shared: np.ndarray, size_a: np.ndarray, size_b: np.ndarray) -> np.ndarray:
    """`similarity` from the counts: the same float divisions, so the same values."""
    jaccard = shared / (size_a + size_b - shared)
    smaller = np.minimum(size_a, size_b)
    contained = np.where(smaller >= MIN_CONTAINMENT_TOKENS, shared / np.maximum(smaller, 1), 0.0)
    return np.maximum(jaccard, contained)
