"""A batch's Lookup answers exactly as the store's own queries would, before and after saves."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from feeds import dedupe
from feeds.accept import accept_batch
from feeds.lookup import Lookup
from feeds.store import Store
from tests.factories import T0, make_item

WORDS = ["KKE", "TKP", "strike", "Athens", "Ankara", "workers", "condemns", "war", "NATO", "rally"]
PARTIES = [(), ("kke",), ("tkp",), ("kke", "tkp")]


def _titles(draw: st.DrawFn, count: int) -> list[str]:
    word_lists = st.lists(st.sampled_from(WORDS), min_size=2, max_size=6)
    return [" ".join(draw(word_lists)) for _ in range(count)]


@st.composite
def batches(draw: st.DrawFn) -> tuple[list, list]:
    """Stored items, then an incoming batch that repeats some of them and rewords others."""
    def link() -> str | None:
        return f"https://example.org/{draw(st.integers(0, 8))}" if draw(st.booleans()) else None

    def items(count: int, source: str) -> list:
        return [make_item(title, source=draw(st.sampled_from([source, "shared"])), link=link(),
                          parties=draw(st.sampled_from(PARTIES)),
                          language=draw(st.sampled_from(["en", "el"])),
                          updated=T0 + timedelta(hours=draw(st.integers(0, 5))))
                for title in _titles(draw, count)]
    return items(draw(st.integers(0, 12)), "stored"), items(draw(st.integers(1, 12)), "incoming")


@settings(max_examples=60, deadline=None)
@given(batches(), st.sampled_from([1, 2, 3, 50]))
def test_lookup_matches_the_store_queries_while_a_batch_is_saved(data: tuple[list, list],
                                                                  newest: int) -> None:
    """`newest` small: crowded bands are read only in part, and the answers must not change."""
    stored, incoming = data
    with Store(":memory:") as store, store.transaction():
        accept_batch(store, [(item, "") for item in stored], T0)
        keys = [dedupe.identity_keys(item) for item in incoming]
        bands = dedupe.title_bands([item.title for item in incoming])
        lookup = Lookup.read(store, keys, bands, newest)
        for item, item_keys, item_bands in zip(incoming, keys, bands, strict=True):
            assert lookup.find(item_keys) == store.find_by_keys(item_keys)
            assert lookup.candidates(item_bands) == store.candidate_facts(item_bands, limit=newest)
            # What accept does next: store the item (or its merge) and tell the lookup.
            saved = item if lookup.find(item_keys) is None else store.get(lookup.find(item_keys)).item
            all_keys = (*item_keys, *dedupe.identity_keys(saved))
            store.save(saved, keys=all_keys, bands=item_bands, revision="", first_seen=T0)
            lookup.saved(saved, all_keys, item_bands)


def test_a_batch_sees_its_own_earlier_items() -> None:
    title = "KKE condemns NATO war drills in the Aegean"
    first = make_item(title, source="a", parties=("kke",), language="en")
    copy = make_item(f"{title} sea", source="b", parties=("kke",), language="en")
    with Store(":memory:") as store, store.transaction():
        assert accept_batch(store, [(first, ""), (copy, "")], T0) == ["new", "merged"]
        assert store.count_items() == 1
