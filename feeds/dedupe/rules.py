"""Is a stored item the same story as an incoming one with other identity keys? (pure)

Only items of *different* sources can be one story by their titles: two entries of one source
with different ids are different items, however alike their titles (a numbered series, a feed
of "Press release"s). For items of different sources every rule below must hold; the first that
fails gives the verdict and its reason (docs/dedupe.md has examples of each):

1. neither title is derived (an untitled entry's opening words are not a headline);
2. the operator has not split the two apart;
3. languages agree where both are known (a translation is its own entry);
4. published at most MAX_DAYS_APART days apart;
5. party sets are compatible: both empty, or nested and sharing a party (statements of
   *different* parties on one subject stay apart);
6. both titles say enough (feeds.dedupe.titles: MIN_INFORMATIVE non-generic words);
7. the same numbers ("Podcast #12" is not "#13"; "G7" is not "G20");
8. no clashing codes: each title has a word in capitals the other lacks (EU vs US);
9. title similarity >= SIMILARITY, with any title the story was seen under (its sources' own):
   the Jaccard index of the word sets, or the share of the shorter title's words found in the
   longer (a wire service shortens a headline) when at least CONTAINED of them are and the
   shorter title has MIN_CONTAINMENT_WORDS informative words of its own: a general headline
   ("Statement of the Political Bureau") never counts as contained in a specific one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from feeds.dedupe.titles import TitleWords, title_words

SIMILARITY = 0.6
CONTAINED = 0.8
MIN_CONTAINMENT_WORDS = 5
MAX_DAYS_APART = 7


class Story(Protocol):
    """What the rules read: an Item, or a stored item's facts (feeds.store.rows.CandidateFacts)."""

    @property
    def id(self) -> str: ...
    @property
    def seen_titles(self) -> tuple[str, ...]: ...
    @property
    def language(self) -> str | None: ...
    @property
    def published(self) -> datetime: ...
    @property
    def parties(self) -> tuple[str, ...]: ...
    @property
    def source_ids(self) -> Collection[str]: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    same: bool
    rule: str  # the rule that decided: "similar" when every rule held
    reason: str = ""  # why, in words ("" when not asked to explain)


_WINDOW = timedelta(days=MAX_DAYS_APART)
_RULES = ("same-source", "derived-title", "split", "language", "dates", "parties", "too-generic", "numbers",
          "codes", "words")
_UNEXPLAINED = {rule: Verdict(False, rule) for rule in _RULES}


def same_story(a: Story, b: Story, splits: frozenset[frozenset[str]] = frozenset(), *,
               explain: bool = True) -> Verdict:
    """Whether two items with different identity are one story, the rule that decided, and why.

    `splits`: pairs of item ids the operator split apart (`partyfeeds split`). `explain=False`
    leaves the reasons out: ingest asks this of every band neighbour, and merges are rare.
    """
    shared = [source for source in a.source_ids if source in b.source_ids]
    if shared:
        return _no("same-source", explain and f"both from {', '.join(sorted(shared))}: different ids")
    if not (a.seen_titles and b.seen_titles):
        return _no("derived-title", explain and "an untitled entry is matched by its ids and links only")
    if splits and frozenset((a.id, b.id)) in splits:
        return _no("split", explain and "the operator split these apart")
    if a.language and b.language and a.language != b.language:
        return _no("language", explain and f"languages differ ({a.language} vs {b.language})")
    if abs(a.published - b.published) > _WINDOW:
        return _no("dates", explain and f"published more than {MAX_DAYS_APART} days apart")
    if a.parties != b.parties and not parties_compatible(a.parties, b.parties):
        return _no("parties", explain and f"parties differ ({sorted(a.parties)} vs {sorted(b.parties)})")
    first = None
    for x in a.seen_titles:
        for y in b.seen_titles:
            verdict = compare_titles(title_words(x), title_words(y), explain=explain)
            if verdict.same:
                return verdict
            first = first or verdict
    assert first is not None
    return first


def compare_titles(a: TitleWords, b: TitleWords, *, explain: bool = True) -> Verdict:
    """Rules 6-9: what the two titles' words say."""
    if not (a.matchable and b.matchable):
        return _no("too-generic", explain and "a title has too few informative words to be matched")
    if a.numbers != b.numbers:
        return _no("numbers", explain and f"numbers differ ({_listed(a.numbers)} vs {_listed(b.numbers)})")
    if a.codes - b.codes and b.codes - a.codes:
        return _no("codes", explain and f"codes clash ({_listed(a.codes - b.codes)} vs "
                                        f"{_listed(b.codes - a.codes)})")
    score, how = similarity(a, b)
    if score < SIMILARITY:
        return _no("words", explain and f"titles {score:.2f} similar (< {SIMILARITY})")
    reason = f"titles {score:.2f} similar ({how}), parties compatible" if explain else ""
    return Verdict(True, "similar", reason)


def _no(rule: str, reason: str | Literal[False]) -> Verdict:
    """A "not the same story" verdict. Callers pass `explain and f"..."`, so a reason is only put
    into words when asked for; without one the verdict is a shared constant."""
    return Verdict(False, rule, reason) if reason else _UNEXPLAINED[rule]


def similarity(a: TitleWords, b: TitleWords) -> tuple[float, str]:
    """The Jaccard index, or the containment of a shorter title in a longer one (see rule 9)."""
    if not a.words or not b.words:
        return 0.0, "jaccard"
    shared = len(a.words & b.words)
    jaccard = shared / len(a.words | b.words)
    short = min((a, b), key=lambda title: len(title.words))
    contained = shared / len(short.words)
    if short.informative >= MIN_CONTAINMENT_WORDS and contained >= CONTAINED and contained > jaccard:
        return contained, "containment"
    return jaccard, "jaccard"


def parties_compatible(a: Iterable[str], b: Iterable[str]) -> bool:
    """Both untagged, or nested party sets that share a party."""
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return True
    return bool(sa & sb) and (sa <= sb or sb <= sa)


def _listed(values: frozenset[str]) -> str:
    return "{" + ", ".join(sorted(values)) + "}"
