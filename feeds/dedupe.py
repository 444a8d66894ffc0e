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
from itertools import chain
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
# Words of three letters or more (as a whole word): the same as `\w+` then dropping short
# ones, without handing every short word to Python.
_WORD = re.compile(r"\w{3,}")
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
    words = set(_WORD.findall(unicodedata.normalize("NFKC", title).casefold()))
    words -= _STOPWORDS
    # Cutting words to a stem of STEM_CHARS letters is a crude, language-blind
    # stemmer: "condemned"/"condemns", "Παλαιστίνη"/"Παλαιστίνης" meet.
    return frozenset([w[:STEM_CHARS] for w in words])


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
    """MinHash signatures of many token sets: row i equals `minhash(token_sets[i])`."""
    return _signatures(_Tokens.of(token_sets))


@dataclass(frozen=True, slots=True)
class _Tokens:
    """Token sets as arrays: each distinct token once, and every set's token ids end to end."""

    vocabulary: list[str]
    ids: np.ndarray  # set 0's ids, then set 1's, ...
    sizes: np.ndarray  # tokens per set
    starts: np.ndarray  # where each set's ids begin in `ids`

    @classmethod
    def of(cls, token_sets: Sequence[frozenset[str]]) -> _Tokens:
        flat = list(chain.from_iterable(token_sets))
        vocabulary = list(dict.fromkeys(flat))
        index = dict(zip(vocabulary, range(len(vocabulary)), strict=True))
        sizes = np.fromiter(map(len, token_sets), np.int64, len(token_sets))
        return cls(vocabulary, np.fromiter(map(index.__getitem__, flat), np.int64, len(flat)), sizes,
                   np.cumsum(sizes) - sizes)

    @classmethod
    def of_titles(cls, titles: Sequence[str]) -> _Tokens:
        """`title_tokens` of every title, straight to arrays: one regex pass over all the titles,
        and each distinct word stemmed once (a batch of 100,000 spent most of its time here)."""
        # NUL cannot be in a word, so it may end each title: one in a title becomes a space.
        text = "".join([unicodedata.normalize("NFKC", t).casefold().replace("\0", " ") + "\0"
                        for t in titles])
        words = _WORD_OR_END.findall(text)
        codes = _WordCodes()
        ids = np.fromiter(map(codes.__getitem__, words), np.int64, len(words))
        owner = np.cumsum(ids == _END)  # a word's title: the number of title ends before it
        kept = ids >= 0
        width = max(len(codes.stems), 1)
        pairs = np.sort(owner[kept] * width + ids[kept])  # (title, stem), each once: sets
        pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))] if pairs.size else pairs
        sizes = np.bincount(pairs // width, minlength=len(titles)).astype(np.int64)
        return cls(list(codes.stems), pairs % width, sizes, np.cumsum(sizes) - sizes)


_WORD_OR_END = re.compile(_WORD.pattern + r"|\0")  # a word as `title_tokens` finds it, or a title's end
_END, _SKIP = -1, -2


class _WordCodes(dict[str, int]):
    """A word's stem id (_SKIP for a stopword, _END for a title's end), worked out at its first sight."""

    def __init__(self) -> None:
        super().__init__()
        self.stems: dict[str, int] = {}

    def __missing__(self, word: str) -> int:
        if word == "\0":
            code = _END
        elif word in _STOPWORDS:
            code = _SKIP
        else:
            code = self.stems.setdefault(word[:STEM_CHARS], len(self.stems))
        self[word] = code
        return code


def _signatures(tokens: _Tokens) -> np.ndarray:
    """Each distinct token is hashed and permuted once; a row is the minimum over
    its tokens' rows. Rows of empty sets hold the largest uint64 (they match nothing).
    """
    out = np.full((len(tokens.sizes), NUM_PERM), np.iinfo(np.uint64).max, dtype=np.uint64)
    rows = np.flatnonzero(tokens.sizes)
    if not rows.size:
        return out
    crc = zlib.crc32
    permuted = _permute(np.fromiter((crc(t.encode()) for t in tokens.vocabulary), np.uint64,
                                    len(tokens.vocabulary)))
    offsets = tokens.starts[rows]
    for start in range(0, len(rows), _CHUNK_ROWS):  # bounds the (tokens x permutations) temporary
        stop = min(start + _CHUNK_ROWS, len(rows))
        end = offsets[stop] if stop < len(rows) else len(tokens.ids)
        chunk = permuted[tokens.ids[offsets[start]:end]]
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
    run on whole arrays, then the word-by-word ones (`_same`), also on arrays.
    Never all pairs.
    """
    order = sorted(range(len(items)), key=lambda i: items[i].published)
    ordered = [items[i] for i in order]
    tokens = _Tokens.of_titles([item.title for item in ordered])
    facts = _Facts.of(ordered, tokens.sizes)
    a, b = _candidate_pairs(_signatures(tokens), facts)
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


def _same(a: np.ndarray, b: np.ndarray, tokens: _Tokens, facts: _Facts) -> np.ndarray:
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
