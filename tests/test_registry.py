"""The shipped registry loads and is sound; bad files fail naming file, key and line."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from feeds.errors import RegistryError
from feeds.parse.yamldoc import parse_yaml
from feeds.tag.registry import Registry, build_registry, describe, load_registry

ROOT = Path(__file__).resolve().parent.parent
PARTIES = ROOT / "registry" / "parties.yaml"
TOPICS = ROOT / "registry" / "topics.yaml"

MINIMAL_PARTIES = """\
parties:
- code: kke
  kind: party
  name_en: Communist Party of Greece
  abbr: {en: [KKE], native: [ΚΚΕ]}
  country: GR
  languages: [el]
  website: https://www.kke.gr
  feeds:
  - url: https://www.902.gr/feed/recent
    lang: el
    confidence: high
countries:
  GR: [Greece]
"""
MINIMAL_TOPICS = """\
topics:
- id: labour
  label: Labour
  keywords:
    en: [strike*]
regions:
  europe: [GR, 'NO']
"""


# The codes of the first registry.
FIRST_CODES = frozenset({"kke", "tkp", "cpim", "ppp_ps", "pcp_ps", "cpi_israel", "hadash", "cprf",
    "eci", "eca", "kpp", "answer", "psl", "dkp", "pcch", "pcdob", "pcpe", "pc_italy", "imcwp",
    "icp_press", "pcp", "pce", "pcte", "pcf", "akel", "kscm", "cpusa", "cpb", "sacp", "pcc_cuba",
    "cpc_china", "cpv_vietnam", "cpi_india", "jcp", "pcv", "pcm_mexico", "pcb_brazil", "lcp",
    "icp_iraq", "tudeh", "scp_syria", "scp_sudan", "hwp", "rcwp", "kpu", "ptb", "pda_austria", "emep"})


def build(parties: str = MINIMAL_PARTIES, topics: str = MINIMAL_TOPICS,
          overrides: tuple[tuple[str, str], ...] = ()) -> Registry:
    docs = [(parse_yaml(text, path, RegistryError), path) for text, path in overrides]
    return build_registry(parse_yaml(parties, "p.yaml", RegistryError),
                          parse_yaml(topics, "t.yaml", RegistryError), docs,
                          parties_path="p.yaml", topics_path="t.yaml")


@pytest.fixture(scope="module")
def shipped() -> Registry:
    return load_registry(PARTIES, TOPICS)


def test_shipped_registry_has_every_party_and_topic(shipped: Registry) -> None:
    assert len(shipped.parties) == 126
    assert set(shipped.parties) >= FIRST_CODES  # codes are feed URLs: none is ever renamed
    assert len(shipped.topics) == 18
    assert shipped.topics["palestine"].label == "Palestine / Israeli occupation"


def test_describe_counts_parties_names_and_languages(shipped: Registry) -> None:
    assert describe(build()) == ("1 party, 3 names and abbreviations, 1 language; "
                                 "1 topic, 1 keyword in 1 language")
    assert describe(shipped).startswith("126 parties, ")


def test_shipped_party_fields(shipped: Registry) -> None:
    kke = shipped.parties["kke"]
    assert kke.abbreviations[0] == "KKE"
    assert "ΚΚΕ" in kke.abbreviations
    assert kke.native_name == "Κομμουνιστικό Κόμμα Ελλάδας"
    assert kke.country == "GR"
    assert kke.feeds[0].url == "https://www.902.gr/feed/recent"
    assert kke.feeds[0].language == "el"
    assert any(leader.name == "Dimitris Koutsoumbas" for leader in kke.leaders)


def test_shipped_feeds_are_urls_and_countries_known(shipped: Registry) -> None:
    for party in shipped.parties.values():
        assert all(feed.url.startswith(("http://", "https://")) for feed in party.feeds), party.code
        assert party.country == "XX" or party.country in shipped.countries, party.code


def test_norway_is_a_country_code_not_false(shipped: Registry) -> None:
    assert "NO" in shipped.regions["europe"]
    assert shipped.region_of("NO") == "europe"
    assert shipped.region_of("CL") == "americas"


def test_party_label(shipped: Registry) -> None:
    assert shipped.party_label("kke") == "Communist Party of Greece (KKE)"
    assert shipped.party_label("cpim") == "Communist Party of India (Marxist)"
    assert shipped.party_label("answer") == "ANSWER Coalition"


def test_not_parties_and_normalisation(shipped: Registry) -> None:
    texts = {t for entry in shipped.not_parties for t in entry.texts}
    assert {"PSL", "PPP", "CCP", "ICP", "TKP/ML"} <= texts
    assert "ICP, <date>" in shipped.bylines
    assert shipped.expansions["CP"] == "Communist Party"


def test_minimal_registry_builds() -> None:
    registry = build()
    assert registry.parties["kke"].abbreviations == ("KKE", "ΚΚΕ")
    assert registry.topics["labour"].keywords == {"en": ("strike*",)}
    assert registry.regions["europe"] == ("GR", "NO")


@pytest.mark.parametrize(("old", "new", "line", "key", "message"), [
    ("  kind: party\n", "  kind: partey\n", 3, "parties[kke].kind", "unknown kind"),
    ("  country: GR\n", "  country: ZZ\n", 6, "parties[kke].country", "unknown country code"),
    ("  - url: https://www.902.gr/feed/recent\n", "  - url: 902.gr/feed\n", 10, "parties[kke].feeds",
     "not an http(s) URL"),
    ("    confidence: high\n", "    confidence: none\n", 10, "parties[kke].feeds", "confidence"),
    ("  name_en: Communist Party of Greece\n", "", 2, "parties[kke].name_en", "required"),
    ("  languages: [el]\n", "  languages: [el, 7]\n", 7, "parties[kke].languages", "element 1"),
    ("  GR: [Greece]\n", "  GR: Greece\n", 14, "countries.GR", "list"),
])
def test_party_errors_name_file_key_and_line(old: str, new: str, line: int, key: str, message: str) -> None:
    with pytest.raises(RegistryError) as info:
        build(parties=MINIMAL_PARTIES.replace(old, new))
    error = info.value
    assert (error.path, error.line, error.key) == ("p.yaml", line, key)
    assert message in error.message


def test_unquoted_norway_in_regions_is_an_error_on_its_line() -> None:
    with pytest.raises(RegistryError) as info:
        build(topics=MINIMAL_TOPICS.replace("'NO'", "NO"))
    assert (info.value.path, info.value.line, info.value.key) == ("t.yaml", 7, "regions.europe")
    assert "False" in info.value.message


def test_duplicate_code_is_an_error() -> None:
    second = MINIMAL_PARTIES.split("countries:")[0].split("parties:\n")[1]
    with pytest.raises(RegistryError, match="duplicate code 'kke'") as info:
        build(parties=MINIMAL_PARTIES.replace("countries:", second + "countries:"))
    assert info.value.line == 13


def test_topic_keyword_must_be_text() -> None:
    with pytest.raises(RegistryError) as info:
        build(topics=MINIMAL_TOPICS.replace("[strike*]", "[strike*, yes]"))
    assert info.value.key == "topics[labour].keywords"
    assert info.value.line == 5


def test_unknown_section_and_non_mapping_document() -> None:
    with pytest.raises(RegistryError, match="unknown section"):
        build(parties=MINIMAL_PARTIES + "partys: []\n")
    with pytest.raises(RegistryError, match="must be a mapping"):
        build(parties="- just a list\n")


def test_override_merges_fields_and_adds_parties() -> None:
    override = dedent("""\
        parties:
        - code: kke
          website: https://inter.kke.gr
        - code: newcp
          kind: party
          name_en: New Communist Party
          country: GR
        """)
    registry = build(overrides=((override, "ops.yaml"),))
    assert registry.parties["kke"].website == "https://inter.kke.gr"
    assert registry.parties["kke"].abbreviations == ("KKE", "ΚΚΕ")  # untouched fields stay
    assert registry.parties["newcp"].name == "New Communist Party"


def test_override_error_names_the_override_file() -> None:
    override = "parties:\n- code: kke\n  kind: club\n"
    with pytest.raises(RegistryError) as info:
        build(overrides=((override, "ops.yaml"),))
    assert (info.value.path, info.value.line, info.value.key) == ("ops.yaml", 3, "parties[kke].kind")


def test_override_may_add_a_topic() -> None:
    override = "topics:\n- id: housing\n  label: Housing\n  keywords: {en: [rent*]}\n"
    registry = build(overrides=((override, "ops.yaml"),))
    assert registry.topics["housing"].keywords["en"] == ("rent*",)


def test_load_registry_reads_override_files(tmp_path: Path) -> None:
    override = tmp_path / "local.yaml"
    override.write_text("parties:\n- code: kke\n  website: https://example.org\n", encoding="utf-8")
    registry = load_registry(PARTIES, TOPICS, [override])
    assert registry.parties["kke"].website == "https://example.org"
    assert registry.parties["tkp"].website == "https://www.tkp.org.tr"


def test_unreadable_file_is_a_registry_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read") as info:
        load_registry(tmp_path / "missing.yaml", TOPICS)
    assert info.value.path == str(tmp_path / "missing.yaml")
