"""HTML sanitising (an allow-list) and HTML -> plain text for titles."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.parse.sanitize import FORBIDDEN_CHARS, _cleaner, html_to_text, looks_like_html, sanitize_html

BASE = "https://sol.example.org.tr/haber/abc/"


@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<p>a<script>alert(1)</script>b</p>", ["<script", "alert"]),
        ("<script src='https://evil.example/x.js'></script>", ["<script", "evil"]),
        ('<p onclick="steal()" onmouseover="x()">a</p>', ["onclick", "onmouseover", "steal"]),
        ('<img src="x.png" onerror="steal()">', ["onerror", "steal"]),
        ('<a href="javascript:alert(1)">x</a>', ["javascript"]),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', ["alert"]),
        ('<a href=" javascript:alert(1)">x</a>', ["alert"]),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', ["data:"]),
        ('<a href="data:text/html,<script>x</script>">x</a>', ["data:", "script"]),
        ('<iframe src="https://www.youtube.com/embed/x">fallback</iframe>', ["iframe", "youtube"]),
        ('<object data="x.swf"><param name="a" value="b"></object>', ["object", "param", "swf"]),
        ('<embed src="x.swf">', ["embed", "swf"]),
        (
            '<form action="https://evil.example/"><input name="pw"><button>go</button></form>',
            ["form", "input", "button", "evil"],
        ),
        ('<meta http-equiv="refresh" content="0;url=https://evil.example/">', ["meta", "refresh", "evil"]),
        ("<style>body{display:none}</style><p style='position:fixed'>x</p>", ["style", "display", "fixed"]),
        ('<svg onload="x()"><script>y()</script></svg>', ["svg", "onload", "script"]),
        ('<link rel="stylesheet" href="https://evil.example/a.css">', ["link", "evil"]),
        ("<base href='https://evil.example/'>", ["base", "evil"]),
        ("<!-- <script>x()</script> -->", ["script", "<!--"]),
    ],
)
def test_dangerous_markup_never_survives(dirty: str, forbidden: list[str]) -> None:
    clean = sanitize_html(dirty, BASE).lower()
    for word in forbidden:
        assert word.lower() not in clean


def test_ordinary_markup_survives() -> None:
    html = '<p>Bir <strong>grev</strong> <em>haberi</em>: <a href="https://tkp.example/x">bağ</a></p>'
    clean = sanitize_html(html, BASE)
    assert "<strong>grev</strong>" in clean and "<em>haberi</em>" in clean
    assert 'href="https://tkp.example/x"' in clean and 'rel="noopener noreferrer nofollow"' in clean
    assert "<p>" in clean


def test_relative_urls_become_absolute_against_the_base() -> None:
    html = '<a href="/etiket/tkp">a</a> <img src="foto.jpg"> <a href="//cdn.example/x">c</a>'
    clean = sanitize_html(html, BASE)
    assert 'href="https://sol.example.org.tr/etiket/tkp"' in clean
    assert 'src="https://sol.example.org.tr/haber/abc/foto.jpg"' in clean
    assert 'href="https://cdn.example/x"' in clean


def test_relative_urls_without_a_usable_base_are_dropped() -> None:
    for base in (None, "", "/relative/", "ftp://files.example/"):
        assert "href" not in sanitize_html('<a href="/a">a</a>', base)


def test_mailto_is_kept() -> None:
    clean = sanitize_html('<a href="mailto:info@kke.example.gr">m</a>', BASE)
    assert 'href="mailto:info@kke.example.gr"' in clean


def test_empty_stays_empty() -> None:
    assert sanitize_html("  \n", BASE) == ""


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("Ο <em>Ριζοσπάστης</em> στις 2 Μαΐου", "Ο Ριζοσπάστης στις 2 Μαΐου"),
        ("TKP&#8217;den &amp; &lt;açıklama&gt;", "TKP’den & <açıklama>"),
        ("Línea 1<br>Línea 2", "Línea 1 Línea 2"),
        ("<p>uno</p><p>dos</p>", "uno dos"),
        ("a <script>x()</script>b", "a b"),
        ("  spaced \n\t out  ", "spaced out"),
        ("5 < 6 & 7 > 3", "5 < 6 & 7 > 3"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


@pytest.mark.parametrize(
    ("text", "is_html"),
    [
        ("a <b>b</b>", True), ("a &amp; b", True), ("a &#8217; b", True),
        ("5 < 6", False), ("Tom & Jerry", False),
    ],
)
def test_looks_like_html(text: str, is_html: bool) -> None:
    assert looks_like_html(text) is is_html


@settings(max_examples=2000, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
       | st.sampled_from(["a > b", "a\u00a0b", "x\r\ny", "\ufeffbom", "--> x", "plain words", " \t "]))
def test_plain_text_skips_nh3_only_where_nh3_would_change_nothing(text: str) -> None:
    base = "https://x.example/a/"
    assert sanitize_html(text, base) == (FORBIDDEN_CHARS.sub("", _cleaner(base).clean(text)).strip()
                                         if text.strip() else "")
