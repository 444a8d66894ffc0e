"""A safety screen for feed documents, run on the decoded text before any XML parser sees it.

Standard library only, one linear pass. It refuses (ParseError), for that source only:

- entity declarations other than a name for one character reference
  (`<!ENTITY nbsp "&#160;">`, which some feeds carry): general entities with
  text (billion laughs, quadratic blowup), external entities (SYSTEM/PUBLIC:
  file or network) and every parameter entity. A DOCTYPE that only names an
  external DTD is left in place: feedparser removes it and expat never loads
  external DTDs (tests/test_hostile_xml.py records that nothing is fetched);
- a DOCTYPE or entity declaration after the root element has started;
- more than MAX_ELEMENTS elements (outside CDATA), or elements nested deeper
  than MAX_DEPTH: feedparser pays per element, and more per nesting level
  (20,000 levels took 11 s, 200,000 took 88 s and 80 MB), while real feeds
  nest a few dozen levels at most.

It keeps the first MAX_ENTRIES entries of a longer feed (a 20,000-entry feed
took 15 s to parse), and removes the characters XML 1.0 forbids, raw or as
character references (`&#1;`), which would make the strict parser give up on
the whole document and, passed through, abort serialising our own feeds.

XInclude needs a processor that feedparser does not have: `xi:include` is an
unknown element whose href is never read.

The scan is a Python loop over every tag (~40% of a fast parse). `scan_needed`
proves with a few C-speed searches that it would neither refuse nor cut a
document: no DOCTYPE or ENTITY, no processing instruction but the XML
declaration, fewer "<" than MAX_ELEMENTS, fewer entry end tags than
MAX_ENTRIES, no ">" inside an attribute value. Given also a
well-formed tree no deeper than MAX_DEPTH (the fast parser checks that), the
scan's stack - a subset of each element's ancestors - cannot pass MAX_DEPTH.
"""

from __future__ import annotations

import re

from feeds.errors import ParseError

MAX_DEPTH = 100
MAX_ENTRIES = 500
# feedparser spends ~10 us per element: 30,000 is well over any real feed of MAX_ENTRIES entries.
MAX_ELEMENTS = 30_000
ENTRY_ELEMENTS = frozenset({"item", "entry"})
# Characters XML 1.0 forbids (surrogates cannot occur in decoded text).
FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")
_TOKEN = re.compile(r"<(?:(/?)([A-Za-z_][\w:.-]*)[^<>]*>|!\[CDATA\[|!--|!DOCTYPE|!ENTITY)", re.IGNORECASE)
_ENTITY = re.compile(r"<!ENTITY\s+(%\s*)?([^\s\"'>]*)\s*([^>]*)>", re.IGNORECASE)
_CHAR_REF_VALUE = re.compile(r"""\A(["'])&#(?:[xX][0-9a-fA-F]{1,6}|[0-9]{1,7});\1\s*\Z""")
# HTML elements without an end tag: in loosely written content they must not count as nesting.
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
                   "source", "track", "wbr"})


# Spelled out rather than IGNORECASE, which would cost the search its fast scan for the "<!" or "</".
_DECLARATION = re.compile(r"<!(?:[Dd][Oo][Cc][Tt][Yy][Pp][Ee]|[Ee][Nn][Tt][Ii][Tt][Yy])")
# Over-counts what the scan calls an entry's end tag (any name ending in item/entry, even in CDATA).
_ENTRY_END = re.compile(r"</(?:[\w:.-]*:)?(?:[Ii][Tt][Ee][Mm]|[Ee][Nn][Tt][Rr][Yy])(?![\w:.-])")
# The first attribute value holding ">" in any tag (the scan would take that ">" as the tag's end).
_GT_IN_VALUE = re.compile(r"""<[^<>]*=\s*(?:"[^"<]*>|'[^'<]*>)""")


def screen(text: str, max_entries: int = MAX_ENTRIES) -> tuple[str, list[str]]:
    """`text` made safe for feedparser, and warnings; ParseError if it is hostile.

    A feed with more than `max_entries` entries is cut after that many (the
    first in the document: the newest, in practice), its open elements closed.
    """
    cleaned, warnings = clean(text)
    cut = _Scan(max_entries).run(cleaned)
    if cut is not None:
        position, still_open = cut
        cleaned = cleaned[:position] + "".join(f"</{name}>" for name in reversed(still_open))
        warnings.append(f"kept the first {max_entries} entries; the rest of the feed was dropped")
    return cleaned, warnings


def clean(text: str) -> tuple[str, list[str]]:
    """`text` without the characters XML 1.0 forbids (raw or as references), and a warning if any were."""
    cleaned = FORBIDDEN_CHARS.sub("", text)
    if "&#" in cleaned:
        cleaned = _CHAR_REF.sub(_keep_allowed_ref, cleaned)
    if len(cleaned) == len(text):
        return cleaned, []
    return cleaned, [f"removed {len(text) - len(cleaned)} characters XML 1.0 forbids"]


def scan_needed(cleaned: str, max_entries: int = MAX_ENTRIES) -> bool:
    """False if `screen` would neither refuse nor cut `cleaned` (the output of `clean`), provided
    it parses as well-formed XML no deeper than MAX_DEPTH; True if only the scan can tell."""
    instructions = cleaned.count("<?") - cleaned.lstrip().startswith("<?xml ")
    return bool(
        instructions or cleaned.count("<") > MAX_ELEMENTS or _DECLARATION.search(cleaned)
        or _GT_IN_VALUE.search(cleaned)
        or (cleaned.count("</") >= max_entries and len(_ENTRY_END.findall(cleaned)) >= max_entries)
    )


def _keep_allowed_ref(match: re.Match[str]) -> str:
    hex_digits, decimal = match.groups()
    code = int(hex_digits, 16) if hex_digits else int(decimal)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF or FORBIDDEN_CHARS.match(chr(code)):
        return ""
    return match.group()


class _Scan:
    """One walk over the markup: skip CDATA and comments, vet the DOCTYPE, bound the nesting,
    count elements and entries; `run` returns where to cut the feed, if it is too long."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.stack: list[str] = []
        self.elements = self.entries = 0

    def run(self, text: str) -> tuple[int, list[str]] | None:
        resume = 0  # inside a CDATA section, comment or DOCTYPE until here
        for match in _TOKEN.finditer(text):
            if match.start() < resume:
                continue
            token = match.group().upper()
            if token.startswith("<![CDATA["):
                resume = _end(text, "]]>", match.end())
            elif token.startswith("<!--"):
                resume = _end(text, "-->", match.end())
            elif token.startswith(("<!DOCTYPE", "<!ENTITY")):
                if self.elements or token.startswith("<!ENTITY"):
                    raise ParseError("a DOCTYPE or entity declaration inside the document: refused")
                resume = _doctype(text, match.end())
            elif self._tag(match) and self.entries >= self.max_entries:
                return match.end(), self.stack
        return None

    def _tag(self, match: re.Match[str]) -> bool:
        """Track one tag; True if it closed an entry."""
        closing, name = match.group(1), match.group(2)
        stack = self.stack
        if closing:
            if name not in stack:
                return False
            del stack[len(stack) - 1 - stack[::-1].index(name):]  # and whatever was left open inside
            closed_entry = name.rpartition(":")[2].lower() in ENTRY_ELEMENTS
            self.entries += closed_entry
            return closed_entry
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise ParseError(f"more than {MAX_ELEMENTS} elements: refused")
        if not match.group().endswith("/>") and name.lower() not in _VOID:
            stack.append(name)
            if len(stack) > MAX_DEPTH:
                raise ParseError(f"elements nested more than {MAX_DEPTH} deep: refused")
        return False


def _end(text: str, marker: str, start: int) -> int:
    found = text.find(marker, start)
    return len(text) if found < 0 else found + len(marker)


def _doctype(text: str, start: int) -> int:
    """Check the DOCTYPE starting before `start`; return where it ends."""
    close = text.find(">", start)
    bracket = text.find("[", start)
    if bracket < 0 or (0 <= close < bracket):
        return len(text) if close < 0 else close + 1  # no internal subset: nothing is declared here
    end = text.find("]", bracket)
    subset = text[bracket:] if end < 0 else text[bracket:end]
    entities = list(_ENTITY.finditer(subset))
    if len(entities) != subset.upper().count("<!ENTITY"):
        raise ParseError("a malformed entity declaration in the DOCTYPE: refused")
    for entity in entities:
        _check_entity(entity)
    return len(text) if end < 0 else _end(text, ">", end)


def _check_entity(entity: re.Match[str]) -> None:
    parameter, name, definition = entity.groups()
    if parameter:
        raise ParseError(f"the DOCTYPE declares a parameter entity {name!r}: refused")
    if not _CHAR_REF_VALUE.match(definition.strip()):
        kind = "an external" if definition.lstrip()[:6].upper() in ("SYSTEM", "PUBLIC") else "a text"
        raise ParseError(f"the DOCTYPE declares {kind} entity {name!r}: refused (only entities "
                         "standing for one character reference are accepted)")
