"""feeds.publish.render: Atom output parsed back and checked field by field, plus tests of tests/atomcheck."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from feeds.errors import PublishError
from feeds.model import FeedSpec, Item, SiteInfo, SourceRef, atom_id, item_id
from feeds.publish.entryparts import UNTITLED, Labels, clean_text, newest_first, source_atom_id
from feeds.publish.render import render_atom
from tests.atomcheck import (
    ATOM_RNC,
    SCHEMA_AVAILABLE,
    assert_valid_atom,
    atom_problems,
    atom_schema,
    parse_rfc3339,
)

A = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
OLD = datetime(2003, 12, 13, 18, 30, 2, tzinfo=UTC)  # far from any build time

SITE = SiteInfo(title="Party feeds", base_url="https://feeds.example.org/", author_name="partyfeeds",
                author_uri="https://feeds.example.org/about", entries_per_feed=50)
PARTY = FeedSpec(path="party/kke.atom", kind="party", key="kke", title="KKE", subtitle="News of the KKE",
                 website="https://www.kke.gr/")
ALL = FeedSpec(path="all.atom", kind="all", key=None, title="All parties", subtitle="Every item")
LABELS = Labels(parties={"kke": "Communist Party of Greece"}, topics={"strikes": "Strikes"})


def make(n: int = 0, **fields: Any) -> Item:
    """Item number `n`: one hour older per step, from two sources."""
    values: dict[str, Any] = {
        "id": item_id(f"render-{n}"), "title": f"Headline {n}", "link": f"https://www.kke.gr/article/{n}",
        "summary": f"<p>Summary {n}</p>", "content": f"<p>Content {n}</p>",
        "published": OLD - timedelta(hours=n, minutes=5), "updated": OLD - timedelta(hours=n),
        "language": "el", "authors": ("Press office",),
        "sources": (SourceRef("kke-en", "KKE (English)", f"https://www.kke.gr/article/{n}", "kke"),
                    SourceRef("902-gr", "902.gr", f"https://www.902.gr/n/{n}")),
        "parties": ("kke",), "topics": ("strikes",),
    }
    values.update(fields)
    return Item(**values)


def render(items: list[Item], spec: FeedSpec = PARTY, site: SiteInfo = SITE) -> etree._Element:
    """Render, validate, return the parsed root."""
    return assert_valid_atom(render_atom(spec, items, site, LABELS))


def entries(root: etree._Element) -> list[etree._Element]:
    return root.findall(f"{A}entry")


def links(element: etree._Element) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for link in element.findall(f"{A}link"):
        found.setdefault(link.get("rel", "alternate"), []).append(link.get("href", ""))
    return found


# --- the feed -----------------------------------------------------------------------------


def test_feed_metadata_round_trips() -> None:
    root = render([make(0), make(1)])
    assert root.findtext(f"{A}id") == "https://feeds.example.org/party/kke.atom"
    assert root.findtext(f"{A}title") == "KKE"
    assert root.findtext(f"{A}subtitle") == "News of the KKE"
    assert links(root) == {
        "self": ["https://feeds.example.org/party/kke.atom"],
        "alternate": ["https://feeds.example.org/"],
        "related": ["https://www.kke.gr/"],
    }
    self_link = root.find(f"{A}link[@rel='self']")
    assert self_link is not None and self_link.get("type") == "application/atom+xml"
    assert root.findtext(f"{A}generator") == "partyfeeds"
    assert root.findtext(f"{A}author/{A}name") == "partyfeeds"
    assert root.findtext(f"{A}author/{A}uri") == "https://feeds.example.org/about"


def test_feed_updated_is_the_newest_entry_never_the_build_time() -> None:
    root = render([make(3), make(0), make(5)])
    assert parse_rfc3339(root.findtext(f"{A}updated") or "") == OLD


def test_empty_feed_is_valid_and_dated_by_its_first_publish() -> None:
    root = assert_valid_atom(render_atom(ALL, [], SITE, LABELS, updated_if_empty=OLD))
    assert entries(root) == []
    assert parse_rfc3339(root.findtext(f"{A}updated") or "") == OLD


def test_an_empty_feed_without_its_first_publish_time_is_refused() -> None:
    with pytest.raises(PublishError, match="first published"):
        render_atom(ALL, [], SITE, LABELS)


def test_related_link_only_for_a_party_feed_with_a_website() -> None:
    assert "related" not in links(render([make(0)], spec=ALL))
    assert "related" not in links(render([make(0)], spec=replace(PARTY, website=None)))


def test_hub_link_when_configured() -> None:
    root = render([make(0)], site=replace(SITE, hub_url="https://hub.example.net/"))
    assert links(root)["hub"] == ["https://hub.example.net/"]


# --- entries ------------------------------------------------------------------------------


def test_entry_fields_round_trip() -> None:
    item = make(0, categories=("Labour", "Labour", "Greece"))
    (entry,) = entries(render([item]))
    assert entry.findtext(f"{A}id") == f"urn:uuid:{item.id}" == atom_id(item.id)
    assert entry.findtext(f"{A}title") == "Headline 0"
    assert entry.get(XML_LANG) == "el"
    assert links(entry) == {"alternate": ["https://www.kke.gr/article/0"], "via": ["https://www.902.gr/n/0"]}
    assert parse_rfc3339(entry.findtext(f"{A}published") or "") == item.published
    assert parse_rfc3339(entry.findtext(f"{A}updated") or "") == item.updated
    assert [a.findtext(f"{A}name") for a in entry.findall(f"{A}author")] == ["Press office"]
    for name, text in (("summary", "<p>Summary 0</p>"), ("content", "<p>Content 0</p>")):
        element = entry.find(f"{A}{name}")
        assert element is not None and element.get("type") == "html" and (element.text or "").startswith(text)


def test_merged_entry_content_names_its_sources_with_links() -> None:
    hostile = SourceRef("evil", "<b>Evil</b> & co", "javascript:alert(1)")
    item = make(0, sources=(*make(0).sources, hostile))
    (entry,) = entries(render([item]))
    content = entry.findtext(f"{A}content") or ""
    assert content.startswith("<p>Content 0</p>\n")
    line = lxml.html.fragment_fromstring(content.split("\n")[1])
    assert line.text_content() == "Reported by: KKE (English), 902.gr, <b>Evil</b> & co"
    assert [(a.text, a.get("href")) for a in line.iter("a")] == [
        ("KKE (English)", "https://www.kke.gr/article/0"), ("902.gr", "https://www.902.gr/n/0")]


def test_a_merged_entry_names_each_source_once() -> None:
    own, other = make(0).sources
    twin = SourceRef("902-gr-featured", "902.gr", "https://www.902.gr/featured/0")  # a second feed of 902.gr
    (entry,) = entries(render([make(0, sources=(own, other, twin))]))
    line = lxml.html.fragment_fromstring((entry.findtext(f"{A}content") or "").split("\n")[1])
    assert line.text_content() == "Reported by: KKE (English), 902.gr"
    assert links(entry)["via"] == ["https://www.902.gr/n/0", "https://www.902.gr/featured/0"]


def test_each_other_source_gets_a_via_link_to_its_site_when_it_shares_the_entrys_link() -> None:
    link = "https://www.kke.gr/article/0"
    own = SourceRef("kke-en", "KKE (English)", link, "kke", site="https://www.kke.gr/en/")
    copies = (SourceRef("902-gr", "902.gr", link, site="https://www.902.gr/"),
              SourceRef("agency", "Agency", link, site=None),  # kept before sites were: no via to give
              SourceRef("rizospastis", "Rizospastis", "https://www.rizospastis.gr/1",
                        site="https://www.rizospastis.gr/"))
    (entry,) = entries(render([make(0, sources=(own, *copies))]))
    assert links(entry) == {"alternate": [link], "via": ["https://www.902.gr/", "https://www.rizospastis.gr/1"]}
    assert entry.findtext(f"{A}source/{A}title") == "KKE (English)"  # the origin: atom:source, no via


def test_single_source_entry_content_is_left_as_is() -> None:
    (entry,) = entries(render([make(0, sources=make(0).sources[:1])]))
    assert entry.findtext(f"{A}content") == "<p>Content 0</p>"


def test_entry_categories_carry_scheme_and_label() -> None:
    item = make(0, parties=("kke", "pame"), topics=("strikes",), categories=("Greece",))
    (entry,) = entries(render([item]))
    found = [(c.get("term"), c.get("scheme"), c.get("label")) for c in entry.findall(f"{A}category")]
    assert found == [
        ("kke", "https://feeds.example.org/party/", "Communist Party of Greece"),
        ("pame", "https://feeds.example.org/party/", "pame"),  # unknown code: the code itself
        ("strikes", "https://feeds.example.org/topic/", "Strikes"),
        ("Greece", None, None),
    ]


def test_entry_source_names_the_source_that_gave_the_link() -> None:
    (entry,) = entries(render([make(0)]))
    source = entry.find(f"{A}source")
    assert source is not None
    assert source.findtext(f"{A}id") == source_atom_id("kke-en")
    assert source_atom_id("kke-en").startswith("urn:uuid:")
    assert source_atom_id("kke-en") != source_atom_id("kke")
    assert source.findtext(f"{A}title") == "KKE (English)"
    assert parse_rfc3339(source.findtext(f"{A}updated") or "") == OLD


def test_the_partys_own_feed_is_the_origin_when_an_aggregator_carried_its_link_first() -> None:
    link = "https://www.kke.gr/article/0"
    agency = SourceRef("agency", "Agency", link, site="https://agency.example/")
    own = SourceRef("kke-en", "KKE (English)", link, "kke", site="https://www.kke.gr/en/")
    (entry,) = entries(render([make(0, sources=(agency, own))]))
    assert entry.findtext(f"{A}source/{A}title") == "KKE (English)"
    assert links(entry) == {"alternate": [link], "via": ["https://agency.example/"]}


def test_entry_without_sources_has_no_source_element() -> None:
    (entry,) = entries(render([make(0, sources=())]))
    assert entry.find(f"{A}source") is None
    assert "via" not in links(entry)


@pytest.mark.parametrize(
    ("authors", "sources", "expected"),
    [
        (("A. Author", "B. Author"), (), ["A. Author", "B. Author"]),
        ((), (SourceRef("902-gr", "902.gr", None),), ["902.gr"]),
        ((), (), ["partyfeeds"]),
        (("  ",), (), ["partyfeeds"]),
    ],
)
def test_entry_author_is_never_missing(authors: tuple[str, ...], sources: tuple[SourceRef, ...],
                                       expected: list[str]) -> None:
    (entry,) = entries(render([make(0, authors=authors, sources=sources)]))
    assert [a.findtext(f"{A}name") for a in entry.findall(f"{A}author")] == expected


def test_an_entry_without_text_shows_its_title_and_no_empty_summary() -> None:
    # A linked entry without text: readers (and the W3C validator, MissingTextualContent) want
    # some text, so the content is its title; an empty summary is left out, not emitted empty.
    item = make(0, summary="", content="  ", sources=make(0).sources[:1])
    (entry,) = entries(render([item]))
    assert entry.find(f"{A}summary") is None and entry.findtext(f"{A}content") == item.title
    assert links(entry)["alternate"] == ["https://www.kke.gr/article/0"]


def test_missing_content_falls_back_to_the_summary() -> None:
    (entry,) = entries(render([make(0, content="", sources=make(0).sources[:1])]))
    assert entry.findtext(f"{A}content") == "<p>Summary 0</p>"


def test_entry_with_no_link_and_no_body_gets_its_title_as_content() -> None:
    item = make(0, title="Strike & march", link=None, summary="", content="", sources=())
    (entry,) = entries(render([item]))
    assert "alternate" not in links(entry)
    assert entry.findtext(f"{A}content") == "Strike &amp; march"  # HTML text of the title


def test_blank_title_becomes_a_placeholder() -> None:
    (entry,) = entries(render([make(0, title=" \t")]))
    assert entry.findtext(f"{A}title") == UNTITLED


@pytest.mark.parametrize("language", [None, "", "Greek (Modern)", "el_GR"])
def test_no_or_malformed_language_no_xml_lang(language: str | None) -> None:
    (entry,) = entries(render([make(0, language=language)]))
    assert XML_LANG not in entry.attrib


def test_language_subtags_are_kept() -> None:
    (entry,) = entries(render([make(0, language="sr-Latn-RS")]))
    assert entry.get(XML_LANG) == "sr-Latn-RS"


# --- order, limit, determinism --------------------------------------------------------------


def test_entries_newest_first_ties_broken_by_id() -> None:
    tied = [make(n, id=item_id(f"tie-{n}"), updated=OLD) for n in range(4)]
    items = [make(2), *tied, make(7), make(1)]
    root = render(items)
    expected = [*sorted(atom_id(i.id) for i in tied), atom_id(make(1).id), atom_id(make(2).id),
                atom_id(make(7).id)]
    assert [e.findtext(f"{A}id") for e in entries(root)] == expected
    assert [i.id for i in newest_first(items)] == [e.removeprefix("urn:uuid:") for e in expected]


def test_entry_limit_keeps_the_newest() -> None:
    items = [make(n) for n in range(10)]
    root = render(list(reversed(items)), site=replace(SITE, entries_per_feed=3))
    assert [e.findtext(f"{A}title") for e in entries(root)] == ["Headline 0", "Headline 1", "Headline 2"]


def test_same_input_same_bytes_at_different_real_times() -> None:
    items = [make(n) for n in range(5)]
    first = render_atom(PARTY, items, SITE, LABELS)
    time.sleep(0.05)  # feedgen's own clock has microseconds: any leak would show
    again = render_atom(PARTY, list(reversed(items)), SITE, LABELS)
    assert first == again
    dates = etree.fromstring(first).xpath("//*[local-name()='updated' or local-name()='published']/text()")
    parsed = [parse_rfc3339(d) for d in dates]
    assert parsed and all(p is not None and p.year == 2003 for p in parsed)  # nothing from today


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(PublishError, match="share an id"):
        render_atom(PARTY, [make(0), make(1, id=make(0).id)], SITE, LABELS)
    with pytest.raises(PublishError, match="share an id"):  # even when one copy would miss the cut
        one = replace(SITE, entries_per_feed=1)
        render_atom(PARTY, [make(0), make(1), make(9, id=make(1).id)], one, LABELS)


# --- text: hostile, non-Latin, invalid characters -------------------------------------------------


HOSTILE = "<script>alert('x')</script> & \"quotes\" ]]> &amp;"


def test_hostile_text_is_escaped_and_round_trips() -> None:
    item = make(0, title=HOSTILE, authors=(HOSTILE,), summary=HOSTILE, parties=("kke",))
    data = render_atom(replace(PARTY, title=HOSTILE, subtitle=HOSTILE), [item], SITE,
                       Labels(parties={"kke": HOSTILE}))
    assert b"<script>" not in data
    root = assert_valid_atom(data)
    (entry,) = entries(root)
    assert root.findtext(f"{A}title") == root.findtext(f"{A}subtitle") == HOSTILE
    assert entry.findtext(f"{A}title") == entry.findtext(f"{A}summary") == HOSTILE
    assert entry.findtext(f"{A}author/{A}name") == HOSTILE
    category = entry.find(f"{A}category")
    assert category is not None and category.get("label") == HOSTILE


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("el", "Κομμουνιστικό Κόμμα Ελλάδας: απεργία στα λιμάνια"),
        ("ru", "КПРФ: «Рабочие требуют повышения зарплат»"),
        ("tr", "TKP: İşçi sınıfı ğüşıöç grevde"),
    ],
)
def test_non_latin_text_round_trips_as_utf8(language: str, title: str) -> None:
    data = render_atom(replace(PARTY, title=title), [make(0, title=title, language=language)], SITE, LABELS)
    assert title.encode("utf-8") in data  # literal UTF-8, not character references
    (entry,) = entries(assert_valid_atom(data))
    assert entry.findtext(f"{A}title") == title
    assert entry.get(XML_LANG) == language


def test_characters_xml_cannot_carry_are_dropped() -> None:
    (entry,) = entries(render([make(0, title="Strike\x00 in\x0b Piraeus\ufffe", summary="a\x1fb")]))
    assert entry.findtext(f"{A}title") == "Strike in Piraeus"
    assert entry.findtext(f"{A}summary") == "ab"


@given(title=st.text(max_size=40), summary=st.text(max_size=40))
def test_any_text_renders_valid_atom(title: str, summary: str) -> None:
    (entry,) = entries(render([make(0, title=title, summary=summary)]))
    assert entry.findtext(f"{A}title") == (clean_text(title).strip() or UNTITLED)
    if clean_text(summary).strip():
        assert entry.findtext(f"{A}summary") == clean_text(summary)


# --- tests/atomcheck itself ------------------------------------------------------------------


def test_atom_schema_is_available() -> None:
    if not SCHEMA_AVAILABLE:
        pytest.skip(f"{ATOM_RNC} not found: RELAX NG validation skipped, RFC 4287 rule checks still run")
    assert atom_schema() is not None
    assert atom_schema() is atom_schema()  # converted once per session


def broken(mutate: Callable[[etree._Element], None]) -> bytes:
    """A valid two-entry feed, changed by `mutate`."""
    root = etree.fromstring(render_atom(PARTY, [make(0), make(1)], SITE, LABELS))
    mutate(root)
    return bytes(etree.tostring(root))


def first(root: etree._Element, path: str) -> etree._Element:
    element = root.find(path)
    assert element is not None, path
    return element


def _set_text(path: str, text: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        first(root, path).text = text
    return mutate


def _remove_all(path: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        for element in root.findall(path):
            element.getparent().remove(element)
    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set_text(f"{A}entry/{A}id", "8a4c1c38-0000-5000-8000-000000000000"), "not an absolute IRI"),
        (_set_text(f"{A}id", "party/kke.atom"), "not an absolute IRI"),
        (_set_text(f"{A}entry/{A}published", "2003-12-13T18:30:02"), "not RFC 3339"),
        (_set_text(f"{A}entry/{A}updated", "2003-12-13 18:30:02+00:00"), "not RFC 3339"),
        (_set_text(f"{A}entry/{A}updated", "2003-13-13T18:30:02Z"), "not RFC 3339"),
        (_remove_all(f".//{A}author"), "no author"),
        (_remove_all(f"{A}link[@rel='self']"), 'no link rel="self"'),
        (_remove_all(f"{A}updated"), "0 atom:updated elements"),
        (_set_text(f"{A}entry[2]/{A}id", f"urn:uuid:{make(0).id}"), "share the id"),
        (_set_text(f"{A}updated", "2020-01-01T00:00:00Z"), "is not the newest entry's"),
        (_set_text(f"{A}entry/{A}title", " "), "empty title"),
    ],
)
def test_atomcheck_catches_broken_documents(mutate: Callable[[etree._Element], None], message: str) -> None:
    problems = atom_problems(broken(mutate))
    assert any(message in p for p in problems), problems
    with pytest.raises(AssertionError, match="invalid Atom"):
        assert_valid_atom(broken(mutate))


def test_atomcheck_wants_content_or_an_alternate_link() -> None:
    def mutate(root: etree._Element) -> None:
        _remove_all(f"{A}entry/{A}content")(root)
        _remove_all(f"{A}entry/{A}link[@rel='alternate']")(root)

    assert any('no content and no link rel="alternate"' in p for p in atom_problems(broken(mutate)))


def test_atomcheck_rejects_non_xml_and_non_feeds() -> None:
    assert atom_problems(b"<feed")[0].startswith("not well-formed XML")
    assert "expected atom:feed" in atom_problems(b"<feed/>")[0]  # no Atom namespace


@pytest.mark.skipif(not SCHEMA_AVAILABLE, reason=f"{ATOM_RNC} not found")
def test_atomcheck_schema_catches_what_rules_do_not() -> None:
    def mutate(root: etree._Element) -> None:
        etree.SubElement(first(root, f"{A}entry"), f"{A}colour").text = "red"

    problems = atom_problems(broken(mutate))
    assert problems and all(p.startswith("schema:") for p in problems)
