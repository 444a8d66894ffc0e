"""What a title says, for comparison: its words, numbers and codes; MinHash signatures; LSH bands.

A title becomes a `TitleWords`:

- `words`: every word of two letters or more that is not a stop-word, case-folded and cut to a
  stem of STEM_CHARS letters (a crude, language-blind stemmer: "condemned"/"condemns" meet).
  Short words stay: "EU" and "US" tell two stories apart.
- `numbers`: every number as written in digits, with its separators ("1/12", "12.03.2024" ->
  "12/3/2024"), digits inside words ("G7", "21st" -> "7", "21") and Roman numerals in capitals
  ("Part III" -> "3"). Two titles that differ in a number are never one story.
- `codes`: words written in capitals (EU, NATO, KKE) when the title is not shouting.
- `informative`: words that are not generic ("statement", "press release", "week"): a title
  needs MIN_INFORMATIVE of them to be matched by its words at all.

A 32-value MinHash signature of the word set is cut into NUM_BANDS bands of ROWS_PER_BAND
rows, each hashed to one key (`band_keys`); titles sharing a key are candidates for
feeds.dedupe.rules. A title that cannot be matched (derived, or too generic) gets no bands.
Signatures and keys are stored, so they must not change across runs.
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
MIN_INFORMATIVE = 3  # non-generic words a title needs before its words can match another's
_MERSENNE = (1 << 61) - 1
_MASK64 = (1 << 63) - 1  # fits SQLite's signed INTEGER
# Fixed, not random: signatures are stored and must match across runs.
_PERMUTATIONS = tuple(
    ((i * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % _MERSENNE | 1, (i * 0xC2B2AE3D27D4EB4F + 7) % _MERSENNE)
    for i in range(1, NUM_PERM + 1)
)
# A site's name ("902.gr", a wire service's suffix): a word, not a number.
_SITE = re.compile(r"\b\w+(?:\.\w+)*\.[^\W\d_]{2,}\b")
# A word of two letters or more (a lone letter is the "s" of "Israel's"); words with digits in
# them ("21st", "G7") count by their numbers only.
_LETTERS = re.compile(r"\b[^\W\d_]{2,}\b")
# A number with its separators (dates, fractions, scores), or digits inside a word.
_NUMBER = re.compile(r"\d+(?:[./:,-]\d+)*")
_DIGITS = re.compile(r"\d+")
_ROMAN = re.compile(r"M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})")
_ROMAN_VALUES = {"M": 1000, "D": 500, "C": 100, "L": 50, "X": 10, "V": 5, "I": 1}
# Words that say nothing about which story it is.
_STOPWORD_TEXT = (
    "a an the and or of on in to at by as is are be it its for with from that this was were has have had "
    "their his her who which not but also into over under after about against party parties communist "
    "και του της των τη την το τα οι ο η σε στο στη στην στα στον για από με "
    "ve ile bir bu için olarak komünist partisi "
    "и в во на с со по за от к о об что для "
    "el la los las lo del de y e en se al con por para una un que o "
    "dos das do da de e em no na com um uma o os as "
    "der die das den dem des und in im zu mit von für auf ist ein eine "
    "le la les l d un une des du de et en au aux pour sur par "
    "il lo gli i di del della e a da in con per su"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Words of titles that many unrelated items share ("Statement", "Press release", "Week 14"): they
# count in the comparison, but a title of them alone says too little to be matched by its words.
_GENERIC_TEXT = (
    "statement statements press release announcement communique declaration resolution interview "
    "editorial bulletin newsletter digest podcast episode video photo photos update news report "
    "central committee political bureau secretariat office meeting speech message greeting greetings "
    "letter article part issue week daily weekly monthly today new call info information "
    "ανακοίνωση δήλωση συνέντευξη άρθρο ομιλία μήνυμα "
    "comunicado declaración nota prensa entrevista artículo "
    "заявление сообщение интервью статья новости "
    "açıklama basın duyuru röportaj "
    "erklärung pressemitteilung interview "
    "déclaration communiqué entretien "
    "comunicato dichiarazione "
    # bulletins and digests, and the days and months that date them
    "δελτίο ημερήσιο εβδομαδιαία επισκόπηση εβδομάδα τύπου boletín boletim diario diário semanal resumen "
    "resumo semana bülten günlük haftalık özet hafta бюллетень ежедневный еженедельный дайджест неделя "
    "сводка выпуск tagesbulletin wochenübersicht woche bulletin quotidien hebdomadaire résumé semaine "
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday "
    "ιανουαρίου φεβρουαρίου μαρτίου απριλίου μαΐου ιουνίου ιουλίου αυγούστου σεπτεμβρίου οκτωβρίου "
    "νοεμβρίου δεκεμβρίου enero febrero marzo abril mayo junio julio agosto septiembre octubre "
    "noviembre diciembre janeiro fevereiro março maio junho julho setembro outubro novembro dezembro "
    "ocak şubat mart nisan mayıs haziran temmuz ağustos eylül ekim kasım aralık "
    "января февраля марта апреля мая июня июля августа сентября октября ноября декабря "
    "januar februar märz mai juni juli oktober dezember janvier février mars avril juin juillet "
    "août septembre octobre novembre décembre gennaio febbraio aprile maggio giugno luglio "
    "settembre ottobre dicembre"
)
_GENERIC = frozenset(unicodedata.normalize("NFKC", w).casefold()[:STEM_CHARS] for w in _GENERIC_TEXT.split())


@dataclass(frozen=True, slots=True)
class TitleWords:
    """A title as the near-duplicate rules compare it."""

    words: frozenset[str]  # stems of every word that is not a stop-word, numbers included
    numbers: frozenset[str]
    codes: frozenset[str]  # words written in capitals
    informative: int  # words that are not generic

    @property
    def matchable(self) -> bool:
        """Whether the title says enough to be matched with another by its words."""
        return self.informative >= MIN_INFORMATIVE


# Bounded and read once per call: nothing can evict an entry between its insertion and its use.
# Candidates come up again and again; 2,048 word sets are a few MB of a long-running daemon's memory.
@lru_cache(maxsize=2048)
def title_words(title: str) -> TitleWords:
    """The words, numbers and codes of a title (a few regex passes: candidates' titles are read
    again and again, and a loop over tokens in Python cost four times as much)."""
    text = unicodedata.normalize("NFKC", title)
    sites = _SITE.findall(text)
    if sites:
        text = _SITE.sub(" ", text)
    letters = _LETTERS.findall(text)
    romans = [word for word in letters if word.isupper() and _is_roman(word)]
    numbers = set(map(_number, _NUMBER.findall(text)))
    numbers.update(str(_roman(word)) for word in romans)
    folded = set(map(str.casefold, [*letters, *sites])).difference(_STOPWORDS, map(str.casefold, romans))
    words = {word[:STEM_CHARS] for word in folded} | numbers
    capitals = {word for word in letters if word.isupper()}.difference(romans)
    codes = set(map(str.casefold, capitals)) if len(capitals) * 2 <= len(letters) else set()  # shouting
    generic = len(words & _GENERIC) + len(numbers)
    return TitleWords(frozenset(words), frozenset(numbers), frozenset(codes), len(words) - generic)


def _number(written: str) -> str:
    """One spelling of a number: "12.03.2024" -> "12/3/2024", "007" -> "7"."""
    if written.isdigit():
        return str(int(written))
    return "/".join(str(int(part)) for part in _DIGITS.findall(written))


def _is_roman(word: str) -> bool:
    """A Roman numeral in capitals with an I, V or X ("Part III"); "CC" or "MD" are not taken."""
    has_ivx = "I" in word or "V" in word or "X" in word
    return len(word) >= 2 and has_ivx and _ROMAN.fullmatch(word) is not None


def _roman(numeral: str) -> int:
    values = [_ROMAN_VALUES[c] for c in numeral]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


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


def title_bands(titles: Sequence[str], derived: Sequence[bool] | None = None) -> list[tuple[int, ...]]:
    """The band keys of each title (none for a derived or unmatchable one), in one batch:
    `band_keys(minhash(title_words(title).words))`."""
    derived = derived or [False] * len(titles)
    token_sets = [words.words if not is_derived and (words := title_words(title)).matchable else frozenset()
                  for title, is_derived in zip(titles, derived, strict=True)]
    rows = signatures(token_sets).tolist()
    return [band_keys(row) if tokens else () for tokens, row in zip(token_sets, rows, strict=True)]


# -- the same signatures, vectorised ----------------------------------------------------------------

_A = np.array([a for a, _ in _PERMUTATIONS], dtype=np.uint64)
_A_HI, _A_LO = _A >> np.uint64(32), _A & np.uint64(0xFFFFFFFF)
_B = np.array([b for _, b in _PERMUTATIONS], dtype=np.uint64)
_P = np.uint64(_MERSENNE)
_LOW29 = np.uint64((1 << 29) - 1)


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

    Each distinct token is hashed and permuted once; a row is the minimum over its tokens'
    rows. Rows of empty sets hold the largest uint64 (they match nothing).
    """
    out = np.full((len(token_sets), NUM_PERM), np.iinfo(np.uint64).max, dtype=np.uint64)
    flat = list(chain.from_iterable(token_sets))
    if not flat:
        return out
    vocabulary = list(dict.fromkeys(flat))
    index = dict(zip(vocabulary, range(len(vocabulary)), strict=True))
    permuted = _permute(np.fromiter((zlib.crc32(t.encode()) for t in vocabulary), np.uint64, len(vocabulary)))
    sizes = np.fromiter(map(len, token_sets), np.int64, len(token_sets))
    rows = np.flatnonzero(sizes)
    ids = np.fromiter(map(index.__getitem__, flat), np.int64, len(flat))
    starts = (np.cumsum(sizes) - sizes)[rows]
    out[rows] = np.minimum.reduceat(permuted[ids], starts, axis=0)
    return out
