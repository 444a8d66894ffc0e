"""Locality-sensitive hashing of titles: word sets, MinHash signatures, LSH band keys.

A title becomes its set of informative words (`title_tokens`); a 32-value MinHash signature of
that set (`minhash`) is cut into NUM_BANDS bands of ROWS_PER_BAND rows, each hashed to one key
(`band_keys`). Titles sharing a band key are candidates for feeds.dedupe's comparison, so the
work grows with the number of titles, not of pairs. `Tokens` and `token_signatures` compute the
same values for whole batches on numpy arrays; `title_bands` is the batch form ingest calls.
Signatures and keys are stored (band keys in SQLite), so they must not change across runs.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

import numpy as np

NUM_BANDS = 16
ROWS_PER_BAND = 2
NUM_PERM = NUM_BANDS * ROWS_PER_BAND
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
    return token_signatures(Tokens.of(token_sets))


@dataclass(frozen=True, slots=True)
class Tokens:
    """Token sets as arrays: each distinct token once, and every set's token ids end to end."""

    vocabulary: list[str]
    ids: np.ndarray  # set 0's ids, then set 1's, ...
    sizes: np.ndarray  # tokens per set
    starts: np.ndarray  # where each set's ids begin in `ids`

    @classmethod
    def of(cls, token_sets: Sequence[frozenset[str]]) -> Tokens:
        flat = list(chain.from_iterable(token_sets))
        vocabulary = list(dict.fromkeys(flat))
        index = dict(zip(vocabulary, range(len(vocabulary)), strict=True))
        sizes = np.fromiter(map(len, token_sets), np.int64, len(token_sets))
        return cls(vocabulary, np.fromiter(map(index.__getitem__, flat), np.int64, len(flat)), sizes,
                   np.cumsum(sizes) - sizes)

    @classmethod
    def of_titles(cls, titles: Sequence[str]) -> Tokens:
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


def token_signatures(tokens: Tokens) -> np.ndarray:
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

