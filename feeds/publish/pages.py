"""The pages beside the feeds: `feeds.opml` (OPML 2.0) and `index.html`.

Both list every feed, grouped (all, selections, parties, topics, countries,
languages) and sorted by title, so the same plan gives the same bytes. Every feed
is offered as Atom and as its JSON Feed twin: in OPML the twin rides on the Atom
outline as `partyfeeds:jsonFeedUrl` (one outline per feed, so importing the list
subscribes once). The HTML page is plain HTML5: no JavaScript, autodiscovery
`<link rel="alternate">` elements for both formats, every text escaped. Headlines
only become links when they point to http(s): a hostile `javascript:` link from
a source stays text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from lxml import etree

from feeds.model import FeedSpec, Item, SiteInfo
from feeds.publish.archive import json_twin
from feeds.publish.entryparts import ATOM_TYPE, JSON_FEED_TYPE, clean_text, feed_url, newest_first

OPML_PATH = "feeds.opml"
INDEX_PATH = "index.html"
LATEST_PER_FEED = 5
GROUPS = (("all", "All news"), ("composed", "Selections"), ("party", "Parties"), ("topic", "Topics"),
          ("country", "Countries"), ("language", "Languages"))
OPML_NS = "https://github.com/partyfeeds/partyfeeds/ns/opml"


@dataclass(frozen=True, slots=True)
class FeedSummary:
    """What the index shows about one feed."""

    spec: FeedSpec
    item_count: int
    updated: datetime | None
    latest: tuple[tuple[str, str | None], ...] = ()  # (title, link), newest first, up to 5

    @classmethod
    def from_items(cls, spec: FeedSpec, items: Iterable[Item], item_count: int) -> FeedSummary:
        """The summary of a feed holding `items`, in the order and with the date render_atom uses."""
        ordered = newest_first(items)
        updated = ordered[0].updated if ordered else None
        return cls(spec, item_count, updated, tuple((i.title, i.link) for i in ordered[:LATEST_PER_FEED]))


def grouped(specs: Iterable[FeedSpec]) -> list[tuple[str, list[FeedSpec]]]:
    """(group heading, feeds sorted by title) for each non-empty group; unknown kinds last."""
    specs = list(specs)
    known = {kind for kind, _ in GROUPS}
    groups = [*GROUPS, ("other", "Other feeds")]
    result = []
    for kind, heading in groups:
        members = [s for s in specs if s.kind == kind or (kind == "other" and s.kind not in known)]
        if members:
            result.append((heading, sorted(members, key=lambda s: (s.title.casefold(), s.path))))
    return result


# --- OPML ---------------------------------------------------------------------------------


def render_opml(feeds: Sequence[FeedSpec], site: SiteInfo) -> bytes:
    """An OPML 2.0 subscription list of `feeds`, one outline per feed, absolute xmlUrl."""
    opml = etree.Element("opml", version="2.0", nsmap={"partyfeeds": OPML_NS})
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = clean_text(site.title)
    etree.SubElement(head, "ownerName").text = clean_text(site.author_name)
    if site.author_uri:
        etree.SubElement(head, "ownerId").text = site.author_uri
    etree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = etree.SubElement(opml, "body")
    for heading, specs in grouped(feeds):
        group = etree.SubElement(body, "outline", text=heading, title=heading)
        for spec in specs:
            etree.SubElement(group, "outline", _outline_attributes(spec, site))
    etree.indent(opml)
    return etree.tostring(opml, encoding="UTF-8", xml_declaration=True) + b"\n"


def _outline_attributes(spec: FeedSpec, site: SiteInfo) -> dict[str, str]:
    # type="rss" is what OPML 2.0 prescribes for any subscription, Atom included.
    title = clean_text(spec.title)
    attributes = {"type": "rss", "text": title, "title": title, "xmlUrl": feed_url(site, spec.path)}
    attributes["htmlUrl"] = spec.website if spec.kind == "party" and spec.website else site.base_url
    if spec.subtitle:
        attributes["description"] = clean_text(spec.subtitle)
    attributes[f"{{{OPML_NS}}}jsonFeedUrl"] = feed_url(site, json_twin(spec.path))
    return attributes


# --- HTML ---------------------------------------------------------------------------------


def render_index(summaries: Sequence[FeedSummary], site: SiteInfo, *, lang: str = "en") -> bytes:
    """The HTML5 index page: for each feed its title, item count, last update, headlines, subscribe link."""
    by_path = {summary.spec.path: summary for summary in summaries}
    groups = grouped(summary.spec for summary in summaries)
    lines = [*_head(groups, site, lang), "<body>", *_intro(site, len(summaries), groups), "<main>"]
    for heading, specs in groups:
        lines += [f'<section id="{_group_anchor(heading)}"><h2>{_esc(heading)}</h2>']
        for spec in specs:
            lines += _feed_section(by_path[spec.path], site)
        lines += ["</section>"]
    lines += ["</main>", "</body>", "</html>", ""]
    return "\n".join(lines).encode("utf-8")


def _esc(text: str | None) -> str:
    """Text escaped for HTML content and double-quoted attributes."""
    return html.escape(clean_text(text), quote=True)


def _head(groups: list[tuple[str, list[FeedSpec]]], site: SiteInfo, lang: str) -> list[str]:
    lines = [
        "<!DOCTYPE html>",
        f'<html lang="{_esc(lang)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(site.title)}</title>",
    ]
    for _, specs in groups:
        for spec in specs:
            lines += [
                f'<link rel="alternate" type="{ATOM_TYPE}" title="{_esc(spec.title)}"'
                f' href="{_esc(feed_url(site, spec.path))}">',
                f'<link rel="alternate" type="{JSON_FEED_TYPE}" title="{_esc(spec.title)} (JSON Feed)"'
                f' href="{_esc(feed_url(site, json_twin(spec.path)))}">',
            ]
    opml = _esc(feed_url(site, OPML_PATH))
    lines.append(f'<link rel="alternate" type="text/x-opml" title="All feeds (OPML)" href="{opml}">')
    lines.append(f"<style>{_STYLE}</style>")
    return [*lines, "</head>"]


# Readable without it; a narrow column and visible focus for keyboard users.
_STYLE = ("body{font-family:system-ui,sans-serif;line-height:1.5;max-width:48rem;margin:0 auto;"
          "padding:0 1rem}article{border-top:1px solid #ccc;padding:.5rem 0}"
          "a:focus{outline:2px solid #000}.subscribe a{margin-right:1rem}")


def _intro(site: SiteInfo, count: int, groups: list[tuple[str, list[FeedSpec]]]) -> list[str]:
    feeds = "1 feed" if count == 1 else f"{count} feeds"
    contents = "".join(f'<li><a href="#{_group_anchor(heading)}">{_esc(heading)}</a></li>'
                       for heading, _ in groups)
    return [
        f"<header><h1>{_esc(site.title)}</h1>",
        f"<p>{feeds}, each as Atom and as JSON Feed. Subscribe to any of them in a feed reader, or"
        f' import <a href="{_esc(feed_url(site, OPML_PATH))}" type="text/x-opml">all of them as OPML</a>.'
        " Older entries stay reachable: every feed links to its archive pages (RFC 5005).</p>",
        f'<nav aria-label="Feed groups"><ul>{contents}</ul></nav></header>',
    ]


def _group_anchor(heading: str) -> str:
    return "group-" + heading.lower().replace(" ", "-")


def _feed_section(summary: FeedSummary, site: SiteInfo) -> list[str]:
    spec = summary.spec
    anchor = "feed-" + "".join(ch if ch.isalnum() else "-" for ch in spec.path)
    url = _esc(feed_url(site, spec.path))
    lines = [f'<article id="{_esc(anchor)}">', f"<h3>{_esc(spec.title)}</h3>"]
    if spec.subtitle:
        lines.append(f"<p>{_esc(spec.subtitle)}</p>")
    lines.append(f"<p>{_count(summary.item_count)}, {_when(summary.updated)}.</p>")
    lines += _headlines(summary.latest[:LATEST_PER_FEED])
    json_url = _esc(feed_url(site, json_twin(spec.path)))
    lines.append(f'<p class="subscribe">Subscribe to {_esc(spec.title)}:'
                 f' <a href="{url}" type="{ATOM_TYPE}">Atom</a>'
                 f' <a href="{json_url}" type="{JSON_FEED_TYPE}">JSON Feed</a></p>')
    return [*lines, "</article>"]


def _count(n: int) -> str:
    return "1 item" if n == 1 else f"{n} items"


def _when(updated: datetime | None) -> str:
    if updated is None:
        return "not updated yet"
    utc = updated.astimezone(UTC)
    return f'last updated <time datetime="{utc.isoformat()}">{utc:%Y-%m-%d %H:%M} UTC</time>'


def _headlines(latest: Sequence[tuple[str, str | None]]) -> list[str]:
    if not latest:
        return ["<p>No items yet.</p>"]
    lines = ["<ul>"]
    for title, link in latest:
        text = _esc(title.strip() or "(untitled)")
        # dir="auto": headlines come in any script, Arabic and Farsi included.
        item = f'<a href="{_esc(link)}">{text}</a>' if link and _is_web_link(link) else text
        lines.append(f'<li dir="auto">{item}</li>')
    return [*lines, "</ul>"]


def _is_web_link(link: str) -> bool:
    return urlsplit(link.strip()).scheme.lower() in {"http", "https"}
