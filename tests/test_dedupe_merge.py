from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from feeds.dedupe.merge import merge, merge_sources, primary_source
from feeds.model import SourceRef
from tests.factories import T0, make_item


def test_same_item_again_changes_nothing() -> None:
    item = make_item("KKE statement", parties=("kke",))
    later = replace(item, updated=T0 + timedelta(days=1), published=T0 + timedelta(days=1))
    assert merge(item, later, revised=False) == item


def test_revision_marker_moves_updated_only() -> None:
    item = make_item("KKE statement", parties=("kke",))
    later = replace(item, updated=T0 + timedelta(days=1), published=T0 + timedelta(days=1))
    merged = merge(item, later, revised=True)
    assert merged.updated == T0 + timedelta(days=1) and merged.published == T0


def test_second_source_is_credited_and_party_link_wins() -> None:
    agency = make_item("KKE condemns decision", source="agency", link="https://agency.example/1",
                       parties=("kke",), topics=("palestine",))
    own = make_item("KKE condemns the decision", source="kke-inter", link="https://inter.kke.gr/1",
                    party="kke", parties=("kke",), topics=("solidarity_action",),
                    updated=T0 + timedelta(hours=2))
    merged = merge(agency, own, revised=False)
    assert [s.source_id for s in merged.sources] == ["agency", "kke-inter"]
    assert merged.link == "https://inter.kke.gr/1" and merged.title == "KKE condemns the decision"
    assert merged.topics == ("palestine", "solidarity_action")
    assert merged.id == agency.id and merged.updated == T0 + timedelta(hours=2)
    # Merging the same copy again is a no-op.
    assert merge(merged, own, revised=False) == merged


def test_merge_sources_keeps_order_and_replaces_copies() -> None:
    a, b = SourceRef("a", "A", "https://a/1"), SourceRef("b", "B", "https://b/1")
    a2 = SourceRef("a", "A", "https://a/2")
    assert merge_sources((a, b), (a2,)) == (a2, b)
    assert primary_source((a, b), ()) == a
    own = SourceRef("c", "C", "https://c/1", party="kke")
    assert primary_source((a, own), ("kke",)) == own


def test_a_renamed_source_is_taken_in_without_moving_updated() -> None:
    item = make_item("KKE statement", link="https://agency.example/1", parties=("kke",))
    source = replace(item.sources[0], title="Agency (configured)", site="https://agency.example/")
    refetched = replace(item, sources=(source,), updated=T0 + timedelta(days=1))
    merged = merge(item, refetched, revised=False)
    assert merged.sources == (source,) and merged.updated == item.updated
    # A new link to the story is a change a reader sees.
    moved = replace(refetched, link="https://agency.example/2",
                    sources=(replace(source, link="https://agency.example/2"),))
    assert merge(item, moved, revised=False).updated == T0 + timedelta(days=1)
