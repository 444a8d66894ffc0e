"""Parse stage, fast path: well-formed RSS 2.0 and Atom 1.0 read with lxml, answering as feedparser would.

feedparser stays the reference parser. It runs ~60x slower than lxml, so for
the documents this module is sure of, it builds the same loose dictionaries
feedparser builds (only the keys `parse._convert` reads) and `parse` converts
them with the one converter both paths share. For anything else it raises
`Unsupported` with the reason, and `parse` runs feedparser: broken XML, a
DOCTYPE (and so any entity), an unknown root or RSS version, an unknown
namespace, element or attribute (Media RSS other than empty media:content
and media:thumbnail, xml:base below an entry, or `base` and `lang`, which
feedparser reads as xml:base and xml:lang, on an element whose attributes
matter), XHTML or base64 or out-of-line content, markup inside a text
element, repeated titles or bodies, an empty author after another, anything
an `<image>` does not usually hold. tests/test_fastparse.py proves both
paths give the same result on every fixture feed, the bench corpus and
generated feeds, and that each of these declines.

Where feedparser's behaviour is a rule rather than XML, the fast path calls
feedparser's own helper, so the two cannot drift apart: the date parser, the
URL join and safe-base check (feeds/parse/feedrules.py, with two shortcuts the
tests compare with the helpers they skip), the RSS "is this plain text
really HTML?" guess, the windows-1252 map. xml:base on the root or an entry
moves the base as feedparser's start tag does. The rules it re-states are feedparser's
element semantics (`feedparser/namespaces/_base.py`, `mixin.py`): a
permalink guid or an Atom id is the link until a link element says
otherwise, the last date element wins, RSS category text fills the term of a
category without one, an entry link's `&amp;` is undone. One answer
differs from feedparser's on purpose: an entry's id is what feedparser gives
without the document's URL (joined to the document's own xml:base only), and
`parse` has feedparser give the same, so that ids do not follow the feed's URL.

Safety: the text comes cleaned by `xmlguard.clean`, and only when
`xmlguard.scan_needed` proved the guard's scan would change nothing (no
DOCTYPE, so no entity; bounded elements and entries); the tree must be no
deeper than xmlguard.MAX_DEPTH, which completes that proof. lxml runs with
entities left unresolved, no DTD loading, no network and `huge_tree` off.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, ClassVar

from lxml import etree

from feeds.parse.feedrules import (
    add_tag,
    content_type_name,
    looks_like_html,
    next_base,
    parse_date,
    person_of,
    repair,
    resolve,
    safe_absolute,
)
from feeds.parse.urls import is_plain_absolute
from feeds.parse.xmlguard import MAX_DEPTH

Loose = dict[str, Any]  # one of feedparser's dictionaries: the feed, or an entry

ATOM = "http://www.w3.org/2005/Atom"
XML_NS = "{http://www.w3.org/XML/1998/namespace}"
XML_LANG = XML_NS + "lang"
XML_BASE = XML_NS + "base"
# Namespaces understood here -> feedparser's prefix for them (Atom's elements are unprefixed, as RSS's).
NAMESPACES = {
    "": "", ATOM.lower(): "", "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/rss/1.0/modules/content/": "content", "http://wellformedweb.org/commentapi/": "wfw",
    "http://purl.org/rss/1.0/modules/slash/": "slash", "http://purl.org/rss/1.0/modules/syndication/": "sy",
    "http://search.yahoo.com/mrss/": "media", "http://search.yahoo.com/mrss": "media",
}
# Elements whose feedparser handling touches nothing parse reads (besides the ones handled below).
FEED_IGNORED = frozenset({
    ("", "description"), ("", "subtitle"), ("", "updated"), ("", "lastbuilddate"), ("", "pubdate"),
    ("", "generator"), ("", "ttl"), ("", "docs"), ("", "copyright"), ("", "rights"), ("", "category"),
    ("", "icon"), ("", "logo"), ("", "managingeditor"), ("", "webmaster"), ("", "author"),
    ("sy", "updateperiod"), ("sy", "updatefrequency"), ("sy", "updatebase"),
})
ENTRY_IGNORED = frozenset({
    ("", "comments"), ("", "rights"), ("wfw", "commentrss"), ("wfw", "comment"),
    ("slash", "comments"),
})
# Media RSS images and attachments (WordPress, news CMSs): feedparser files their attributes under
# keys parse does not read. Only when empty: a media:title or media:description inside one would
# set the entry's title or summary, and every other media: element declines.
MEDIA_IGNORED = frozenset({("media", "content"), ("media", "thumbnail")})
IMAGE_CHILDREN = frozenset({"title", "url", "link", "width", "height", "description"})
# Attributes each element may carry here (any other declines). xml:base only on the root (Drupal
# puts the site's URL there) and on entries: feedparser's base at each element is then known.
_ROOT_ATTRS = frozenset({"version", "xml:lang", "xml:base"})
_LANG_ONLY = frozenset({"xml:lang"})
_SCOPE_ATTRS = frozenset({"xml:lang", "xml:base"})
_CONSTRUCT_ATTRS = frozenset({"type", "xml:lang"})
_LINK_ATTRS = frozenset({"rel", "type", "href", "hreflang", "title", "length", "xml:lang"})
_GUID_ATTRS = frozenset({"ispermalink"})
_CATEGORY_ATTRS = frozenset({"term", "scheme", "domain", "label", "xml:lang"})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain", "text/html"})
_ENTITY_LIKE = re.compile("&([A-Za-z0-9_]+);")  # feedparser undoes these in links (query strings)
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")
_RSS10 = "http://purl.org/rss/1.0/"
# Is there an element MAX_DEPTH + 1 levels down? (A string, compiled per call: XPath objects and threads.)
_TOO_DEEP = "boolean(" + "/*" * (MAX_DEPTH + 1) + ")"


class Unsupported(Exception):
    """The fast path is not sure of this document; feedparser parses it."""


def parse(text: str, url: str) -> tuple[str, Loose, list[Loose]]:
    """(version, feed, entries) as feedparser would give them for `text` fetched from `url`."""
    base = url
    if not is_plain_absolute(url):  # otherwise feedparser's safe base is the URL itself
        base = safe_absolute(url, url) or url
        if safe_absolute(base, base) != base:
            raise Unsupported(f"a base URL feedparser would rewrite: {url!r}")
    root = _tree(text)
    if root.tag == "rss":
        return "rss20", *_Walk(base, "rss20").rss(root)
    if root.tag == f"{{{ATOM}}}feed":
        if any(uri.lower() == _RSS10 for uri in root.nsmap.values()):
            raise Unsupported("the RSS 1.0 namespace on an Atom root")
        return "atom10", *_Walk(base, "atom10").atom(root)
    raise Unsupported(f"root element {root.tag!r}")


def _tree(text: str) -> Any:
    # A parser per call: lxml parsers are not shared between threads.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    body = _XML_DECLARATION.sub("", text, count=1).encode("utf-8")
    try:
        root = etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise Unsupported(f"not well-formed XML ({exc})") from None
    if root.getroottree().docinfo.doctype:
        raise Unsupported("a DOCTYPE")
    if root.xpath(_TOO_DEEP):
        raise Unsupported(f"elements nested more than {MAX_DEPTH} deep")
    return root


@functools.lru_cache(maxsize=512)
def _key(tag: str) -> tuple[str, str]:
    """(feedparser's prefix, lower-case local name) of an element tag; Unsupported for other namespaces."""
    uri, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    prefix = NAMESPACES.get(uri.lower())
    if prefix is None:
        raise Unsupported(f"an element in namespace {uri!r}")
    return prefix, local.lower()


def _children(element: Any) -> list[tuple[tuple[str, str], Any]]:
    """Child elements with their keys; comments and processing instructions are skipped."""
    return [(_key(child.tag), child) for child in element if isinstance(child.tag, str)]


def _attrs(element: Any, allowed: frozenset[str]) -> dict[str, str]:
    """Attributes by lower-case name, as feedparser sees them; Unsupported if one is not `allowed`."""
    attrs: dict[str, str] = {}
    for name, value in element.items():
        name = "xml:" + name[len(XML_NS):] if name.startswith(XML_NS) else name.lower()
        if name not in allowed:
            raise Unsupported(f"attribute {name!r} on <{element.tag}>")
        attrs[name] = value.lower() if name in ("rel", "type") else value
    return attrs


def _text(element: Any) -> str:
    """The element's text, stripped, as feedparser's `pop` has it before its repairs."""
    if len(element):
        raise Unsupported(f"markup inside <{element.tag}>")
    return (element.text or "").strip()


def _empty(element: Any) -> None:
    """An element that must hold nothing (its attributes are all that is read)."""
    if len(element) or (element.text or "").strip():
        raise Unsupported(f"content inside <{element.tag}>")


def _content_type(value: str | None, default: str) -> str:
    """A text construct's type as feedparser maps it; Unsupported unless plain text or HTML."""
    mapped = default if value is None else content_type_name(value)
    if mapped not in TEXT_TYPES:
        raise Unsupported(f"content of type {value!r}")
    return mapped


class _Walk:
    """One document's walk; `base` is what feedparser's baseuri is at the element being read, and
    `id_base` what it would be without the document's URL (the base entry ids are joined to)."""

    def __init__(self, base: str, version: str) -> None:
        self.base = base
        self.id_base = self.feed_id_base = ""  # the latter: `id_base` at the feed's level
        self.version = version

    def resolve(self, uri: str) -> str:
        return resolve(self.base, uri) if uri else uri

    def scope(self, element: Any) -> str:
        """Take the element's xml:base, as feedparser's start tag does (joined to the base if the
        result is safe, else ignored); returns the base to put back when the element ends."""
        outer, value = self.base, element.get(XML_BASE)
        if value:
            if not self.base:  # feedparser would then keep an entry's base after it ends
                raise Unsupported("xml:base without a document URL")
            self.base = safe_absolute(self.base, value) or self.base
            self.id_base = next_base(self.id_base, value)
            if (safe_absolute(self.base, self.base) != self.base  # every child would rewrite it
                    or next_base(self.id_base, None) != self.id_base):
                raise Unsupported(f"an xml:base feedparser would rewrite: {value!r}")
        return outer

    def unscope(self, outer: str) -> None:
        """Put back the bases at an entry's end as feedparser's end tag does: the feed's, unless that
        is empty (then, without the document's URL, an entry's xml:base stays for those after it)."""
        self.base = outer
        self.id_base = self.feed_id_base or self.id_base

    # -- feed level ---------------------------------------------------------------------------------

    def rss(self, root: Any) -> tuple[Loose, list[Loose]]:
        attrs = _attrs(root, _ROOT_ATTRS)
        if not attrs.get("version", "").startswith("2."):
            raise Unsupported(f"RSS version {attrs.get('version')!r}")
        children = _children(root)
        if [key for key, _ in children] != [("", "channel")]:
            raise Unsupported("an RSS root without exactly one channel")
        feed: Loose = {}
        self.scope(root)
        self.feed_id_base = self.id_base
        lang = self.lang(root, None, feed)
        channel = children[0][1]
        _attrs(channel, _LANG_ONLY)
        return feed, self.channel(channel, self.lang(channel, lang), feed)

    def atom(self, root: Any) -> tuple[Loose, list[Loose]]:
        _attrs(root, _SCOPE_ATTRS)
        self.scope(root)
        self.feed_id_base = self.id_base
        feed: Loose = {}
        return feed, self.channel(root, self.lang(root, None, feed), feed)

    def lang(self, element: Any, inherited: str | None, feed: Loose | None = None) -> str | None:
        """xml:lang as feedparser tracks it: inherited, and "" unsets it; the root's is the feed's."""
        value = element.get(XML_LANG)
        lang = inherited if value is None else value or None
        if feed is not None and lang:
            feed["language"] = lang.replace("_", "-")
        return lang

    def channel(self, channel: Any, lang: str | None, feed: Loose) -> list[Loose]:
        entries = []
        seen: set[str] = set()
        for key, child in _children(channel):
            if key in (("", "item"), ("", "entry")):
                entries.append(self.entry(child, lang))
            elif key == ("", "title"):
                self.once(seen, "title")
                feed["title"] = self.construct(child, "text/plain")[0]
            elif key == ("", "link"):
                self.link(child, feed, entry=False)
            elif key in (("", "id"), ("", "guid")):
                link = self.guid(child)[1]  # feedparser: a permalink id is the link until one is given
                if link is not None:
                    feed.setdefault("link", link)
            elif key in (("", "language"), ("dc", "language")):
                feed["language"] = repair(_text(child))
            elif key == ("", "image"):
                self.image(child)
            elif key in MEDIA_IGNORED:
                _empty(child)
            elif key not in FEED_IGNORED:
                raise Unsupported(f"feed element {key}")
        return entries

    def image(self, image: Any) -> None:
        # Another child ends feedparser's "in image" state: the image's title and link become the feed's.
        if any(key not in {("", name) for name in IMAGE_CHILDREN} for key, _ in _children(image)):
            raise Unsupported("an <image> with unusual children")

    @staticmethod
    def once(seen: set[str], slot: str) -> None:
        if slot in seen:
            raise Unsupported(f"a repeated {slot}")
        seen.add(slot)

    # -- entries ------------------------------------------------------------------------------------

    def entry(self, item: Any, lang: str | None) -> Loose:
        _attrs(item, _SCOPE_ATTRS)
        outer = self.scope(item)
        lang = self.lang(item, lang)
        entry: Loose = {}
        seen: set[str] = set()
        for key, child in _children(item):
            handler = self.HANDLERS.get(key)
            if handler is not None:
                handler(self, child, entry, lang, seen)  # the entry's lang: text constructs add their own
            elif key in MEDIA_IGNORED:
                _empty(child)
            elif key not in ENTRY_IGNORED:
                raise Unsupported(f"entry element {key}")
        self.unscope(outer)
        return entry

    def title(self, element: Any, entry: Loose, lang: str | None, seen: set[str]) -> None:
        self.once(seen, "title")
        value, kind = self.construct(element, "text/plain")
        lang = self.lang(element, lang)
        entry["title"] = value
        entry["title_detail"] = {"type": kind, "language": lang, "base": self.base, "value": value}

    def summary(self, element: Any, entry: Loose, lang: str | None, seen: set[str], default: str) -> None:
        self.once(seen, "summary")  # a second one would be taken as content
        value, kind = self.construct(element, default)
        lang = self.lang(element, lang)
        entry["summary_detail"] = {"type": kind, "language": lang, "base": self.base, "value": value}

    def content(self, element: Any, entry: Loose, lang: str | None, seen: set[str], default: str) -> None:
        self.once(seen, "content")
        value, kind = self.construct(element, default)
        lang = self.lang(element, lang)
        entry["content"] = [{"type": kind, "language": lang, "base": self.base, "value": value}]

    def construct(self, element: Any, default: str) -> tuple[str, str]:
        """A text construct's value and content type; RSS plain text that looks like HTML is HTML."""
        attrs = _attrs(element, _CONSTRUCT_ATTRS)
        kind = _content_type(attrs.get("type"), default)
        value = _text(element)
        if self.version != "atom10" and kind == "text/plain" and looks_like_html(value):
            kind = "text/html"
        return repair(value), kind

    def link(self, element: Any, context: Loose, entry: bool = True) -> None:
        """An Atom link (href) sets the link if it is an HTML alternate; an RSS link's text always does."""
        attrs = _attrs(element, _LINK_ATTRS)
        if "href" not in attrs:
            if attrs.keys() - {"xml:lang"}:
                raise Unsupported("a link with attributes but no href")
            value = repair(self.resolve(_text(element)))
            context["link"] = _ENTITY_LIKE.sub(r"&\g<1>", value.replace("&amp;", "&") if entry else value)
            return
        if len(element):
            raise Unsupported("markup inside a link")
        rel = attrs.get("rel", "alternate")
        kind = attrs.get("type", "application/atom+xml" if rel == "self" else "text/html")
        if rel == "alternate" and content_type_name(kind) in HTML_TYPES:
            context["link"] = resolve(self.base, attrs["href"])
        elif rel == "enclosure":  # feedparser's own parsing of attachments: the fast path declines
            raise Unsupported("an enclosure")

    def guid(self, element: Any) -> tuple[str, str | None]:
        """(id, the link it stands for if it is a permalink): a permalink's id is joined to `id_base`
        (an item's id must not follow its feed's URL), its link to the base, as feedparser's."""
        attrs = _attrs(element, _GUID_ATTRS)
        raw = _text(element)
        if attrs.get("ispermalink", "true") != "true":
            return repair(raw), None
        return repair(resolve(self.id_base, raw) if raw else raw), repair(self.resolve(raw))

    def entry_guid(self, element: Any, entry: Loose, lang: str | None, seen: set[str]) -> None:
        self.once(seen, "id")
        value, link = self.guid(element)
        entry["id"] = value
        if link is not None:
            entry.setdefault("link", link)

    def entry_link(self, element: Any, entry: Loose, lang: str | None, seen: set[str]) -> None:
        self.link(element, entry)

    def author(self, element: Any, entry: Loose, lang: str | None, seen: set[str]) -> None:
        children = _children(element)
        authors = entry.setdefault("authors", [])
        person: Loose = {}
        if not children:
            person = person_of(repair(_text(element)))
        elif (element.text or "").strip() or any((c.tail or "").strip() for _, c in children):
            raise Unsupported("text beside an author's elements")
        for key, child in children:
            if key in (("", "name"), ("", "email")):
                person[key[1]] = _text(child)  # no repairs: feedparser does not expect text here
            elif key not in (("", "uri"), ("", "url"), ("", "homepage")):
                raise Unsupported(f"author element {key}")
        if authors and not any(person.values()):  # feedparser re-reads the author before it
            raise Unsupported("an empty author after another")
        authors.append(person)

    def category(self, element: Any, entry: Loose, lang: str | None, seen: set[str]) -> None:
        attrs = _attrs(element, _CATEGORY_ATTRS)
        tags = entry.setdefault("tags", [])
        add_tag(tags, attrs.get("term"), attrs.get("scheme", attrs.get("domain")), attrs.get("label"))
        value = repair(_text(element))
        if value and tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        elif value:
            add_tag(tags, value, None, None)

    def description(self, element: Any, entry: Loose, lang: str | None, seen: set[str]) -> None:
        self.summary(element, entry, lang, seen, "text/html")

    def plain_summary(self, element: Any, entry: Loose, lang: str | None, seen: set[str]) -> None:
        self.summary(element, entry, lang, seen, "text/plain")

    def encoded(self, element: Any, entry: Loose, lang: str | None, seen: set[str]) -> None:
        self.content(element, entry, lang, seen, "text/html")

    def published(self, element: Any, entry: Loose, lang: str | None, seen: set[str]) -> None:
        written = repair(_text(element))
        entry["published"], entry["published_parsed"] = written, parse_date(written)  # the last one wins

    def updated(self, element: Any, entry: Loose, lang: str | None, seen: set[str]) -> None:
        written = repair(_text(element))
        entry["updated"], entry["updated_parsed"] = written, parse_date(written)

    def content_element(self, element: Any, entry: Loose, lang: str | None, seen: set[str]) -> None:
        if element.get("src") is not None or element.get("mode") is not None:
            raise Unsupported("out-of-line or encoded content")
        self.content(element, entry, lang, seen, "text/plain")

    HANDLERS: ClassVar[dict[tuple[str, str], Callable[..., None]]] = {
        ("", "title"): title, ("", "link"): entry_link, ("", "guid"): entry_guid, ("", "id"): entry_guid,
        ("", "description"): description, ("", "summary"): plain_summary,
        ("content", "encoded"): encoded, ("", "content"): content_element,
        ("", "pubdate"): published, ("", "published"): published, ("", "issued"): published,
        ("", "updated"): updated, ("", "modified"): updated, ("dc", "date"): updated,
        ("", "author"): author, ("dc", "creator"): author, ("dc", "author"): author,
        ("", "category"): category, ("dc", "subject"): category,
    }
