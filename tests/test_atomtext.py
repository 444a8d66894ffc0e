"""feeds.publish.atomtext: the publish path's Atom writer gives feedgen's bytes (render.render_atom) for
the same input, so swapping the writer changes no published feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.errors import PublishError
from feeds.model import FeedSpec, Item, SiteInfo, SourceRef, item_id
from feeds.publish import atomtext
from feeds.publish.archive import Document, chain
from feeds.publish.entryparts import Labels, newest_first
from feeds.publish.render import render_atom
from tests.atomcheck import assert_valid_atom

LABELS = Labels(parties={"kke": "Communist Party of Greece", "tkp": "TKP & <friends>"},
                topics={"strikes": "Strikes \"now\"", "odd": "\x01"})
# Text that needs escaping, text XML cannot carry (entryparts.clean_text drops it), non-BMP, blanks.
TEXT = st.text(alphabet=st.sampled_from(list("aZ &<>\"'\r\n\t\x00\x0b\ud800é€😀-")), max_size=12)
LINK = st.sampled_from([None, "https://a.example/x?a=1&b=<2>", "https://b.example/\"q\"", "mailto:x@y"])
CODE = st.sampled_from(["kke", "tkp", "pcch"])
TIME = st.integers(min_value=0, max_value=5).map(lambda h: datetime(2020, 1, 1, tzinfo=UTC)
                                                 + timedelta(hours=h, microseconds=h * 7))


@st.composite
def items(draw: st.DrawFn) -> Item:
    sources = draw(st.lists(st.builds(SourceRef, source_id=st.sampled_from(["s1", "s2 &"]), title=TEXT,
                                      link=LINK, party=st.none() | CODE, site=LINK), max_size=3))
    return Item(id=item_id(draw(st.text(max_size=6))), title=draw(TEXT), link=draw(LINK),
                summary=draw(TEXT), content=draw(TEXT), published=draw(TIME), updated=draw(TIME),
                language=draw(st.sampled_from([None, "el", "es-AR", "not a tag", ""])),
                authors=tuple(draw(st.lists(TEXT, max_size=2))), sources=tuple(sources),
                parties=tuple(draw(st.lists(CODE, max_size=2))),
                topics=tuple(draw(st.lists(st.sampled_from(["strikes", "odd"]), max_size=2))),
                categories=tuple(draw(st.lists(TEXT, max_size=2))))


FIRST_PUBLISHED = datetime(2024, 2, 29, 23, 59, 58, tzinfo=UTC)  # an empty document's `updated`
SPECS = [FeedSpec("party/kke.atom", "party", "kke", "KKE", "News of the KKE", website="https://www.kke.gr/"),
         FeedSpec("topic/strikes.atom", "topic", "strikes", " ", ""),
         FeedSpec("all.atom", "all", None, "All & <everything>", " \r\n ")]
SITES = [SiteInfo(title="t", base_url="https://feeds.example.org/", author_name="partyfeeds"),
         SiteInfo(title="t", base_url="https://feeds.example.org/p&q/", author_name="Ed <ed>",
                  author_uri="https://feeds.example.org/about", author_email="ed@example.org",
                  hub_url="https://hub.example.org/")]


def _document(spec: FeedSpec, given_items: list[Item], site: SiteInfo, doc: Document,
              icon: str | None) -> bytes:
    ordered = newest_first(given_items)
    entries = [atomtext.entry(item, site, LABELS) for item in ordered]
    updated = ordered[0].updated if ordered else FIRST_PUBLISHED
    return atomtext.document(spec, site, LABELS, doc, entries, updated.isoformat(), icon=icon)


@settings(max_examples=300)
@given(st.lists(items(), max_size=4, unique_by=lambda item: item.id), st.sampled_from(SPECS),
       st.sampled_from(SITES), st.sampled_from(chain("party/kke.atom", 9, 3, 2)),
       st.sampled_from([None, "https://x.example/icon.png?a&b"]))
def test_the_same_bytes_as_feedgen(given_items: list[Item], spec: FeedSpec, site: SiteInfo, doc: Document,
                                   icon: str | None) -> None:
    expected = render_atom(spec, given_items, site, LABELS, doc=doc, icon=icon,
                           updated_if_empty=FIRST_PUBLISHED)
    assert _document(spec, given_items, site, doc, icon) == expected


def test_documents_validate() -> None:
    item = Item(id=item_id("v"), title="A & B", link="https://www.kke.gr/1", summary="<p>s</p>", content="",
                published=datetime(2020, 1, 1, tzinfo=UTC), updated=datetime(2020, 1, 2, tzinfo=UTC),
                language="el", sources=(SourceRef("kke", "KKE", "https://www.kke.gr/1", "kke"),),
                parties=("kke",), topics=("strikes",))
    for doc in chain("party/kke.atom", 7, 3, 2):
        assert_valid_atom(_document(SPECS[0], [item], SITES[1], doc, None))


def test_a_link_xml_cannot_carry_is_refused_as_feedgen_refuses_it() -> None:
    item = Item(id=item_id("bad"), title="t", link="https://x.example/\x01", summary="", content="",
                published=datetime(2020, 1, 1, tzinfo=UTC), updated=datetime(2020, 1, 1, tzinfo=UTC))
    doc = chain("all.atom", 1, 3, 2)[0]
    with pytest.raises(PublishError):
        render_atom(SPECS[2], [item], SITES[0], LABELS, doc=doc)
    with pytest.raises(PublishError):
        _document(SPECS[2], [item], SITES[0], doc, None)
