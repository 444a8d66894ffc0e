"""Character encodings: a fetched body's bytes -> text, and a note whenever a declaration was not followed.

What a feed declares is followed. The declarations, in order: the charset of
the HTTP Content-Type, a byte order mark, the XML declaration. The first one
the bytes decode under without error is used (a decode that yields NUL, which
XML forbids, is an error: UTF-16 read as a one-byte encoding).

A one-byte encoding (Latin-1, windows-1251, ...) decodes any bytes at all, so
for it "without error" proves nothing. Two consequences:

- a one-byte declaration over bytes that are valid UTF-8 gives way to UTF-8
  (text in a legacy encoding is practically never valid UTF-8);
- a one-byte charset on a feed served as text/html or text/plain is not the
  feed's declaration but the web server's default for pages (Apache's
  AddDefaultCharset adds it to exactly those two types; "text/html;
  charset=iso-8859-1" over a windows-1254 feed is the classic): it is noted,
  not followed. On an XML type (application/rss+xml, text/xml, ...) the
  server speaks for the feed, and its charset is followed.

When every declaration fails, or there is none:

1. a failing multi-byte declaration is read with the superset browsers use for
   it (`gb2312` as GB18030, `shift_jis` as cp932, ...): sites declare the
   small set and use the large one;
2. valid UTF-8 is UTF-8 (XML's default, for a document that declares nothing);
3. otherwise the encoding is detected by charset-normalizer, the only module
   that imports it. If the source's configured language or the feed's own
   (`<language>`, `xml:lang`) is known, detection chooses among that
   language's legacy encodings (LANGUAGE_ENCODINGS), the least garbled and
   most language-like reading winning, and between two readings that differ
   in a character or so, the encoding listed first: on a few headlines the
   detector alone reads Turkish as a Nordic code page and cannot tell
   ISO-8859-7 from windows-1253.

Web pages (the `html` and `telegram` source kinds, `decode_page`) declare their encoding
as browsers read it: a byte order mark, the HTTP charset (a page's own, so followed whatever
its media type), then `<meta charset>` or `<meta http-equiv="Content-Type">` in the first
1024 bytes. What follows is the same as for feeds.

Anything but following the first declaration - another declaration, UTF-8
over a declaration, a superset, a detection - comes back as a `note`, which
the pipeline logs at INFO on the source's line.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterable
from typing import NamedTuple

import charset_normalizer

# A language's legacy encodings, the most common on its sites first (Python codec names).
LANGUAGE_ENCODINGS: dict[str, tuple[str, ...]] = {
    "ru": ("cp1251", "koi8_r", "iso8859_5"), "uk": ("cp1251", "koi8_u", "iso8859_5"),
    **dict.fromkeys(("be", "bg", "sr", "mk", "kk", "ky", "tg"), ("cp1251", "iso8859_5")),
    "el": ("iso8859_7", "cp1253"), "tr": ("cp1254", "iso8859_9"),
    "zh": ("gb18030", "big5", "big5hkscs"), "ja": ("cp932", "euc_jp", "euc_jis_2004", "iso2022_jp"),
    "ko": ("cp949",), "vi": ("cp1258",), "th": ("cp874",), "he": ("cp1255", "iso8859_8"),
    "ar": ("cp1256", "iso8859_6"), "fa": ("cp1256",), "ur": ("cp1256",),
    **dict.fromkeys(("pl", "cs", "sk", "hu", "hr", "sl", "ro", "bs"), ("cp1250", "iso8859_2")),
    **dict.fromkeys(("lt", "lv", "et"), ("cp1257", "iso8859_13")),
    **dict.fromkeys(("en", "es", "pt", "fr", "de", "it", "nl", "ca", "gl", "eu", "da", "sv", "no", "nb",
                     "nn", "fi", "is", "ga", "af", "sq"), ("cp1252", "iso8859_15")),
}
# charset-normalizer's names of the languages it reads, as ISO 639-1 codes.
DETECTOR_LANGUAGES = {
    "Arabic": "ar", "Bulgarian": "bg", "Chinese": "zh", "Croatian": "hr", "Czech": "cs", "Danish": "da",
    "Dutch": "nl", "English": "en", "Estonian": "et", "Farsi": "fa", "Finnish": "fi", "French": "fr",
    "German": "de", "Greek": "el", "Hebrew": "he", "Hungarian": "hu", "Italian": "it", "Japanese": "ja",
    "Kazakh": "kk", "Korean": "ko", "Lithuanian": "lt", "Norwegian": "no", "Polish": "pl",
    "Portuguese": "pt", "Romanian": "ro", "Russian": "ru", "Serbian": "sr", "Slovak": "sk",
    "Slovene": "sl", "Spanish": "es", "Swedish": "sv", "Turkish": "tr", "Ukrainian": "uk",
    "Vietnamese": "vi", "Thai": "th",
}
# What browsers decode a multi-byte label with (the WHATWG Encoding Standard's decoders).
SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "big5hkscs", "shift_jis": "cp932",
             "euc_kr": "cp949", "euc_jp": "euc_jis_2004"}
# Media types a web server gives files it does not know as feeds, with its default charset.
PAGE_TYPES = frozenset({"text/html", "text/plain"})
# Detection candidates within this much garbling (charset-normalizer's chaos, 0..1) count as a tie.
TIE = 0.01

_XML_ENCODING = re.compile(rb"\A\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_FEED_LANGUAGE = re.compile(rb"<(?:dc:)?language>\s*([A-Za-z]{2,3}(?:[-_][A-Za-z]{2,4})?)"
                            rb"|xml:lang=[\"']([A-Za-z]{2,3}(?:[-_][A-Za-z]{2,4})?)")
_BOMS = ((codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"))


class Declaration(NamedTuple):
    where: str  # "http", "bom", "xml" or (a web page's) "meta"
    label: str  # a Python codec name when Python knows the label, else the label as written
    codec: str | None  # None: not followed (unknown; UTF-16 without its BOM; a page default)


class Decoded(NamedTuple):
    text: str
    encoding: str  # the Python codec name used
    note: str | None  # e.g. "encoding=gb18030 declared=xml:gb2312 how=superset"; None: as declared


def decode_feed(body: bytes, content_type: str, language: str | None = None) -> Decoded:
    """The body as text, the codec used, and a note if that was not simply what the feed declared.

    `content_type` is the response's Content-Type header; `language` (the
    source's configured one) only guides detection.
    """
    declared = declarations(body, content_type)
    if body.isascii():  # every ASCII-compatible encoding reads it alike: nothing to decide
        return Decoded(body.decode("ascii"), next((d.codec for d in declared if d.codec), "utf-8"), None)
    text, encoding, how = _decode(body, declared, language)
    return Decoded(text.removeprefix("\ufeff"), encoding, _note(encoding, declared, how))


def decode_page(body: bytes, content_type: str, language: str | None = None) -> Decoded:
    """An HTML page's body as text, as `decode_feed` reads a feed's, with a page's declarations."""
    declared = page_declarations(body, content_type)
    if body.isascii():
        return Decoded(body.decode("ascii"), next((d.codec for d in declared if d.codec), "utf-8"), None)
    text, encoding, how = _decode(body, declared, language)
    return Decoded(text.removeprefix("\ufeff"), encoding, _note(encoding, declared, how))


def page_declarations(body: bytes, content_type: str) -> list[Declaration]:
    """What a page says about its encoding, in the order browsers trust it: the byte order mark,
    the HTTP charset, the first `<meta>` that names a charset."""
    mark, bom = next(((mark, name) for mark, name in _BOMS if body.startswith(mark)), (b"", None))
    found = [("bom", bom), ("http", _first(_CHARSET.search(content_type))),
             ("meta", _first(_META_CHARSET.search(body[len(mark):1024])))]
    return [_declaration(where, label, bom) for where, label in found if label]


def declarations(body: bytes, content_type: str) -> list[Declaration]:
    """What the response and the document say about the encoding, in the order they are trusted."""
    mark, bom = next(((mark, name) for mark, name in _BOMS if body.startswith(mark)), (b"", None))
    found = [("http", _first(_CHARSET.search(content_type))), ("bom", bom),
             ("xml", _first(_XML_ENCODING.match(body[len(mark):512])))]
    declared = [_declaration(where, label, bom) for where, label in found if label]
    if declared and declared[0].where == "http" and _page_default(content_type, declared[0].codec):
        declared[0] = declared[0]._replace(codec=None)
    return declared


def _declaration(where: str, label: str, bom: str | None) -> Declaration:
    try:
        codec = codecs.lookup(label).name
    except LookupError:
        return Declaration(where, label, None)
    if codec.startswith(("utf-16", "utf-32")):  # readable only with the BOM that gives the byte order
        return Declaration(where, codec, bom if bom and bom.startswith(codec) else None)
    return Declaration(where, codec, codec)


def _page_default(content_type: str, codec: str | None) -> bool:
    """Whether the HTTP charset is a web server's default for pages rather than a word on the feed."""
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type in PAGE_TYPES and codec is not None and _one_byte(codec)


def _first(match: re.Match[str] | re.Match[bytes] | None) -> str | None:
    if match is None:
        return None
    value = match.group(1)
    return value.decode("ascii") if isinstance(value, bytes) else value


def _decode(body: bytes, declared: list[Declaration], language: str | None) -> tuple[str, str, str]:
    """(text, codec, how): how is "declared", "valid-utf-8", "superset", "default", "detected" or
    "replaced"."""
    utf8 = _strict(body, "utf-8")
    for codec in (d.codec for d in declared if d.codec):
        if utf8 is not None and (codec == "utf-8" or _one_byte(codec)):
            return utf8, "utf-8", "declared" if codec == "utf-8" else "valid-utf-8"
        text = _strict(body, codec) if codec != "utf-8" else None
        if text is not None:
            return text, codec, "declared"
    for codec in dict.fromkeys(SUPERSETS[d.codec] for d in declared if d.codec in SUPERSETS):
        text = _strict(body, codec)
        if text is not None:
            return text, codec, "superset"
    if utf8 is not None:
        return utf8, "utf-8", "valid-utf-8" if declared else "default"
    detected = detect(body, _hints(body, language))
    if detected is not None:
        return body.decode(detected, "replace"), detected, "detected"
    return body.decode("utf-8", "replace"), "utf-8", "replaced"


def _strict(body: bytes, codec: str) -> str | None:
    """The body decoded under `codec`, or None if it does not decode (NUL counts as an error)."""
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        return None
    return None if "\0" in text else text


@functools.lru_cache(maxsize=64)
def _one_byte(codec: str) -> bool:
    """Whether every byte is a character of its own in `codec`, so that any bytes decode under it."""
    if codec.startswith("utf-"):
        return False
    return len(bytes(range(0x80, 0x100)).decode(codec, "replace")) == 0x80


def _hints(body: bytes, language: str | None) -> list[str]:
    """Languages that may say which legacy encoding this is: configured, then the feed's own."""
    match = _FEED_LANGUAGE.search(body[:4096])
    declared = (match.group(1) or match.group(2)).decode("ascii") if match else None
    return [hint.lower().replace("_", "-") for hint in (language, declared) if hint]


def detect(body: bytes, languages: Iterable[str] = ()) -> str | None:
    """The likeliest encoding of `body` (a Python codec name), or None if nothing reads it as text.

    With `languages`, the candidates are their legacy encodings; without (or if none of those
    fits), any encoding charset-normalizer knows - and if the language it reads in the text
    agrees with its pick, near-ties within that language's encodings go to the common one.
    """
    hinted = _candidates(languages)
    if hinted and (chosen := _least_garbled(body, hinted)):
        return chosen
    best = charset_normalizer.from_bytes(body, preemptive_behaviour=False).best()
    if best is None:
        return None
    codec = codecs.lookup(best.encoding).name
    family = _candidates([DETECTOR_LANGUAGES.get(best.language.rstrip("—"), "")])
    return (_least_garbled(body, family) or codec) if codec in family else codec


def _candidates(languages: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(codecs.lookup(codec).name for language in languages
                              for codec in _encodings_of(language)))


def _encodings_of(language: str) -> tuple[str, ...]:
    primary, _, region = language.partition("-")
    if primary == "zh" and region in ("tw", "hk", "mo", "hant"):
        return ("big5", "big5hkscs", "gb18030")
    return LANGUAGE_ENCODINGS.get(primary, ())


def _least_garbled(body: bytes, candidates: list[str]) -> str | None:
    """The candidate charset-normalizer reads best: least garbled, then most like the language.

    Two readings that differ in a character or so (ISO-8859-7's Ά is windows-1253's ¶) are a
    tie the detector's statistics cannot break: the one listed first, the more common, wins.
    """
    readings = {codec: match for codec in candidates if (match := _reading(body, codec)) is not None}
    if not readings:
        return None
    least = min(match.chaos for match in readings.values())
    clean = [codec for codec in readings if readings[codec].chaos <= least + TIE]
    best = max(clean, key=lambda codec: readings[codec].coherence)
    text = body.decode(best, "replace")
    return next(codec for codec in clean if _reads_alike(body.decode(codec, "replace"), text))


def _reading(body: bytes, codec: str) -> charset_normalizer.CharsetMatch | None:
    """charset-normalizer's reading of `body` as `codec`, or None if it does not read as text at all.
    One codec per call: given several, it drops those it deems similar to one that fitted."""
    return charset_normalizer.from_bytes(body, cp_isolation=[codec], preemptive_behaviour=False).best()


def _reads_alike(one: str, other: str) -> bool:
    """Whether two readings differ in at most one character in a hundred."""
    return len(one) == len(other) and sum(a != b for a, b in zip(one, other, strict=True)) <= len(one) // 100


def _note(encoding: str, declared: list[Declaration], how: str) -> str | None:
    """A key=value note when the encoding used is not what every declaration said."""
    if how in ("declared", "default") and all(d.codec == encoding for d in declared):
        return None
    said = ",".join(f"{d.where}:{d.label}" for d in declared) or "none"
    return f"encoding={encoding} declared={said} how={how}"
