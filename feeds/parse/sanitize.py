"""HTML from other people's feeds, made safe to republish; HTML titles made plain text.

The only module that imports nh3. An allow-list, not a block-list: only the
tags and attributes nh3 allows by default survive (no script, style, iframe,
object, embed, form, meta, no `on*` attributes, no `style`), only http(s) and
mailto URLs are kept (no javascript: or data:), and relative URLs are made
absolute against the entry's base, since our feeds are read far from the
party's site. Elements whose content is code or widgets are dropped with
their content, not just unwrapped. Characters XML 1.0 forbids are removed
from the output, whichever way they were written.
"""

from __future__ import annotations

import functools
import html
import re
from urllib.parse import urlsplit

import nh3

DROP_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "object", "embed", "applet", "form", "noscript", "template", "svg",
     "math", "select", "textarea", "button", "frameset", "frame", "canvas", "audio", "video"}
)
TAGS = frozenset(nh3.ALLOWED_TAGS) - DROP_WITH_CONTENT
# `cite` is dropped: nh3 does not check its URL scheme, and readers do not show it anyway.
ATTRIBUTES = {tag: set(attrs) - {"cite"} for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()} | {
    "a": {"href", "hreflang", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "*": {"lang", "title"},  # on every tag (nh3's default, spelled out so the allow-list is all here)
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
# Characters XML 1.0 forbids: HTML character references such as &#1; decode to them.
FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_TEXT_PASSES = 3
# Cleaners by base URL: building one costs ~40 us and nh3.clean builds one per call (~6x a reuse).
_CLEANERS = 256
_HTML_ELEMENTS = "|".join(sorted(
    set(nh3.ALLOWED_TAGS) | DROP_WITH_CONTENT
    | {"html", "head", "body", "title", "meta", "link", "base", "img", "input", "isindex", "keygen",
       "marquee", "source", "track", "picture", "plaintext", "xmp", "listing", "noembed", "image", "animate",
       "set", "use", "foreignobject", "dialog", "slot", "portal", "frame"}, key=len, reverse=True))
_MARKUP = re.compile(rf"<(?:/?(?:{_HTML_ELEMENTS})(?![\w-])|!|\?)", re.IGNORECASE)
_ACTIVE_TAG = re.compile(r"<[A-Za-z][^>]*?\s(?:on\w+|style|href|src|action|formaction|xlink:href)\s*=",
                         re.IGNORECASE)
# Characters on which nh3's output of a text differs from the text: markup, escapes, what the HTML
# parser rewrites (CR, NUL, a byte-order mark).
_NOT_PLAIN = re.compile("[<>&\r\0\u00a0\ufeff]")
_HTML_LIKE = re.compile(r"<[A-Za-z/!]|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);")
# Tags after which plain text needs a space, so "a<br>b" does not become "ab".
_BREAKS = re.compile(r"<(?:br|/p|/div|/li|/h[1-6]|/td|/tr|hr)\b[^>]*>", re.IGNORECASE)


def sanitize_html(fragment: str, base_url: str | None) -> str:
    """`fragment` with only allow-listed markup, relative URLs resolved against `base_url`.

    Without an absolute http(s) base, relative URLs are dropped: they would
    point into our own site.
    """
    if not fragment.strip():
        return ""
    if not _NOT_PLAIN.search(fragment):  # no markup, nothing nh3 would escape or drop (tested)
        return FORBIDDEN_CHARS.sub("", fragment).strip()
    return FORBIDDEN_CHARS.sub("", _cleaner(base_url).clean(fragment)).strip()


@functools.lru_cache(maxsize=_CLEANERS)
def _cleaner(base_url: str | None) -> nh3.Cleaner:
    """The allow-list cleaner that resolves relative URLs against `base_url` if it is a web URL."""
    base = base_url if base_url and _is_web_url(base_url) else None
    return nh3.Cleaner(
        tags=set(TAGS), clean_content_tags=set(DROP_WITH_CONTENT), attributes=ATTRIBUTES,
        url_schemes=set(URL_SCHEMES), link_rel=LINK_REL, strip_comments=True,
        url_relative=("rewrite_with_base", base) if base else "deny",
    )


_TEXT_CLEANER = nh3.Cleaner(tags=set(), clean_content_tags=set(DROP_WITH_CONTENT), attributes={})


def html_to_text(fragment: str) -> str:
    """Plain text from an HTML fragment: tags gone, entities decoded, whitespace collapsed.

    Markup that decodes to more markup (double escaping, an escaped CDATA
    section) is stripped again, a few times: a reader that wrongly renders a
    text title as HTML must still find no tag in it.
    """
    text = fragment
    for _ in range(_TEXT_PASSES):
        spaced = _BREAKS.sub(" ", text)
        stripped = _TEXT_CLEANER.clean(spaced)
        text = " ".join(FORBIDDEN_CHARS.sub("", html.unescape(stripped)).split())
        if not _looks_like_markup(text):
            break
    return _MARKUP.sub(lambda m: "< " + m.group()[1:], text) if _looks_like_markup(text) else text


def _looks_like_markup(text: str) -> bool:
    """An HTML element, comment or declaration, or any tag with an event handler or a URL:
    not "<açıklama>" or "x<y", which are text."""
    return bool(_MARKUP.search(text) or _ACTIVE_TAG.search(text))


def looks_like_html(text: str) -> bool:
    """Whether plain-looking text carries markup or entities (RSS titles often do)."""
    return bool(_HTML_LIKE.search(text))


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)
