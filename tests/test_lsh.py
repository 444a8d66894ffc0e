"""Title word sets, MinHash signatures and LSH band keys (feeds.lsh): stored values, so fixed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from feeds.lsh import Tokens, band_keys, minhash, signatures, title_bands, title_tokens
from tests.factories import KKE_LONG, KKE_SHORT


def test_tokens_fold_case_and_inflection() -> None:
    assert title_tokens("Παλαιστίνη ΠΑΛΑΙΣΤΙΝΗΣ") == {"παλαισ"}


def test_signatures_are_deterministic_values() -> None:
    # Stored in the database: they must not change between runs or Python builds.
    tokens = title_tokens(KKE_LONG)
    assert minhash(tokens) == minhash(set(tokens))
    assert len(band_keys(minhash(tokens))) == 16
    assert band_keys(minhash(frozenset({"palest"})))[0] == band_keys(minhash(frozenset({"palest"})))[0]
    assert minhash(frozenset()) == () and band_keys(()) == ()


@given(st.sets(st.text(alphabet="abcdefgh", min_size=3, max_size=6), min_size=1, max_size=12))
def test_identical_token_sets_share_every_band(tokens: set[str]) -> None:
    assert band_keys(minhash(tokens)) == band_keys(minhash(sorted(tokens)))


@given(st.lists(st.sets(st.text(min_size=3, max_size=8), max_size=15), max_size=20))
def test_vectorised_signatures_equal_the_reference(token_sets: list[set[str]]) -> None:
    rows = signatures([frozenset(tokens) for tokens in token_sets]).tolist()
    for tokens, row in zip(token_sets, rows, strict=True):
        if tokens:
            assert tuple(row) == minhash(tokens)
        else:
            assert set(row) == {2**64 - 1}


def test_title_bands_are_the_stored_band_keys() -> None:
    titles = [KKE_LONG, KKE_SHORT, "", "of the and", "Παλαιστίνη ΠΑΛΑΙΣΤΙΝΗΣ"]
    assert title_bands(titles) == [band_keys(minhash(title_tokens(t))) for t in titles]


def test_known_band_key_value_never_changes() -> None:
    # Stored band keys of existing databases depend on this exact value.
    assert band_keys(minhash(frozenset({"palest"})))[0] == 1253327046540002695


_ODD_TITLES = [KKE_LONG, "Παλαιστίνη ΠΑΛΑΙΣΤΙΝΗΣ", "a\x00bcd\x00efg", "ﬁnal ＫＫＥ"]


@given(st.lists(st.text(max_size=60) | st.sampled_from(_ODD_TITLES), max_size=12))
def test_the_batchs_word_sets_are_title_tokens(titles: list[str]) -> None:
    # near_duplicates builds every title's word set at once, as arrays.
    tokens = Tokens.of_titles(titles)
    assert tokens.sizes.tolist() == [len(title_tokens(t)) for t in titles]
    for title, start, size in zip(titles, tokens.starts.tolist(), tokens.sizes.tolist(), strict=True):
        assert {tokens.vocabulary[i] for i in tokens.ids[start:start + size].tolist()} == title_tokens(title)
