"""The `html` source kind: a web page that lists articles, read with the source's CSS selectors.

    select:
      item: "article.post"      one element per item (required)
      title: "h2 a"             its text (required)
      link: "h2 a@href"         an attribute after @ (required; resolved against the page's URL)
      date: "time@datetime"     optional; text or attribute, read by feeds/parse/pagedates.py
      summary: ".excerpt"       optional; HTML, sanitised by normalise as a feed's content is

Each item becomes a ParsedEntry whose guid is its link (the article's permalink), so the same
article on the next poll is the same item, and the chain after parse (normalise, tag, dedupe,
store) treats it as it treats a feed's entry. An item without a title or a link is left out
(a featured block the item selector also matches, say), with a warning.

A page whose layout changed is a ParseError naming the selector: the item selector matches
nothing, or a required field's selector matches in none of the items. The source then fails
as a broken feed does: logged, recorded, retried with backoff, and what it stored is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from feeds.errors import ParseError
from feeds.model import SourceSpec
from feeds.parse import ParsedEntry, ParsedFeed
from feeds.parse.pagedates import read_date
from feeds.parse.pages import Page, Selector, html_of, read_page, select_all, selector, text_of
from feeds.parse.xmlguard import MAX_ENTRIES

REQUIRED = ("item", "title", "link")
OPTIONAL = ("date", "summary")
FIELDS = REQUIRED + OPTIONAL


def check_select(select: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """The first problem with a source's selectors, as (field, message); None if they are usable."""
    given = dict(select)
    for field in given:
        if field not in FIELDS:
            return field, f"unknown field (known: {', '.join(FIELDS)})"
    for field in REQUIRED:
        if not (given.get(field) or "").strip():
            return field, "required: the CSS selector of " + _WHAT[field]
    for field, written in given.items():
        try:
            chosen = selector(written)
        except ValueError as exc:
            return field, f"{exc} ({written!r})"
        if field == "item" and chosen.attribute:
            return field, f"selects elements, not an attribute: {written!r}"
    return None


_WHAT = {"item": "each item's element", "title": "the title, inside an item",
         "link": "the link, inside an item (e.g. `h2 a@href`)"}


@dataclass(frozen=True, slots=True)
class _Fields:
    item: str
    title: Selector
    link: Selector
    date: Selector | None
    summary: Selector | None

    @classmethod
    def of(cls, spec: SourceSpec) -> _Fields:
        problem = check_select(spec.select)
        if problem is not None:  # the configuration checks this: a caller that did not is a bug
            raise ValueError(f"source {spec.id}: select.{problem[0]}: {problem[1]}")
        given = dict(spec.select)
        optional = {field: selector(given[field]) if given.get(field) else None for field in OPTIONAL}
        return cls(given["item"], selector(given["title"]), selector(given["link"]), **optional)


def parse_listing(body: bytes, headers: Mapping[str, str], url: str, spec: SourceSpec) -> ParsedFeed:
    """The page's items as a ParsedFeed; ParseError if its layout no longer fits the selectors."""
    fields = _Fields.of(spec)
    page = read_page(body, headers, url, spec.language)
    elements = select_all(page.root, fields.item)
    if not elements:
        raise ParseError(f"the item selector {fields.item!r} matches nothing on the page "
                         f"(has its layout changed?) from {url}")
    warnings: list[str] = []
    if len(elements) > MAX_ENTRIES:
        warnings.append(f"kept the first {MAX_ENTRIES} of {len(elements)} items")
        elements = elements[:MAX_ENTRIES]
    language = spec.language or page.language
    read = [_read(element, fields, page, language) for element in elements]
    for name, written in (("title", fields.title), ("link", fields.link)):
        if all(getattr(entry, name) is None for entry in read):
            raise ParseError(f"the {name} selector {written.written!r} matches nothing in any of the "
                             f"{len(read)} items of {fields.item!r} (has the page's layout changed?) "
                             f"from {url}")
    entries = tuple(entry for entry in read if entry.title is not None and entry.link is not None)
    if len(entries) < len(read):
        warnings.append(f"{len(read) - len(entries)} of {len(read)} items have no title "
                        f"({fields.title.written!r}) or no link ({fields.link.written!r}): left out")
    return ParsedFeed(url=url, version="html", title=page.title, link=url, language=page.language,
                      encoding=page.encoding, entries=entries, warnings=tuple(warnings),
                      encoding_note=page.encoding_note)


def _read(element: etree._Element, fields: _Fields, page: Page, language: str | None) -> ParsedEntry:
    link = page.absolute(text_of(element, fields.link))
    written_date = text_of(element, fields.date) if fields.date else None
    published = read_date(written_date, language) if written_date else None
    return ParsedEntry(
        guid=link, link=link, title=text_of(element, fields.title), title_is_html=False,
        summary=html_of(element, fields.summary) if fields.summary else None, content=None,
        published=published, updated=None, authors=(), categories=(), language=None, base=page.base,
        unread_dates=(f"published={written_date!r}",) if written_date and published is None else (),
    )
