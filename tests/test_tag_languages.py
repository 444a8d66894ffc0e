"""Tagging in every language of the registry: the headlines of tests/data/tagging, scripts
written without spaces, clitics, and the item's language deciding a shared abbreviation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.tag_quality import Case, cases, outcomes
from feeds.tag import Tagger, Tags, explain, tags_as_json
from feeds.tag.registry import load_registry
from feeds.tag.textfold import tokenize

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = load_registry(ROOT / "registry" / "parties.yaml", ROOT / "registry" / "topics.yaml")
TAGGER = Tagger(REGISTRY)
CASES = cases()
# Topics without keywords in a language a registry party writes in, and why.
KEYWORD_GAPS = {
    "ku": "Kurdish (Sorani): labour, elections, war, Palestine, interviews, Kurdistan only",
    "lo": "Lao: only the words the tests could be written with",
}


def tag(text: str, language: str | None = None) -> Tags:
    return TAGGER.tag(text, language=language)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.language}:{case.text[:30]}")
def test_headline(case: Case) -> None:
    [outcome] = outcomes(TAGGER, [case])
    assert outcome.parties == case.parties
    assert case.topics <= outcome.topics


def test_headlines_cover_every_language_of_the_registry() -> None:
    written = {language for party in REGISTRY.parties.values() for language in party.languages}
    assert written <= {case.language for case in CASES}
    assert len(CASES) >= 100


def test_every_topic_has_keywords_in_every_language_a_party_writes_in() -> None:
    written = {language for party in REGISTRY.parties.values() for language in party.languages}
    missing = {(topic.id, language) for topic in REGISTRY.topics.values() for language in written
               if language not in topic.keywords and language not in KEYWORD_GAPS}
    assert missing == set()


def test_every_shared_abbreviation_is_in_the_docs() -> None:
    owners: dict[str, set[str]] = {}
    for party in REGISTRY.parties.values():
        for abbreviation in party.abbreviations:
            owners.setdefault(abbreviation, set()).add(party.code)
    outside = {text for entry in REGISTRY.not_parties for text in entry.texts}
    shared = {a for a, codes in owners.items() if len(codes) > 1 or a in outside}
    docs = (ROOT / "docs" / "tagging.md").read_text(encoding="utf-8")
    table = {m.group(1) for m in re.finditer(r"^\| `([^`]+)` \|", docs, re.M)}
    assert shared - table == set()


# -- scripts written without spaces ---------------------------------------------------


def test_chinese_and_japanese_names_match_inside_a_sentence() -> None:
    assert tag("中国共产党中央政治局召开会议").parties == ("cpc_china",)
    assert tag("志位和夫議長が会見").parties == ("jcp",)
    assert tag("ロシア連邦共産党の大会").parties == ("cprf",)


def test_a_cjk_abbreviation_glued_to_the_word_before_is_inside_that_word() -> None:
    assert tag("在斗争中共同前进").parties == ()  # 中共 across 中 + 共同
    assert tag("在中共中央").parties == ("cpc_china",)  # 在 is a word of its own
    assert tag("カザフスタン共産党の声明").parties == ()  # not the JCP
    assert tag("自民党と共産党が対立").parties == ("jcp",)


def test_a_katakana_word_is_matched_whole() -> None:
    assert "middle_east_wars" in tag("シリア内戦").topics
    assert "middle_east_wars" not in tag("シリアルを食べた").topics  # cereal
    assert "palestine" in tag("ガザ地区").topics


def test_thai_and_lao_are_matched_as_characters() -> None:
    words = tokenize("ພັກປະຊາຊົນປະຕິວັດລາວ").words
    assert len(words) == len("ພັກປະຊາຊົນປະຕິວັດລາວ")
    assert tag("ກອງປະຊຸມຂອງພັກປະຊາຊົນປະຕິວັດລາວ").parties == ("lprp",)


def test_indic_words_keep_their_vowel_signs() -> None:
    assert tokenize("कम्युनिस्ट पार्टी। नया").words == ["कम्युनिस्ट", "पार्टी", "नया"]
    assert tokenize("കമ്മ്യൂണിസ്റ്റ്").words == ["കമ്മ്യൂണിസ്റ്റ്"]


def test_a_danda_and_a_chinese_full_stop_end_a_sentence() -> None:
    assert tag("希腊共产。党").parties == ()


def test_full_width_letters_are_their_ascii_twins() -> None:
    assert tag("ＫＫＥの声明").parties == ("kke",)


def test_arabic_and_hebrew_prefixes_come_off() -> None:
    assert "palestine" in tag("تضامن مع الشعب وفلسطين", "ar").topics
    assert tag("بيان للحزب الشيوعي اللبناني").parties == ("lcp",)
    assert "palestine" in tag("הפגנה נגד הכיבוש", "he").topics
    assert "labour" not in tag("Vaga de emprego em Lisboa", "pt").topics  # Catalan strike, Portuguese vacancy
    assert tag("My car is red and the rat ran away").topics == ()
    assert "elections" in tag("חד\"ש בבחירות", "he").topics


def test_persian_and_arabic_letters_fold_together() -> None:
    assert tag("حزب توده ايران").parties == tag("حزب توده ایران").parties == ("tudeh",)


def test_hangul_stems_take_the_particles() -> None:
    assert tag("일본공산당은 선거에서").parties == ("jcp",)
    assert "elections" in tag("일본공산당은 선거에서").topics


@pytest.mark.parametrize("text", [
    "My car is red and the rat ran away",  # Croatian rat (war)
    "Vaga de emprego em Lisboa",  # Catalan vaga (strike)
    "A Marxist-Leninist reading group",  # Czech Marx*, Finnish Lenin*
    "Il est au milieu de la place",  # Dutch milieu (environment)
    "Centenares de personas en la plaza",  # Romanian centenar (centenary)
    "Det er nok nå",  # Hungarian nők (women)
    "È nato a Roma",  # NATO written small
    "La carte d'identité",  # Romanian carte (book)
    "Saab Gripen order",  # Swedish gripen (arrested)
    "La nación celebra",  # Hungarian náci
    "Kurul karar verdi",  # Latvian kar (war)
    "Apple's Siri and Syriza",  # Polish Syri*
])
def test_keywords_are_no_ordinary_words_elsewhere(text: str) -> None:
    assert tag(text) == Tagger(REGISTRY).tag(text)
    assert (tag(text).parties, tag(text).topics) == ((), ())


# -- the item's language decides a shared abbreviation ---------------------------------


def test_language_picks_the_one_candidate_that_writes_in_it() -> None:
    pcp = tag("O PCP apoia a greve", "pt")
    assert pcp.parties == ("pcp",)
    assert pcp.rules == {"pcp": "language pt"}
    assert tag("Die DKP zur Wahl", "de").parties == ("dkp",)
    assert tag("DKP kræver højere løn", "da").parties == ("dkp_denmark",)
    assert tag("КПБ подкрепя стачката", "bg").parties == ("kpbg",)
    assert tag("КПБ провела пленум", "ru").parties == ("kpb_belarus",)
    assert tag("El PCC dona suport a la vaga", "ca").parties == ("pcc_catalonia",)


def test_without_a_language_or_with_several_writers_nothing_is_guessed() -> None:
    assert tag("O PCP apoia a greve").parties == ()
    assert tag("El PCP ante las elecciones", "es").parties == ()  # Peru's and Paraguay's
    assert tag("SKP kräver fred", "sv").parties == ()  # Sweden's, and Finland's Swedish pages


def test_the_text_wins_over_the_language() -> None:
    named = tag("The Palestinian Communist Party (PCP) said. The PCP added", "en")
    assert named.parties == ("pcp_ps",)
    assert tag("El PCP en el Perú", "es").parties == ("pcp_peru",)


def test_an_outside_meaning_written_in_the_language_blocks_it() -> None:
    assert tag("PRC exports grew", "en").parties == ()  # the People's Republic of China
    assert tag("Il PRC in piazza", "it").parties == ("prc_italy",)
    assert tag("The CPI rose by 2%", "en").parties == ()
    assert tag("ＪＣＰの声明", "ja").parties == ("jcp",)


def test_explain_and_json_say_which_rule_decided() -> None:
    tags = tag("O PCP apoia a greve", "pt")
    assert explain(tags, REGISTRY).splitlines()[0] == (
        "party  pcp: Portuguese Communist Party (PCP) <- PCP  [rule: language pt]")
    assert tags_as_json(tags)["evidence"] == {
        "parties": {"pcp": ["PCP"]}, "topics": {"labour": ["greve"]}, "rules": {"pcp": "language pt"}}
    assert "rules" not in tags_as_json(tag("Communist Party of Greece"))["evidence"]
