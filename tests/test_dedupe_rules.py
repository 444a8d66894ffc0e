"""The near-duplicate rules (feeds.dedupe.rules), each with examples of both kinds, in several languages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.dedupe.rules import parties_compatible, same_story, similarity
from feeds.dedupe.titles import title_words
from tests.factories import KKE_LONG, KKE_SHORT, T0, make_item


def verdict(title_a: str, title_b: str, **fields: object) -> tuple[bool, str]:
    """Two sources' items with these titles (and common fields): the verdict and its rule."""
    found = same_story(make_item(title_a, source="one", **fields), make_item(title_b, source="two", **fields))
    return found.same, found.rule


@pytest.mark.parametrize(("a", "b"), [
    (KKE_LONG, KKE_SHORT),
    ("Communist Party of Greece condemns NATO war drills in the Aegean",
     "Communist Party of Greece condemned NATO war drills in the Aegean | SolidNet"),
    ("ΚΚΕ: Καταδικάζει την αναγνώριση της Ιερουσαλήμ ως πρωτεύουσας του Ισραήλ",
     "Το ΚΚΕ καταδικάζει την αναγνώριση της Ιερουσαλήμ ως πρωτεύουσα του Ισραήλ"),
    ("El PCE denuncia el bloqueo criminal de Estados Unidos contra Cuba",
     "PCE denuncia el bloqueo criminal de los Estados Unidos contra Cuba"),
    ("КПРФ требует отменить повышение пенсионного возраста в России",
     "КПРФ требует отменить повышение пенсионного возраста"),
    ("TKP'den 21. Kongre açıklaması: emperyalizme karşı mücadele sürecek",
     "TKP 21. Kongre açıklaması: emperyalizme karşı mücadele sürecek"),
])
def test_a_reworded_copy_from_another_source_is_the_same_story(a: str, b: str) -> None:
    assert verdict(a, b) == (True, "similar")


@pytest.mark.parametrize(("a", "b"), [
    ("Podcast #12: rents and the housing crisis in Athens",
     "Podcast #13: rents and the housing crisis in Athens"),
    ("Weekly digest of workers' struggles, week 14", "Weekly digest of workers' struggles, week 15"),
    ("Theses of the Central Committee for the 21st Congress of the party",
     "Theses of the Central Committee for the 22nd Congress of the party"),
    ("Mass protests against the G7 summit in Hiroshima", "Mass protests against the G20 summit in Hiroshima"),
    ("Interview with the general secretary on imperialist war (Part 3)",
     "Interview with the general secretary on imperialist war (Part 4)"),
    ("Interview with the general secretary on imperialist war, Part III",
     "Interview with the general secretary on imperialist war, Part IV"),
    ("Daily bulletin of strikes and workers' actions 12.03.2024",
     "Daily bulletin of strikes and workers' actions 13.03.2024"),
    ("Pensions rise by 1/12 of the wage in the budget", "Pensions rise by 1/13 of the wage in the budget"),
    ("Boletín diario de huelgas y luchas obreras, 12 de marzo",
     "Boletín diario de huelgas y luchas obreras, 13 de marzo"),
    ("Ежедневная сводка забастовок и рабочих акций, выпуск 41",
     "Ежедневная сводка забастовок и рабочих акций, выпуск 42"),
])
def test_titles_that_differ_in_a_number_are_never_one_story(a: str, b: str) -> None:
    same, rule = verdict(a, b)
    assert not same and rule in ("numbers", "too-generic")  # a generic title is turned down first
    assert title_words(a).numbers != title_words(b).numbers


def test_clashing_codes_keep_titles_apart() -> None:
    assert verdict("EU sanctions on Cuba condemned by the workers' movement",
                   "US sanctions on Cuba condemned by the workers' movement") == (False, "codes")
    # A code on one side only is a spelled-out name, not a clash.
    assert verdict("KKE condemns NATO war drills in the Aegean sea",
                   "Communist Party of Greece condemns NATO war drills in the Aegean sea")[0]
    # A headline in capitals has no codes.
    assert verdict("KKE CONDEMNS NATO WAR DRILLS IN THE AEGEAN SEA",
                   "KKE condemns NATO war drills in the Aegean sea")[0]


@pytest.mark.parametrize("title", [
    "Press release", "Statement", "Announcement", "Ανακοίνωση", "Comunicado de prensa", "Заявление",
    "Statement of the Political Bureau of the Central Committee", "Günlük bülten, 25 Şubat 2024"])
def test_generic_titles_are_never_matched_by_their_words(title: str) -> None:
    assert verdict(title, title) == (False, "too-generic")


def test_a_general_headline_is_not_contained_in_a_specific_one() -> None:
    general = "Statement of the Political Bureau of the KKE"
    specific = ("Statement of the Political Bureau of the KKE on the imperialist war in Ukraine "
                "and the sanctions")
    assert not verdict(general, specific)[0]
    # A wire service's shortened headline still is: five informative words, all of them found.
    assert similarity(title_words(KKE_SHORT), title_words(KKE_LONG))[1] == "containment"


def test_entries_of_one_source_are_never_merged_by_title() -> None:
    a = make_item("Communist Party of Greece condemns NATO war drills in the Aegean", source="kke")
    b = make_item("Communist Party of Greece condemns NATO war drills in the Aegean!", source="kke")
    assert (same_story(a, b).same, same_story(a, b).rule) == (False, "same-source")


def test_derived_titles_never_match() -> None:
    a = make_item("The opening words of an untitled entry about the general strike", source="one",
                  title_derived=True)
    b = make_item("The opening words of an untitled entry about the general strike", source="two")
    assert same_story(a, b).rule == "derived-title" and not same_story(a, b).same


def test_a_split_pair_stays_apart() -> None:
    a, b = make_item(KKE_LONG, source="one"), make_item(KKE_SHORT, source="two")
    assert same_story(a, b).same
    assert same_story(a, b, frozenset({frozenset((a.id, b.id))})).rule == "split"


def test_different_parties_on_the_same_subject_stay_apart() -> None:
    a = make_item(KKE_LONG, source="kke", parties=("kke",))
    b = make_item(KKE_LONG.replace("of Greece (KKE)", "of Turkey (TKP)"), source="tkp", parties=("tkp",))
    found = same_story(a, b)
    assert not found.same and found.rule == "parties"


def test_far_apart_dates_and_languages_keep_items_apart() -> None:
    a = make_item(KKE_LONG, source="one", parties=("kke",))
    later = make_item(KKE_LONG, source="two", parties=("kke",), published=T0 + timedelta(days=30))
    assert same_story(a, later).rule == "dates"
    assert same_story(make_item(KKE_LONG, source="one", language="en"),
                      make_item(KKE_LONG, source="two", language="el")).rule == "language"


def test_unrelated_titles_are_not_merged() -> None:
    assert verdict("KKE congress opens in Athens with delegates from all regions",
                   "KKE statement on the strike of dock workers in Piraeus") == (False, "words")


def test_party_compatibility() -> None:
    assert parties_compatible([], [])
    assert parties_compatible(["kke"], ["kke", "tkp"])
    assert not parties_compatible(["kke"], ["tkp"])
    assert not parties_compatible(["kke"], [])
    assert not parties_compatible(["kke", "pcf"], ["kke", "tkp"])


@given(st.text(max_size=80), st.text(max_size=80))
def test_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    forward, backward = similarity(title_words(a), title_words(b)), similarity(title_words(b), title_words(a))
    assert forward[0] == backward[0]
    assert 0.0 <= forward[0] <= 1.0


@given(st.text(max_size=60), st.integers(0, 10_000), st.integers(0, 10_000))
def test_a_number_changed_anywhere_keeps_titles_apart(text: str, first: int, second: int) -> None:
    if first != second:
        a, b = f"{text} {first} workers march", f"{text} {second} workers march"
        assert not same_story(make_item(a, source="one"), make_item(b, source="two")).same
