from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from feeds.dedupe import (
    MAX_CANDIDATES,
    identity_keys,
    is_same_story,
    near_duplicates,
    parties_compatible,
    same_story,
    similarity,
)
from feeds.lsh import title_tokens
from tests.factories import KKE_LONG, KKE_SHORT, T0, make_item


def test_reworded_title_from_another_source_is_the_same_story() -> None:
    a = make_item(KKE_LONG, source="seed", parties=("kke",))
    b = make_item(KKE_SHORT, source="kke-inter", parties=("kke",))
    assert same_story(a, b).same


def test_different_parties_on_the_same_subject_stay_apart() -> None:
    a = make_item(KKE_LONG, parties=("kke",))
    b = make_item(KKE_LONG.replace("of Greece (KKE)", "of Turkey (TKP)"), parties=("tkp",))
    verdict = same_story(a, b)
    assert not verdict.same and "parties differ" in verdict.reason


def test_unrelated_titles_are_not_merged() -> None:
    a = make_item("KKE congress opens in Athens", parties=("kke",))
    b = make_item("KKE statement on the strike of dock workers", parties=("kke",))
    assert not same_story(a, b).same


def test_far_apart_dates_and_languages_keep_items_apart() -> None:
    a = make_item(KKE_LONG, parties=("kke",))
    assert not same_story(a, make_item(KKE_LONG, parties=("kke",), published=T0 + timedelta(days=30))).same
    assert not same_story(make_item(KKE_LONG, language="en"), make_item(KKE_LONG, language="el")).same


def test_party_compatibility() -> None:
    assert parties_compatible([], [])
    assert parties_compatible(["kke"], ["kke", "tkp"])
    assert not parties_compatible(["kke"], ["tkp"])
    assert not parties_compatible(["kke"], [])
    assert not parties_compatible(["kke", "pcf"], ["kke", "tkp"])


def test_identity_keys_fold_tracking_and_scheme() -> None:
    a = make_item("x", link="http://www.kke.gr/article/1?utm_source=twitter")
    b = make_item("y", link="https://kke.gr/article/1/")
    assert set(identity_keys(a)) & set(identity_keys(b)) == {"link:https://kke.gr/article/1"}


def test_similarity_ignores_case_and_punctuation() -> None:
    assert similarity(title_tokens("Solidarity with Palestine"), title_tokens("solidarity, PALESTINE!")) == 1


@given(st.text(max_size=120), st.text(max_size=120))
def test_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    ta, tb = title_tokens(a), title_tokens(b)
    assert similarity(ta, tb) == similarity(tb, ta)
    assert 0.0 <= similarity(ta, tb) <= 1.0


def test_batch_finds_what_same_story_finds() -> None:
    items = [
        make_item(KKE_LONG, source="seed", parties=("kke",)),
        make_item("KKE congress opens in Athens", parties=("kke",)),
        make_item(KKE_SHORT, source="kke-inter", parties=("kke",)),
        make_item(KKE_LONG.replace("of Greece (KKE)", "of Turkey (TKP)"), parties=("tkp",)),
        make_item(KKE_LONG, source="later", parties=("kke",), published=T0 + timedelta(days=30)),
        make_item(KKE_LONG, source="greek", parties=("kke",), language="el"),
        make_item("", source="empty"),
    ]
    expected = [(a, b) for a in range(len(items)) for b in range(a + 1, len(items))
                if items[a].title and items[b].title and same_story(items[a], items[b]).same]
    assert near_duplicates(items) == expected
    assert (0, 2) in expected and (0, 3) not in expected and (0, 4) not in expected


@given(st.sampled_from(["KKE condemns the war", "KKE condemns war drills in the Aegean", "TKP on the strike",
                        "Strike in Ankara: TKP statement", "KKE: the war and NATO"]),
       st.sampled_from(["KKE condemns war", "KKE condemns the war drills in Aegean", "TKP on strike"]),
       st.sampled_from([None, "en", "el"]), st.sampled_from([None, "en", "el"]),
       st.integers(0, 10), st.sampled_from([(), ("kke",), ("tkp",), ("kke", "tkp"), ("tkp", "kke")]),
       st.sampled_from([(), ("kke",), ("tkp",), ("kke", "tkp")]))
def test_the_quick_answer_is_same_storys_answer(title_a: str, title_b: str, lang_a: str | None,
                                                  lang_b: str | None, days: int, parties_a: tuple[str, ...],
                                                  parties_b: tuple[str, ...]) -> None:
    a = make_item(title_a, source="a", language=lang_a, parties=parties_a)
    later = T0 + timedelta(days=days)
    b = make_item(title_b, source="b", language=lang_b, parties=parties_b, published=later)
    assert is_same_story(a, b) == same_story(a, b).same


_BUCKET_TITLES = ["KKE condemns the war drills in the Aegean", "TKP statement on the strike in Ankara", ""]


@given(st.lists(st.tuples(st.sampled_from(_BUCKET_TITLES), st.integers(0, 40),
                          st.sampled_from([None, "en", "el"]),
                          st.sampled_from([(), ("kke",), ("tkp",), ("kke", "tkp")])),
                max_size=MAX_CANDIDATES + 1))
def test_a_crowded_bucket_gives_every_pair_same_story_gives(rows: list[tuple[str, int, str | None,
                                                                               tuple[str, ...]]]) -> None:
    # Equal titles share every band and a bucket's first MAX_CANDIDATES + 1 all meet, so the
    # batch must find exactly the pairs that all-pairs comparison finds, whatever the dates.
    items = [make_item(title, source=f"s{n}", published=T0 + timedelta(days=days), language=language,
                       parties=parties) for n, (title, days, language, parties) in enumerate(rows)]
    expected = [(a, b) for a in range(len(items)) for b in range(a + 1, len(items))
                if items[a].title and items[b].title and same_story(items[a], items[b]).same]
    assert near_duplicates(items) == expected
