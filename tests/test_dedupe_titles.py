"""A title's words, numbers and codes; MinHash signatures and LSH band keys (feeds.dedupe.titles)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from feeds.dedupe.titles import band_keys, minhash, signatures, title_bands, title_words
from tests.factories import KKE_LONG, KKE_SHORT


def test_words_fold_case_and_inflection() -> None:
    assert title_words("Παλαιστίνη ΠΑΛΑΙΣΤΙΝΗΣ").words == {"παλαισ"}


def test_numbers_keep_their_separators_and_drop_their_suffixes() -> None:
    assert title_words("Podcast #12: rents").numbers == {"12"}
    assert title_words("The 21st Congress").numbers == {"21"}
    assert title_words("Bulletin 12.03.2024").numbers == {"12/3/2024"}
    assert title_words("Bulletin 12/03/2024").numbers == {"12/3/2024"}
    assert title_words("Pensions rise by 1/12").numbers == {"1/12"}
    assert title_words("G7 and G20").numbers == {"7", "20"}
    assert title_words("Part III").numbers == {"3"} and title_words("Part 3").numbers == {"3"}
    assert title_words("The mix of civil forces").numbers == set()  # Roman letters in lower case


def test_short_words_and_codes_stay() -> None:
    words = title_words("EU and US sanctions on Cuba")
    assert {"eu", "us"} <= words.words and words.codes == {"eu", "us"}
    assert title_words("EU AND US SANCTIONS ON CUBA").codes == set()


def test_generic_words_do_not_count_as_informative() -> None:
    assert not title_words("Press release").matchable
    assert not title_words("Weekly digest, week 14").matchable
    assert title_words("KKE condemns NATO drills").matchable


def test_signatures_are_deterministic_values() -> None:
    # Stored in the database: they must not change between runs or Python builds.
    tokens = title_words(KKE_LONG).words
    assert minhash(tokens) == minhash(set(tokens))
    assert len(band_keys(minhash(tokens))) == 16
    assert minhash(frozenset()) == () and band_keys(()) == ()


def test_known_band_key_value_never_changes() -> None:
    # Stored band keys of existing databases depend on this exact value.
    assert band_keys(minhash(frozenset({"palest"})))[0] == 1253327046540002695


@given(st.lists(st.sets(st.text(min_size=1, max_size=8), max_size=15), max_size=20))
def test_vectorised_signatures_equal_the_reference(token_sets: list[set[str]]) -> None:
    rows = signatures([frozenset(tokens) for tokens in token_sets]).tolist()
    for tokens, row in zip(token_sets, rows, strict=True):
        if tokens:
            assert tuple(row) == minhash(tokens)
        else:
            assert set(row) == {2**64 - 1}


def test_title_bands_are_the_stored_band_keys_and_unmatchable_titles_have_none() -> None:
    titles = [KKE_LONG, KKE_SHORT, "", "Press release", "Παλαιστίνη ΠΑΛΑΙΣΤΙΝΗΣ αλληλεγγύη λαός", KKE_LONG]
    derived = [False, False, False, False, False, True]
    expected = [band_keys(minhash(title_words(t).words)) if title_words(t).matchable and not d else ()
                for t, d in zip(titles, derived, strict=True)]
    assert title_bands(titles, derived) == expected
    assert expected[0] and expected[2] == expected[3] == expected[5] == ()
