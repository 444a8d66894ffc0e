"""Identity keys: the exact names under which an item is known (pure).

`id:<uuid>` is the item's own id (feeds.parse.normalise derives it from the source and the entry's
guid, else its canonical link, else a hash of its content). `link:<canonical URL>` is each of
its links: the same link from any source, with tracking parameters, another scheme or `www.`,
is the same item (a feed that changed its id scheme; a story an aggregator carries under the
party's own link). Two kinds of link identify nothing and are left out:

- a site's front page (no path, no query): feeds that link every entry to the home page;
- a link several entries of one fetch share (`shared_links`): they are different entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from feeds.model import Item
from feeds.parse.urls import cached_canonical_url as _canonical


def identity_keys(item: Item, shared_links: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Exact keys under which an item is known: its id and its identifying links."""
    links = {_canonical(link) for link in (item.link, *(s.link for s in item.sources)) if link}
    return (f"id:{item.id}", *sorted(f"link:{link}" for link in links
                                     if link not in shared_links and not is_front_page(link)))


def batch_keys(items: Sequence[Item]) -> list[tuple[str, ...]]:
    """`identity_keys` of a fetch's items: a link two of them share identifies neither."""
    shared = shared_links(items)
    return [identity_keys(item, shared) for item in items]


def shared_links(items: Iterable[Item]) -> frozenset[str]:
    """Canonical links that more than one of `items` carries as its own link."""
    seen: set[str] = set()
    shared: set[str] = set()
    for item in items:
        if item.link:
            link = _canonical(item.link)
            (shared if link in seen else seen).add(link)
    return frozenset(shared)


def is_front_page(canonical: str) -> bool:
    """A site's home page: a link to it says nothing about which entry it is."""
    parts = urlsplit(canonical)
    return parts.path in ("", "/") and not parts.query
