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

import html
import re
from typing import Literal
from urllib.parse import urlsplit

import nh3

DROP_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "object", "embed", "applet", "form", "noscript", "template", "svg",
     "math", "select", "textarea", "button", "frameset", "frame", "canvas", "audio", "video"}
)
TAGS = frozenset(nh3.ALLOWED_TAGS) - DROP_WITH_CONTENT
ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()} | {
    "a": {"href", "hreflang", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
# Characters XML 1.0 forbids: HTML character references such as &#1; decode to them.
FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Tags after which plain text needs a space, so "a<br>b" does not become "ab".
_BREAKS = re.compile(r"<(?:br|/p|/div|/li|/h[1-6]|/td|/tr|hr)\b[^>]*>", re.IGNORECASE)


def sanitize_html(fragment: str, base_url: str | None) -> str:
    """`fragment` with only allow-listed markup, relative URLs resolved against `base_url`.

    Without an absolute http(s) base, relative URLs are dropped: they would
    point into our own site.
    """
    if not fragment.strip():
        return ""
    relative: Literal["deny"] | tuple[Literal["rewrite_with_base"], str] = "deny"
    if base_url and _is_web_url(base_url):
        relative = ("rewrite_with_base", base_url)
    cleaned = nh3.clean(
        fragment, tags=set(TAGS), clean_content_tags=set(DROP_WITH_CONTENT), attributes=ATTRIBUTES,
        url_schemes=set(URL_SCHEMES), link_rel=LINK_REL, url_relative=relative, strip_comments=True,
    )
    return FORBIDDEN_CHARS.sub("", cleaned).strip()


def html_to_text(fragment: str) -> str:
    """Plain text from an HTML fragment: tags gone, entities decoded, whitespace collapsed."""
    spaced = _BREAKS.sub(" ", fragment)
    stripped = nh3.clean(spaced, tags=set(), clean_content_tags=set(DROP_WITH_CONTENT), attributes={})
    return " ".join(FORBIDDEN_CHARS.sub("", html.unescape(stripped)).split())


def looks_like_html(text: str) -> bool:
    """Whether plain-looking text carries markup or entities (RSS titles often do)."""
    return bool(re.search(r"<[A-Za-z/!]|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);", text))


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)
