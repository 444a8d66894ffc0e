"""The parse stage: fixture feeds beside their expected results, encodings, fatal cases."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from feeds.errors import ParseError
from feeds.parse import ParsedEntry, ParsedFeed, parse_feed
from feeds.parse.charsets import decode_feed
from feeds.parse.sanitize import sanitize_html

FEEDS = Path(__file__).parent / "data" / "feeds"
EXPECTED = sorted(FEEDS.glob("*.expected.json"))


def load(name: str, content_type: str | None = None, **kw: Any) -> ParsedFeed:
    headers = {"Content-Type": content_type} if content_type else {}
    return parse_feed((FEEDS / name).read_bytes(), headers, "https://src.example/feed", **kw)


def project(obj: ParsedFeed | ParsedEntry, keys: list[str]) -> dict[str, Any]:
    """The named fields, in JSON's terms (datetimes as ISO text, tuples as lists)."""
    out: dict[str, Any] = {}
    for key in keys:
        value = getattr(obj, key)
        out[key] = value.isoformat() if isinstance(value, datetime) else list(value) if isinstance(
            value, tuple) else value
    return out


@pytest.mark.parametrize("expected_path", EXPECTED, ids=lambda p: p.name.removesuffix(".expected.json"))
def test_fixture_parses_as_expected(expected_path: Path) -> None:
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    body = (FEEDS / expected_path.name.removesuffix(".expected.json")).read_bytes()
    parsed = parse_feed(body, expected.get("headers", {}), expected["url"])
    assert project(parsed, list(expected["feed"])) == expected["feed"]
    assert len(parsed.entries) == len(expected["entries"])
    for entry, want in zip(parsed.entries, expected["entries"], strict=True):
        assert project(entry, list(want)) == want
    assert parsed.warnings == ()


# --- encodings (the rules, with every encoding, are tested in tests/test_charsets.py) -------------------

RUSSIAN = "Коммунисты провели пленум ЦК"
GREEK = "Απεργία στα λιμάνια: Ισχυρή συμμετοχή"
TURKISH = "Şişecam işçileri için dayanışma çağrısı"
LEGACY = [  # the undeclared ones are read with the source's configured language, as ingest reads them
    ("legacy-windows-1251-declared.rss", "cp1251", RUSSIAN, "ru"),
    ("legacy-windows-1251-undeclared.rss", "cp1251", RUSSIAN, "ru"),
    ("legacy-iso-8859-7-declared.rss", "iso8859-7", GREEK, "el"),
    ("legacy-iso-8859-7-undeclared.rss", "iso8859-7", GREEK, "el"),
    ("legacy-windows-1254-declared.rss", "cp1254", TURKISH, "tr"),
    ("legacy-windows-1254-undeclared.rss", "cp1254", TURKISH, "tr"),
]
# What servers say: nothing; an XML type without charset (RFC 3023 would mean
# us-ascii for text/xml); a server's default charset for pages; a wrong UTF-8 claim.
CONTENT_TYPES = [None, "application/rss+xml", "text/xml", "text/html; charset=iso-8859-1",
                 "application/xml; charset=utf-8"]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize(("name", "encoding", "title", "language"), LEGACY)
def test_legacy_encodings_come_out_as_unicode(
    name: str, encoding: str, title: str, language: str, content_type: str | None
) -> None:
    parsed = load(name, content_type, language=language)
    assert parsed.encoding == encoding
    assert parsed.entries[0].title == title
    assert parsed.title and parsed.title.isprintable()


def test_the_greek_tonos_survives() -> None:
    # "Ά" sits at 0xB6 in ISO-8859-7 but 0xA2 in windows-1253: the two differ here.
    assert load("legacy-iso-8859-7-undeclared.rss").entries[1].title == "Άρθρο για την Πρωτομαγιά του ΚΚΕ"


@pytest.mark.parametrize(("name", "charset", "encoding"), [
    ("legacy-windows-1251-undeclared.rss", "windows-1251", "cp1251"),
    ("legacy-windows-1254-undeclared.rss", "windows-1254", "cp1254"),
])
def test_a_correct_content_type_charset_is_used(name: str, charset: str, encoding: str) -> None:
    parsed = load(name, f"text/xml; charset={charset}")
    assert parsed.encoding == encoding and parsed.encoding_note is None and parsed.warnings == ()


def test_a_charset_the_bytes_do_not_decode_under_gives_way_to_the_xml_declaration() -> None:
    parsed = load("legacy-windows-1251-declared.rss", "text/xml; charset=utf-8")
    assert parsed.entries[0].title == RUSSIAN
    assert parsed.encoding_note == "encoding=cp1251 declared=http:utf-8,xml:cp1251 how=declared"


def test_a_pages_default_charset_gives_way_to_the_xml_declaration_with_a_note() -> None:
    parsed = load("legacy-windows-1251-declared.rss", "text/html; charset=iso-8859-1")
    assert parsed.entries[0].title == RUSSIAN
    assert parsed.encoding_note == "encoding=cp1251 declared=http:iso8859-1,xml:cp1251 how=declared"


def test_a_charset_on_a_feed_type_the_bytes_decode_under_is_followed() -> None:
    # The server speaks for the feed, and comes first (RFC 7303): the XML declaration is noted.
    parsed = load("legacy-windows-1251-declared.rss", "application/rss+xml; charset=iso-8859-1")
    assert parsed.encoding == "iso8859-1"
    assert parsed.encoding_note == "encoding=iso8859-1 declared=http:iso8859-1,xml:cp1251 how=declared"


def test_utf8_served_as_latin1_is_still_utf8() -> None:
    parsed = load("wordpress-tr.rss", "text/xml; charset=ISO-8859-1")
    assert parsed.encoding == "utf-8" and parsed.title == "soL Haber Portalı"
    assert parsed.encoding_note == "encoding=utf-8 declared=http:iso8859-1,xml:utf-8 how=valid-utf-8"
    assert parsed.warnings == ()


@pytest.mark.parametrize("bom_encoding", ["utf-16", "utf-8-sig"])
def test_byte_order_marks(bom_encoding: str) -> None:
    text = (FEEDS / "atom03-ru.atom").read_text(encoding="utf-8").replace('encoding="utf-8"', "")
    parsed = parse_feed(text.encode(bom_encoding), {}, "https://kprf.example.ru/atom.xml")
    assert parsed.entries[0].title == "Первомай: коммунисты вышли на улицы"
    assert parsed.encoding_note is None


def test_the_configured_language_breaks_a_tie() -> None:
    # Greek text without Ά decodes the same under ISO-8859-7 and windows-1253.
    body = "<p>Απεργία</p>".encode("iso-8859-7")
    assert decode_feed(body, "", "el")[1] == "iso8859-7"


@pytest.mark.parametrize(("text", "codec", "language"), [
    ("Солидарность с рабочими", "cp1251", None),
    ("Η απεργία συνεχίζεται", "iso8859-7", None),
    ("ЦК КПРФ: Заявление о Первомае", "cp1251", None),
    ("ΚΚΕ: Ανακοίνωση για την ΑΠΕΡΓΙΑ στο Πειραιά", "iso8859-7", None),
    # A few Latin-script words do not say which code page they are in: the language does.
    ("Güçlü örgütlenme, işçi sınıfı", "cp1254", "tr"),
    ("Partido Comunista de España: movilización", "cp1254", "es"),  # same bytes in windows-1252
    ("İstanbul'da 1 Mayıs: İŞÇİLER ALANDA", "cp1254", "tr"),
    ("Ömer Çağlar ile söyleşi", "cp1254", "tr"),
])
def test_decode_feed_detects_undeclared_legacy_text(text: str, codec: str, language: str | None) -> None:
    decoded, _, _ = decode_feed(f"<t>{text}</t>".encode(codec), "", language)
    assert decoded == f"<t>{text}</t>"


# --- what is fatal and what is not ---------------------------------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    (b"", "empty body"),
    (b"  \n\t ", "empty body"),
    ((FEEDS / "html-page.html").read_bytes(), "an HTML page, not a feed"),
    (b"<!-- hi -->\n<HTML><body>x</body></HTML>", "an HTML page"),
    ((FEEDS / "broken.xml").read_bytes(), "not a well-formed feed"),
    (b"<?xml version='1.0'?><urlset><url><loc>https://x/</loc></url></urlset>", "no RSS or Atom feed"),
    (b"just some text", "not a well-formed feed"),
    (b"https://127.0.0.1:9/feed.xml", "not a well-formed feed"),  # never fetched: bytes, not a URL
])
def test_unusable_bodies_are_parse_errors(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as caught:
        parse_feed(body, {"Content-Type": "text/html; charset=utf-8"}, "https://src.example/feed")
    assert "https://src.example/feed" in str(caught.value)


def test_malformed_xml_with_entries_is_kept_with_a_warning() -> None:
    parsed = load("recoverable.rss")
    assert [e.title for e in parsed.entries] == ["Lavoro & diritti"]
    assert len(parsed.warnings) == 1 and "malformed XML" in parsed.warnings[0]


def test_a_truncated_feed_keeps_its_complete_entries_only() -> None:
    body = (FEEDS / "recoverable.rss").read_bytes().replace(b"&", b"&amp;").split(b"</item>")[0]
    body += b"</item><item><description>cut off"
    parsed = parse_feed(body, {}, "https://src.example/feed")
    assert [e.title for e in parsed.entries] == ["Lavoro & diritti"]


def test_a_valid_feed_without_entries_is_fine() -> None:
    body = b"<rss version='2.0'><channel><title>Quiet</title></channel></rss>"
    parsed = parse_feed(body, {}, "https://src.example/feed")
    assert parsed.entries == () and parsed.title == "Quiet" and parsed.version == "rss20"


def test_entry_html_stays_raw_for_the_sanitiser_and_plain_text_summaries_are_escaped() -> None:
    # feedparser's own sanitiser and URL resolver are off (they cost 99% of parse time on
    # content-heavy feeds): nh3 does both in normalise, against the entry's base.
    body = (FEEDS / "wordpress-tr.rss").read_bytes()
    entry = parse_feed(body, {}, "https://sol.example.org.tr/feed").entries[0]
    assert entry.content is not None and "<script" in entry.content
    clean = sanitize_html(entry.content, entry.base)
    assert "<script" not in clean and "iframe" not in clean and "javascript:" not in clean
    assert 'src="https://sol.example.org.tr/wp-content/uploads/2024/05/grev.jpg"' in clean
    plain = load("atom03-ru.atom").entries[0]
    assert plain.summary == "<p>Акции прошли в десятках городов.</p>"


def test_plain_text_summary_is_escaped() -> None:
    body = (b"<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title><entry><title>e</title>"
            b"<id>1</id><summary type='text'>a &lt;b&gt; &amp; c</summary></entry></feed>")
    assert parse_feed(body, {}, "https://x.example/").entries[0].summary == "<p>a &lt;b&gt; &amp; c</p>"
