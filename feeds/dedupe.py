"""Deduplication: is an incoming item one we already hold?

Two tiers, cheapest first (see docs/dedupe.md for the reasoning):

1. Identity keys: the item id and the canonical link. The same item fetched
   twice, revised, or re-posted under a new guid with the same link, hits a key.
2. Near duplicates: the same story from another source with a reworded title
   and a different link. Titles are reduced to word sets; a 32-value MinHash
   signature is cut into 16 bands of 2 rows (LSH), and only items sharing a
   band are compared, so the work grows with the number of items, not pairs.
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

import hashlib
import re
import struct
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Protocol

import numpy as np

from feeds.model import Item
from feeds.urls import canonical_url

NUM_BANDS = 16
ROWS_PER_BAND = 2
NUM_PERM = NUM_BANDS * ROWS_PER_BAND
SIMILARITY = 0.6
MIN_CONTAINMENT_TOKENS = 5
MAX_DAYS_APART = 7
STEM_CHARS = 6
_MERSENNE = (1 << 61) - 1
_MASK64 = (1 << 63) - 1  # fits SQLite's signed INTEGER
# Fixed, not random: signatures are stored and must match across runs.
_PERMUTATIONS = tuple(
    ((i * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % _MERSENNE | 1, (i * 0xC2B2AE3D27D4EB4F + 7) % _MERSENNE)
    for i in range(1, NUM_PERM + 1)
)
_WORD = re.compile(r"\w+")
# Words that say nothing about which story it is; short words go anyway.
_STOPWORD_TEXT = (
    "the and for with from that this was were has have had its their his her who which of on in to at "
    "by as is are an be it or not but also into over under after about against party parties communist "
    "και του της των για στο στην από με το τα οι "
    "ve ile bir bu için olarak komünist partisi "
    "и в на с по за от к что для "
    "los las del con por para una que el la de y en se al o "
    "dos das do da em com um uma"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


# Cached: deduplicating a feed compares each title with its LSH neighbours, and the same
# stored neighbours come up again and again.
@lru_cache(maxsize=4096)
def title_tokens(title: str) -> frozenset[str]:
    """The informative words of a title, folded for comparison."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    # Cutting words to a stem of STEM_CHARS letters is a crude, language-blind
    # stemmer: "condemned"/"condemns", "Παλαιστίνη"/"Παλαιστίνης" meet.
    return frozenset(w[:STEM_CHARS] for w in _WORD.findall(folded) if len(w) > 2 and w not in _STOPWORDS)


def minhash(tokens: Iterable[str]) -> tuple[int, ...]:
    """MinHash signature of a token set (deterministic across runs).

    The reference definition; `signatures` computes the same values for many sets at once.
    """
    hashes = [zlib.crc32(t.encode()) for t in tokens]
    if not hashes:
        return ()
    return tuple([min([(a * h + b) % _MERSENNE for h in hashes]) for a, b in _PERMUTATIONS])


_BAND_FORMAT = struct.Struct(f">{1 + ROWS_PER_BAND}Q")


def band_keys(signature: Sequence[int]) -> tuple[int, ...]:
    """One key per LSH band: items sharing any key are candidates."""
    if not signature:
        return ()
    blake, pack, rows = hashlib.blake2b, _BAND_FORMAT.pack, ROWS_PER_BAND
    return tuple(
        int.from_bytes(blake(pack(band, *signature[band * rows:band * rows + rows]), digest_size=8).digest())
        & _MASK64 for band in range(NUM_BANDS))


def title_bands(titles: Sequence[str]) -> list[tuple[int, ...]]:
    """The band keys of each title: `band_keys(minhash(title_tokens(title)))`, in one batch."""
    token_sets = [title_tokens(title) for title in titles]
    rows = signatures(token_sets).tolist()
    return [band_keys(row) if tokens else () for tokens, row in zip(token_sets, rows, strict=True)]


# -- the same signatures, vectorised ----------------------------------------------------------------

_A = np.array([a for a, _ in _PERMUTATIONS], dtype=np.uint64)
_A_HI, _A_LO = _A >> np.uint64(32), _A & np.uint64(0xFFFFFFFF)
_B = np.array([b for _, b in _PERMUTATIONS], dtype=np.uint64)
_P = np.uint64(_MERSENNE)
_LOW29 = np.uint64((1 << 29) - 1)
_CHUNK_ROWS = 8_192


def _permute(hashes: np.ndarray) -> np.ndarray:
    """(a * h + b) mod (2**61 - 1) for every hash and permutation, exactly, in 64-bit words.

    a = a_hi * 2**32 + a_lo with a_hi < 2**29, h < 2**32: a_hi * h < 2**61 and
    a_lo * h < 2**64 fit; 2**61 = 1 (mod p) folds the high bits back in.
    """
    h = hashes[:, None]
    x = _A_HI * h
    high = ((x & _LOW29) << np.uint64(32)) | (x >> np.uint64(29))  # x * 2**32 mod p
    y = _A_LO * h
    total = high + (y & _P) + (y >> np.uint64(61)) + _B
    total = (total & _P) + (total >> np.uint64(61))
    return np.where(total >= _P, total - _P, total)


def signatures(token_sets: Sequence[frozenset[str]]) -> np.ndarray:
    """MinHash signatures of many token sets: row i equals `minhash(token_sets[i])`.

    Each distinct token is hashed and permuted once; a row is the minimum over
    its tokens' rows. Rows of empty sets hold the largest uint64 (they match nothing).
    """
    out = np.full((len(token_sets), NUM_PERM), np.iinfo(np.uint64).max, dtype=np.uint64)
    rows = [i for i, tokens in enumerate(token_sets) if tokens]
    if not rows:
        return out
    vocabulary: dict[str, int] = {}
    ids = [vocabulary.setdefault(t, len(vocabulary)) for i in rows for t in token_sets[i]]
    crc = zlib.crc32
    permuted = _permute(np.fromiter((crc(t.encode()) for t in vocabulary), np.uint64, len(vocabulary)))
    offsets = np.cumsum([0] + [len(token_sets[i]) for i in rows[:-1]])
    for start in range(0, len(rows), _CHUNK_ROWS):  # bounds the (tokens x permutations) temporary
        stop = min(start + _CHUNK_ROWS, len(rows))
        end = offsets[stop] if stop < len(rows) else len(ids)
        chunk = permuted[np.array(ids[offsets[start]:end], dtype=np.int64)]
        out[rows[start:stop]] = np.minimum.reduceat(chunk, offsets[start:stop] - offsets[start], axis=0)
    return out


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
    run on whole arrays; only what passes them is compared word by word.
    Never all pairs.
    """
    order = sorted(range(len(items)), key=lambda i: items[i].published)
    ordered = [items[i] for i in order]
    tokens = [title_tokens.__wrapped__(item.title) for item in ordered]  # distinct titles: no cache
    facts = _Facts.of(ordered, tokens)
    found = [(order[a], order[b]) for a, b in _candidate_pairs(signatures(tokens), facts).tolist()
             if _same(ordered[a], ordered[b], tokens[a], tokens[b])]
    return sorted((min(a, b), max(a, b)) for a, b in found)


@dataclass(frozen=True, slots=True)
class _Facts:
    """Per item, as arrays: what the cheap tests need."""

    usable: np.ndarray  # the title has tokens
    seconds: np.ndarray  # published, seconds since the epoch
    language: np.ndarray  # 0: unknown
    parties: np.ndarray  # one id per distinct party set
    party_count: np.ndarray

    @classmethod
    def of(cls, items: Sequence[Item], tokens: Sequence[frozenset[str]]) -> _Facts:
        languages: dict[str | None, int] = {None: 0}
        party_sets: dict[frozenset[str], int] = {}
        return cls(
            usable=np.array([bool(t) for t in tokens], dtype=bool),
            seconds=np.array([item.published.timestamp() for item in items], dtype=np.float64),
            language=np.array([languages.setdefault(i.language, len(languages)) for i in items],
                              dtype=np.int64),
            parties=np.array([party_sets.setdefault(frozenset(i.parties), len(party_sets)) for i in items],
                             dtype=np.int64),
            party_count=np.array([len(set(i.parties)) for i in items], dtype=np.int64),
        )

    def plausible(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Pairs that may be one story: near in time, no two known languages, parties not plainly apart."""
        near = np.abs(self.seconds[a] - self.seconds[b]) <= MAX_DAYS_APART * 86400
        language = (self.language[a] == self.language[b]) | (self.language[a] == 0) | (self.language[b] == 0)
        ca, cb = self.party_count[a], self.party_count[b]
        apart = (self.parties[a] != self.parties[b]) & (((ca == 1) & (cb == 1)) | ((ca == 0) != (cb == 0)))
        return near & language & ~apart


def _candidate_pairs(sig: np.ndarray, facts: _Facts) -> np.ndarray:
    keep = np.flatnonzero(facts.usable)
    count = len(facts.usable)
    found = []
    for band in range(NUM_BANDS):
        rows = sig[keep, band * ROWS_PER_BAND:(band + 1) * ROWS_PER_BAND]
        key = rows[:, 0] * _MIX ^ rows[:, 1]
        order = np.argsort(key, kind="stable")
        ordered, ids = key[order], keep[order]
        for step in range(1, MAX_CANDIDATES + 1):
            same = np.flatnonzero(ordered[:-step] == ordered[step:])
            if not same.size:
                break
            a, b = ids[same], ids[same + step]  # a < b: the stable sort keeps ids rising
            ok = facts.plausible(a, b)
            found.append(a[ok] * count + b[ok])
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    codes = np.sort(np.concatenate(found))
    codes = codes[np.concatenate(([True], codes[1:] != codes[:-1]))] if codes.size else codes
    return np.stack([codes // count, codes % count], axis=1)


def _same(a: Item, b: Item, tokens_a: frozenset[str], tokens_b: frozenset[str]) -> bool:
    """`same_story(a, b).same` for a plausible pair, with the title tokens already known."""
    return parties_compatible(a.parties, b.parties) and similarity(tokens_a, tokens_b) >= SIMILARITY
