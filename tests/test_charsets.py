"""Encodings (feeds/parse/charsets.py): what a feed declares is followed; only without a usable declaration
is the encoding detected, and every such case is noted for the source's log line.

Each language's headlines are written in its legacy encodings, declared in the HTTP Content-Type,
declared in the XML declaration, and not declared at all, and must come back as written.
"""

from __future__ import annotations

import codecs
import logging
from datetime import UTC, datetime

import pytest

from feeds import pipeline
from feeds.fetch import FetchResult
from feeds.model import SourceSpec, SourceState
from feeds.parse import ParsedFeed, parse_feed
from feeds.parse.charsets import decode_feed
from feeds.store import Store
from feeds.tag import Tagger
from feeds.tag.registry import load_registry
from tests.conftest import ROOT

URL = "https://party.example/feed"
NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)

# encoding -> (the feed's language, its headlines)
CJK_TITLES = {
    "zh-cn": ["中国共产党中央委员会召开全体会议", "工人阶级团结起来，反对帝国主义战争", "人民日报评论员文章"],
    "zh-tw": ["台灣勞工陣線聲明：支持罷工", "工人階級團結起來，反對帝國主義戰爭", "人民日報評論員文章"],
    "ja": ["日本共産党の志位委員長が記者会見", "労働者の賃上げを求める全国集会", "平和と民主主義のために"],
    "ko": ["노동자 총파업 선언", "진보당 대표 기자회견", "민주노총 투쟁 결의"],
}
RUSSIAN = ["Коммунисты провели пленум ЦК", "Солидарность с рабочими", "Заявление Президиума ЦК КПРФ"]
# encoding -> (the feed's language, its headlines)
HEADLINES = {
    "gb2312": ("zh-cn", CJK_TITLES["zh-cn"]),
    "gbk": ("zh-cn", ["朱镕基会见工会代表", *CJK_TITLES["zh-cn"][1:]]),  # 镕 is GBK, not GB2312
    "big5": ("zh-tw", CJK_TITLES["zh-tw"]),
    "shift_jis": ("ja", CJK_TITLES["ja"]),
    "euc-jp": ("ja", CJK_TITLES["ja"]),
    "euc-kr": ("ko", CJK_TITLES["ko"]),
    "koi8-r": ("ru", RUSSIAN),
    "cp1251": ("ru", RUSSIAN),
    "iso-8859-7": ("el", ["Άρθρο για την Πρωτομαγιά του ΚΚΕ", "Απεργία στα λιμάνια: Ισχυρή συμμετοχή",
                          "Ανακοίνωση της ΚΕ του ΚΚΕ"]),
    "cp1254": ("tr", ["Şişecam işçileri için dayanışma çağrısı", "Güçlü örgütlenme, işçi sınıfının görevi",
                      "İstanbul'da 1 Mayıs: İŞÇİLER ALANDA"]),
    "windows-1252": ("fr", ["Grève générale : les travailleurs mobilisés", "Déclaration du comité central",
                            "Solidarité avec les réfugiés"]),
}
# What the detector reads without knowing the language; a few Latin-script headlines need it.
DETECTED_ALONE = [name for name in HEADLINES if name not in ("cp1254", "windows-1252")]


def rss(titles: list[str], *, declaration: str | None = None, language: str | None = None) -> str:
    head = f'<?xml version="1.0" encoding="{declaration}"?>' if declaration else '<?xml version="1.0"?>'
    items = "".join(f"<item><title>{title}</title><link>https://party.example/{n}</link>"
                    f"<guid>https://party.example/{n}</guid></item>\n" for n, title in enumerate(titles))
    lang = f"<language>{language}</language>" if language else ""
    return (f'{head}\n<rss version="2.0"><channel><title>{titles[0]}</title>'
            f"<link>https://party.example/</link>{lang}\n{items}</channel></rss>\n")


def titles_of(parsed: ParsedFeed) -> list[str | None]:
    return [entry.title for entry in parsed.entries]


@pytest.mark.parametrize("name", HEADLINES)
def test_a_charset_in_the_content_type_is_followed(name: str) -> None:
    _, titles = HEADLINES[name]
    headers = {"Content-Type": f"application/rss+xml; charset={name}"}
    parsed = parse_feed(rss(titles).encode(name), headers, URL)
    assert titles_of(parsed) == titles and parsed.title == titles[0]
    assert parsed.encoding == codecs.lookup(name).name and parsed.encoding_note is None


@pytest.mark.parametrize("name", HEADLINES)
def test_the_xml_declaration_is_followed(name: str) -> None:
    _, titles = HEADLINES[name]
    headers = {"Content-Type": "application/rss+xml"}
    parsed = parse_feed(rss(titles, declaration=name).encode(name), headers, URL)
    assert titles_of(parsed) == titles
    assert parsed.encoding == codecs.lookup(name).name and parsed.encoding_note is None


@pytest.mark.parametrize("name", HEADLINES)
def test_an_undeclared_encoding_is_detected_and_noted(name: str) -> None:
    language, titles = HEADLINES[name]
    parsed = parse_feed(rss(titles, language=language).encode(name), {}, URL)
    assert titles_of(parsed) == titles
    assert parsed.encoding_note == f"encoding={parsed.encoding} declared=none how=detected"


@pytest.mark.parametrize("name", DETECTED_ALONE)
def test_an_undeclared_encoding_is_detected_without_a_language(name: str) -> None:
    _, titles = HEADLINES[name]
    assert titles_of(parse_feed(rss(titles).encode(name), {}, URL)) == titles


@pytest.mark.parametrize("name", ["cp1254", "windows-1252"])
def test_the_sources_configured_language_guides_detection(name: str) -> None:
    language, titles = HEADLINES[name]
    assert titles_of(parse_feed(rss(titles).encode(name), {}, URL, language=language)) == titles


def test_a_gb2312_declaration_that_decodes_is_never_overridden() -> None:
    # Headline and declaration of the report that started this: it came out as Cyrillic.
    body = rss(["拟298亿元重组盛大游戏后"], declaration="gb2312").encode("gb2312")
    assert titles_of(parse_feed(body, {}, URL)) == ["拟298亿元重组盛大游戏后"]


def test_a_multi_byte_declaration_that_decodes_wins_over_valid_utf8() -> None:
    # These GB2312 bytes are also valid UTF-8 ("³Ѹ"): the declaration says which they are.
    body = rss(["鲁迅"], declaration="gb2312").encode("gb2312")
    assert body.decode("utf-8")
    assert titles_of(parse_feed(body, {}, URL)) == ["鲁迅"]


def test_a_declared_subset_is_read_as_its_superset_with_a_note() -> None:
    # 镕 is GBK, not GB2312: sites declare gb2312 and write GBK.
    parsed = parse_feed(rss(["朱镕基会见工会代表"], declaration="gb2312").encode("gbk"), {}, URL)
    assert titles_of(parsed) == ["朱镕基会见工会代表"]
    assert parsed.encoding_note == "encoding=gb18030 declared=xml:gb2312 how=superset"


def test_a_declaration_that_fails_gives_way_to_detection_with_a_note() -> None:
    _, titles = HEADLINES["koi8-r"]
    parsed = parse_feed(rss(titles, declaration="utf-8").encode("koi8-r"), {}, URL)
    assert titles_of(parsed) == titles
    assert parsed.encoding_note == "encoding=koi8-r declared=xml:utf-8 how=detected"


@pytest.mark.parametrize("declared", ["iso-8859-1", "windows-1251", "windows-1252"])
def test_utf8_declared_as_a_one_byte_encoding_is_utf8(declared: str) -> None:
    _, titles = HEADLINES["cp1251"]
    parsed = parse_feed(rss(titles, declaration=declared).encode("utf-8"), {}, URL)
    assert titles_of(parsed) == titles
    assert parsed.encoding_note == (f"encoding=utf-8 declared=xml:{codecs.lookup(declared).name} "
                                    "how=valid-utf-8")


def test_a_byte_order_mark_beats_a_one_byte_charset_that_reads_it_as_nul() -> None:
    _, titles = HEADLINES["gb2312"]
    body = rss(titles).encode("utf-16")  # with its BOM
    parsed = parse_feed(body, {"Content-Type": "text/xml; charset=iso-8859-1"}, URL)
    assert titles_of(parsed) == titles
    assert parsed.encoding_note == "encoding=utf-16-le declared=http:iso8859-1,bom:utf-16-le how=declared"


def test_a_utf8_byte_order_mark_beats_a_one_byte_charset() -> None:
    _, titles = HEADLINES["cp1251"]
    parsed = parse_feed(codecs.BOM_UTF8 + rss(titles).encode("utf-8"),
                        {"Content-Type": "text/xml; charset=windows-1251"}, URL)
    assert titles_of(parsed) == titles and parsed.encoding == "utf-8"


def test_a_servers_default_charset_for_pages_is_noted_not_followed() -> None:
    # Apache's AddDefaultCharset on a feed it serves as text/html: Latin-1 would read any bytes.
    language, titles = HEADLINES["cp1254"]
    parsed = parse_feed(rss(titles).encode("cp1254"), {"Content-Type": "text/html; charset=iso-8859-1"}, URL,
                        language=language)
    assert titles_of(parsed) == titles
    assert parsed.encoding_note == "encoding=cp1254 declared=http:iso8859-1 how=detected"


def test_a_multi_byte_charset_on_a_page_type_is_followed_when_the_bytes_fit_it() -> None:
    _, titles = HEADLINES["gb2312"]
    parsed = parse_feed(rss(titles).encode("gb2312"), {"Content-Type": "text/plain; charset=gb2312"}, URL)
    assert titles_of(parsed) == titles and parsed.encoding_note is None


def test_plain_ascii_needs_no_decision() -> None:
    assert decode_feed(b"<rss/>", "text/xml; charset=koi8-r") == ("<rss/>", "koi8-r", None)
    assert decode_feed(b"<rss/>", "") == ("<rss/>", "utf-8", None)


def test_utf8_that_declares_nothing_is_utf8_without_a_note() -> None:
    assert decode_feed("<t>Ελλάδα</t>".encode(), "") == ("<t>Ελλάδα</t>", "utf-8", None)


def test_bytes_no_encoding_reads_are_replaced_with_a_note() -> None:
    text, encoding, note = decode_feed(b"<t>\xff\xfe\x00\x00\x81</t>", "")
    assert text.startswith("<t>") and encoding == "utf-8"
    assert note == "encoding=utf-8 declared=none how=replaced"


def test_the_note_is_logged_on_the_sources_line(caplog: pytest.LogCaptureFixture) -> None:
    tagger = Tagger(load_registry(ROOT / "registry" / "parties.yaml", ROOT / "registry" / "topics.yaml"))
    _, titles = HEADLINES["koi8-r"]
    spec = SourceSpec("kprf", URL, language="ru")
    result = FetchResult(spec.id, "ok", URL, URL, NOW, 200, rss(titles).encode("koi8-r"))
    with Store(":memory:") as store, caplog.at_level(logging.INFO, logger="feeds.ingest"):
        report = pipeline.ingest_result(store, tagger, spec, SourceState(spec.id, URL), result, NOW)
    assert report.ingest.new == 3
    lines = [r.getMessage() for r in caplog.records if r.name == "feeds.ingest"]
    assert lines == ["source=kprf status=ok new=3 merged=0 revised=0 unchanged=0 "
                     "encoding=koi8-r declared=none how=detected"]
