"""Hostile servers and documents, shared by the tests and bench/hostile_table.py.

Each HTTP case is a script for tests.localserver (path -> replies) and the
words the fetch error must contain; each XML case is a body and the words of
the ParseError (None: the document parses, neutralised).
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

from feeds.fetch import FetchSettings
from tests.localserver import Reply

LOCAL = ("127.0.0.1",)
# read_timeout far above total_timeout: only the total deadline can end a stalled fetch in time.
SETTINGS = FetchSettings(user_agent="hostile-test", connect_timeout=0.5, read_timeout=30, total_timeout=0.6,
                         max_body_bytes=100_000, max_redirects=5, allow_hosts=LOCAL)
RSS = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>Good</title><item><title>A good item"
       b"</title><link>https://good.example/1</link></item></channel></rss>")
OVER = "over the 100000-byte limit"
SECRET = "partyfeeds-secret-7f3a9c"  # written to a file that hostile documents try to read


@dataclass(frozen=True)
class HttpCase:
    name: str
    replies: tuple[Reply, ...]
    error: str  # what the fetch error says
    extra: tuple[tuple[str, tuple[Reply, ...]], ...] = ()  # more paths the case needs

    @property
    def path(self) -> str:
        return f"/{self.name}"


def _bomb(size: int, wbits: int) -> bytes:
    """`size` zero bytes compressed (gzip: wbits 31, zlib: 15), without holding them in memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = bytes(2**20)
    return b"".join(packer.compress(zeros) for _ in range(size // 2**20)) + packer.flush()


def _encoded(body: bytes, encoding: str) -> Reply:
    return Reply(200, body=body, headers=(("Content-Encoding", encoding),))


def _head(lines: list[bytes]) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + b"".join(lines) + b"Content-Length: 0\r\n\r\n"


@functools.cache
def http_cases() -> tuple[HttpCase, ...]:
    return (
        HttpCase("gzip-bomb", (_encoded(_bomb(64 * 2**20, 31), "gzip"),), OVER),
        HttpCase("deflate-bomb", (_encoded(_bomb(64 * 2**20, 15), "deflate"),), OVER),
        HttpCase("endless-no-length", (Reply(200, endless=True, content_length=-1),), OVER),
        HttpCase("endless-huge-length", (Reply(200, endless=True, content_length=10**12),),
                 OVER),
        HttpCase("oversized", (Reply(200, body=b"<rss>" + b" " * 200_000),), OVER),
        HttpCase("drip-1-byte", (Reply(200, body=RSS, drip=1, drip_interval=0.2),), "total timeout"),
        HttpCase("stall-before-headers", (Reply(200, body=RSS, delay=60),), "total timeout"),
        HttpCase("stall-after-headers", (Reply(200, body=RSS, body_delay=60),), "total timeout"),
        HttpCase("truncated-headers", (Reply(raw=b"HTTP/1.1 200 OK\r\n" + b"X-Cut: 1\r\n" * 400),),
                 "RemoteProtocolError"),
        HttpCase("reset", (Reply(reset=True),), "Error"),
        HttpCase("reset-mid-body", (Reply(raw=b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n<rss>",
                                          reset=True),), "Error"),
        HttpCase("not-http", (Reply(raw=b"SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n"),),
                 "RemoteProtocolError"),
        HttpCase("thousands-of-headers", (Reply(raw=_head([b"X-H%d: v\r\n" % i for i in range(20_000)])),),
                 "RemoteProtocolError"),
        HttpCase("huge-header-value", (Reply(raw=_head([b"X-Big: " + b"v" * 2**20 + b"\r\n"])),),
                 "RemoteProtocolError"),
        HttpCase("redirect-loop", (Reply.redirect(302, "/redirect-loop"),), "more than 5 redirects"),
        HttpCase("redirect-chain", (Reply.redirect(301, "/chain/1"),), "more than 5 redirects",
                 tuple((f"/chain/{n}", (Reply.redirect(301, f"/chain/{n + 1}"),)) for n in range(1, 30))),
        HttpCase("redirect-to-file", (Reply.redirect(302, "file:///etc/passwd"),), "non-HTTP URL"),
        HttpCase("redirect-to-ftp", (Reply.redirect(301, "ftp://127.0.0.1/feed"),), "non-HTTP URL"),
        HttpCase("redirect-to-javascript", (Reply.redirect(302, "javascript:alert(1)"),), "URL"),
        HttpCase("redirect-to-private", (Reply.redirect(302, "http://localhost:9/feed"),),
                 "not a public address"),
        HttpCase("429-enormous-retry-after", (Reply(429, headers=(("Retry-After", "9" * 50_000),)),),
                 "HTTP 429"),
        HttpCase("503-malformed-retry-after", (Reply(503, headers=(("Retry-After", "soon, I promise"),)),),
                 "HTTP 503"),
        HttpCase("503-year-9999", (Reply(503, headers=(("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"),)),),
                 "HTTP 503"),
    )


@dataclass(frozen=True)
class XmlCase:
    name: str
    body: bytes
    error: str | None  # words of the ParseError; None: parsed, with the danger neutralised


def _rss(title: str, prolog: str = "", extra: str = "") -> bytes:
    return (f'<?xml version="1.0"?>\n{prolog}<rss version="2.0"><channel><title>t</title><item>'
            f"<title>{title}</title><link>https://x.example/1</link>{extra}</item></channel></rss>").encode()


def xml_cases(secret_path: str, dtd_url: str) -> tuple[XmlCase, ...]:
    """The hostile documents; `secret_path` is a file they try to read, `dtd_url` a URL they try to load."""
    laughs = '<!ENTITY a "ha">' + "".join(
        f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">' for n in range(9))
    return (
        XmlCase("billion-laughs", _rss("&j;", f"<!DOCTYPE rss [{laughs}]>"), "declares a text entity"),
        XmlCase("quadratic-blowup", _rss("&a;" * 20_000, f'<!DOCTYPE rss [<!ENTITY a "{"x" * 50_000}">]>'),
                "declares a text entity"),
        XmlCase("external-file-entity",
                _rss("&x;", f'<!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret_path}">]>'),
                "declares an external entity"),
        XmlCase("external-network-entity", _rss("&x;", f'<!DOCTYPE rss [<!ENTITY x SYSTEM "{dtd_url}">]>'),
                "declares an external entity"),
        XmlCase("parameter-entity", _rss("t", f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{dtd_url}"> %p;]>'),
                "parameter entity"),
        XmlCase("external-dtd", _rss("External DTD", f'<!DOCTYPE rss SYSTEM "{dtd_url}">'), None),
        XmlCase("public-dtd", _rss("Public DTD", f'<!DOCTYPE rss PUBLIC "-//X//EN" "{dtd_url}">'), None),
        XmlCase("doctype-inside", _rss("t", extra='<!DOCTYPE x [<!ENTITY y "z">]>'), "inside the document"),
        XmlCase("xinclude", _rss("XInclude", extra=(
            '<description xmlns:xi="http://www.w3.org/2001/XInclude">'
            f'<xi:include href="file://{secret_path}" parse="text"/></description>')), None),
        XmlCase("deep-nesting", _rss("<b>" * 100_000 + "x" + "</b>" * 100_000), "nested more than"),
        XmlCase("many-elements", _rss("t", extra="<x/>" * 50_000), "more than 30000 elements"),
        XmlCase("truncated", _rss("Truncated")[:-40], None),
        XmlCase("garbage", b"\x00\xff" * 5000, "not a well-formed feed"),
        XmlCase("control-characters", _rss("Con\x01tr\x0bol &#1;&#x1b;chars"), None),
        XmlCase("char-entity-ok", _rss("A&nbsp;B", '<!DOCTYPE rss [<!ENTITY nbsp "&#160;">]>'), None),
    )
