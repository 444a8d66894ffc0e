"""Web pages as documents: an HTML body parsed with lxml, and CSS selectors applied to it.

The parse stage's reader for the source kinds that are pages, not feeds (`html`,
feeds/parse/listing.py; `telegram`, feeds/parse/telegram.py), and for finding a site's feeds
(feeds/probe.py). The only module that imports cssselect: a selector is translated to XPath
once (cached) and evaluated by lxml.

A field selector is CSS, optionally followed by `@attribute`: `h2 a` is the text of the first
`h2 a`, `h2 a@href` its `href`, `@datetime` the attribute of the element itself. Selectors are
scoped as `element.querySelector` scopes them: a field's selector matches descendants of the
item, never the item itself.

Untrusted input: lxml's HTML parser loads no DTD, resolves no entity and reaches no network;
the body is bounded by the fetch's size limit. Text and markup taken from a page are raw:
normalise sanitises them as it sanitises a feed's (feeds/parse/sanitize.py).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import cssselect
from lxml import etree
from lxml import html as lxml_html

from feeds.errors import ParseError
from feeds.parse.charsets import decode_page
from feeds.parse.languages import is_language_tag

_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")
_ATTRIBUTE = re.compile(r"[A-Za-z_:][\w:.-]*")
_TRANSLATOR = cssselect.HTMLTranslator()
_HTML_PARSER = lxml_html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True,
                                    default_doctype=False)


@dataclass(frozen=True, slots=True)
class Page:
    """A parsed page: its root element and what it says of itself."""

    root: lxml_html.HtmlElement
    url: str  # where it came from (after redirects)
    base: str  # what relative links resolve against: its <base href>, else `url`
    encoding: str
    encoding_note: str | None  # charsets.Decoded.note: the declaration was not followed
    language: str | None  # <html lang>, when it is a language tag
    title: str | None  # <title>

    def absolute(self, link: str | None) -> str | None:
        """`link` resolved against the page's base, if that makes an http(s) URL."""
        return absolute(link, self.base)


def read_page(body: bytes, headers: Mapping[str, str], url: str, language: str | None = None) -> Page:
    """Parse a fetched page; ParseError if there is nothing to parse. `language` (the source's)
    only helps guess an undeclared legacy encoding."""
    if not body.strip():
        raise ParseError(f"empty body ({len(body)} bytes) from {url}")
    lowered = {name.lower(): value for name, value in headers.items()}
    decoded = decode_page(body, lowered.get("content-type", ""), language)
    try:
        root = lxml_html.document_fromstring(_XML_DECLARATION.sub("", decoded.text, count=1), _HTML_PARSER)
    except (etree.ParserError, ValueError) as exc:  # ParserError: "Document is empty"
        raise ParseError(f"not an HTML page ({exc}) from {url}") from None
    base = absolute(_first_attribute(root, "//head/base[@href]", "href"), url) or url
    lang = root.get("lang") or root.get("xml:lang")
    title = root.find(".//title")
    return Page(root, url, base, decoded.encoding, decoded.note,
                lang.strip() if lang and is_language_tag(lang.strip()) else None,
                _collapse(title.text_content()) if title is not None else None)


def absolute(link: str | None, base: str) -> str | None:
    """`link` resolved against `base`, if that makes an http(s) URL; else None."""
    link = (link or "").strip()
    if not link:
        return None
    try:
        joined = urljoin(base, link)
        parts = urlsplit(joined)
    except ValueError:
        return None
    return joined if parts.scheme in ("http", "https") and parts.hostname else None


@dataclass(frozen=True, slots=True)
class Selector:
    """A field selector: CSS (empty: the element itself) and the attribute to read, if any."""

    written: str
    css: str
    attribute: str | None


@functools.lru_cache(maxsize=1024)
def selector(written: str) -> Selector:
    """A field selector as the configuration writes it; ValueError says what is wrong with it."""
    css, attribute = written.strip(), None
    head, at, tail = css.rpartition("@")
    if at and _ATTRIBUTE.fullmatch(tail.strip()) and "[" not in tail:
        css, attribute = head.strip(), tail.strip()
    if not css and attribute is None:
        raise ValueError("an empty selector")
    if css:
        _xpath(css, "descendant::")  # raises ValueError
    return Selector(written, css, attribute)


@functools.lru_cache(maxsize=1024)
def _xpath(css: str, prefix: str) -> str:
    try:
        return _TRANSLATOR.css_to_xpath(css, prefix=prefix)
    except cssselect.SelectorError as exc:
        hint = " (an attribute is written after @, as in `h2 a@href`)" if "::" in css else ""
        raise ValueError(f"not a CSS selector lxml can use: {exc}{hint}") from None


def select_all(root: etree._Element, css: str) -> list[lxml_html.HtmlElement]:
    """Every element `css` matches in `root`'s document or subtree, root included."""
    found = root.xpath(_xpath(css, "descendant-or-self::"))
    return [element for element in found if isinstance(element, etree.ElementBase)]


def matches(element: etree._Element, field: Selector) -> list[etree._Element]:
    """The elements a field selector picks inside `element` (the element itself for `@attr`)."""
    if not field.css:
        return [element]
    found = element.xpath(_xpath(field.css, "descendant::"))
    return [match for match in found if isinstance(match, etree.ElementBase)]


def text_of(element: etree._Element, field: Selector) -> str | None:
    """The field's text in `element`: the first match's attribute or text, whitespace collapsed;
    None if nothing matches or it is blank."""
    for match in matches(element, field):
        value = match.get(field.attribute) if field.attribute else match.text_content()
        if value and value.strip():
            return _collapse(value)
    return None


def html_of(element: etree._Element, field: Selector) -> str | None:
    """The field's markup in `element`: the first match's inner HTML (an attribute: its text, as
    HTML); None if nothing matches or it is blank. Raw: normalise sanitises it."""
    if field.attribute:
        text = text_of(element, field)
        return f"<p>{html.escape(text, quote=False)}</p>" if text else None
    for match in matches(element, field):
        markup = inner_html(match)
        if markup.strip():
            return markup
    return None


def inner_html(element: etree._Element) -> str:
    """An element's content as HTML: its text and its children (with their tails)."""
    return html.escape(element.text or "", quote=False) + "".join(
        etree.tostring(child, encoding="unicode", method="html") for child in element)


def has_class(element: etree._Element, name: str) -> bool:
    return name in (element.get("class") or "").split()


def _first_attribute(root: etree._Element, xpath: str, name: str) -> str | None:
    found = root.xpath(xpath)
    return found[0].get(name) if found else None


def _collapse(text: str) -> str:
    return " ".join(text.split())
