"""Deduplication: is an incoming item one we already hold?

Two tiers, cheapest first (see docs/dedupe.md for the reasoning):

1. Identity keys: the item id and the canonical link. The same item fetched
   twice, revised, or re-posted under a new guid with the same link, hits a key.
2. Near duplicates: the same story from another source with a reworded title
   and a different link. Titles are reduced to word sets; a 32-value MinHash
   signature is cut into 16 bands of 2 rows (LSH), and only items sharing a
   band are compared, so the work grows with the number of items, not pairs.
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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

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


def title_tokens(title: str) -> frozenset[str]:
    """The informative words of a title, folded for comparison."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    # Cutting words to a stem of STEM_CHARS letters is a crude, language-blind
    # stemmer: "condemned"/"condemns", "Παλαιστίνη"/"Παλαιστίνης" meet.
    return frozenset(w[:STEM_CHARS] for w in _WORD.findall(folded) if len(w) > 2 and w not in _STOPWORDS)


def minhash(tokens: Iterable[str]) -> tuple[int, ...]:
    """MinHash signature of a token set (deterministic across runs)."""
    hashes = [zlib.crc32(t.encode()) for t in tokens]
    if not hashes:
        return ()
    return tuple(min((a * h + b) % _MERSENNE for h in hashes) for a, b in _PERMUTATIONS)


def band_keys(signature: tuple[int, ...]) -> tuple[int, ...]:
    """One key per LSH band: items sharing any key are candidates."""
    keys = []
    for band in range(NUM_BANDS if signature else 0):
        rows = signature[band * ROWS_PER_BAND:(band + 1) * ROWS_PER_BAND]
        packed = struct.pack(f">{1 + len(rows)}Q", band, *rows)
        keys.append(int.from_bytes(hashlib.blake2b(packed, digest_size=8).digest()) & _MASK64)
    return tuple(keys)


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


def same_story(a: Item, b: Item) -> Verdict:
    """Decide whether two items with different identity are one story."""
    if a.language and b.language and a.language != b.language:
        return Verdict(False, f"languages differ ({a.language} vs {b.language})")
    if abs(a.published - b.published) > timedelta(days=MAX_DAYS_APART):
        return Verdict(False, f"published more than {MAX_DAYS_APART} days apart")
    if not parties_compatible(a.parties, b.parties):
        return Verdict(False, f"parties differ ({sorted(a.parties)} vs {sorted(b.parties)})")
    score = similarity(title_tokens(a.title), title_tokens(b.title))
    if score < SIMILARITY:
        return Verdict(False, f"titles {score:.2f} similar (< {SIMILARITY})")
    return Verdict(True, f"titles {score:.2f} similar, parties compatible")
