"""The `telegram` source kind: a public channel, read from its web preview (`https://t.me/s/<channel>`).

The preview lists the channel's latest messages (about twenty), oldest first, each a
`div.tgme_widget_message` with `data-post="<channel>/<number>"`. Each message becomes a
ParsedEntry, newest first:

- guid and link: the message's permalink, `https://t.me/<channel>/<number>`, whatever URL the
  preview was fetched from (a mirror, a test server), so an item keeps its id;
- title: the first line of its text, when that line is a headline (at most MAX_TITLE_CHARS);
  otherwise none, and normalise names the item by its opening words, as an untitled entry.
  A message of photos alone is titled "Photo" or "Photos" (too generic for deduplication to
  match it by its title: feeds/dedupe/rules.py);
- content: its text (`.tgme_widget_message_text`, not the quoted text of a reply), after its
  photos (`a.tgme_widget_message_photo_wrap`, whose `background-image` is the picture) as
  images, and after "Forwarded from …" for a forwarded message (`.tgme_widget_message_forwarded_from`),
  whose original channel is also its author; raw markup, sanitised by normalise;
- published: `.tgme_widget_message_date time[datetime]`.

Service messages ("channel photo updated") are left out. A page without a single message is a
ParseError: not a channel's preview (an unknown channel's address redirects to a page without
one), or the preview's layout changed.
"""

from __future__ import annotations

import copy
import html
import re
from collections.abc import Mapping

from lxml import etree

from feeds.errors import ParseError
from feeds.model import SourceSpec
from feeds.parse import ParsedEntry, ParsedFeed
from feeds.parse.pagedates import read_date
from feeds.parse.pages import Page, has_class, inner_html, read_page, select_all, selector, text_of
from feeds.parse.xmlguard import MAX_ENTRIES

PREVIEW = "https://t.me/s/{channel}"
PERMALINK = "https://t.me/{post}"
CHANNEL = re.compile(r"[A-Za-z0-9_]{3,64}")
MAX_TITLE_CHARS = 200
_POST = re.compile(r"([A-Za-z0-9_]{3,64})/(\d{1,12})")
_BACKGROUND = re.compile(r"background-image\s*:\s*url\(\s*(['\"]?)([^'\")]+)\1\s*\)", re.IGNORECASE)
_TEXT = ".tgme_widget_message_text"
_DATE = selector(".tgme_widget_message_date time@datetime")
_FORWARDED = ".tgme_widget_message_forwarded_from"
_FORWARDED_NAME = selector(".tgme_widget_message_forwarded_from_name")
_FORWARDED_LINK = selector(".tgme_widget_message_forwarded_from_name@href")
_AUTHOR = selector(".tgme_widget_message_from_author")
_PHOTOS = "a.tgme_widget_message_photo_wrap"
_CHANNEL_TITLE = selector(".tgme_channel_info_header_title")
_OG_TITLE = selector("meta[property='og:title']@content")


def preview_url(channel: str) -> str:
    """Where a public channel's web preview is."""
    return PREVIEW.format(channel=channel)


def check_channel(channel: str | None) -> str | None:
    """What is wrong with a channel name; None if it is one."""
    if not channel:
        return "required: the public channel's name, as in https://t.me/<name>"
    if not CHANNEL.fullmatch(channel):
        return f"a channel's name is letters, digits and '_' (as in https://t.me/<name>), not {channel!r}"
    return None


def parse_channel(body: bytes, headers: Mapping[str, str], url: str, spec: SourceSpec) -> ParsedFeed:
    """The preview's messages as a ParsedFeed, newest first; ParseError if it shows none."""
    page = read_page(body, headers, url, spec.language)
    messages = [element for element in select_all(page.root, "div.tgme_widget_message[data-post]")
                if _POST.fullmatch(element.get("data-post", "").strip())]
    if not messages:
        raise ParseError(f"no messages (div.tgme_widget_message[data-post]) on the page from {url}: "
                         "not a public channel's web preview, or its layout changed")
    kept = [message for message in messages if not has_class(message, "service_message")]
    entries = tuple(_entry(message, page) for message in reversed(kept[-MAX_ENTRIES:]))
    channel = spec.channel or messages[0].get("data-post", "").partition("/")[0]
    title = text_of(page.root, _CHANNEL_TITLE) or text_of(page.root, _OG_TITLE) or page.title
    return ParsedFeed(url=url, version="telegram", title=title, link=f"https://t.me/{channel}",
                      language=page.language, encoding=page.encoding, entries=entries,
                      encoding_note=page.encoding_note)


def _entry(message: etree._Element, page: Page) -> ParsedEntry:
    permalink = PERMALINK.format(post=message.get("data-post", "").strip())
    text = _text(message)
    forwarded = _forwarded(message, page)
    photos = _photos(message, page)
    parts = [forwarded[0] if forwarded else "", *photos, inner_html(text) if text is not None else ""]
    written_date = text_of(message, _DATE)
    published = read_date(written_date) if written_date else None
    author = forwarded[1] if forwarded else text_of(message, _AUTHOR)
    return ParsedEntry(
        guid=permalink, link=permalink, title=_title(text, photos), title_is_html=False,
        summary=None, content="".join(parts) or None, published=published, updated=None,
        authors=(author,) if author else (), categories=(), language=None, base=page.base,
        unread_dates=(f"published={written_date!r}",) if written_date and published is None else (),
    )


def _text(message: etree._Element) -> etree._Element | None:
    """The message's own text: not the quoted text of the message it replies to."""
    for element in select_all(message, _TEXT):
        if not any(has_class(above, "tgme_widget_message_reply") for above in element.iterancestors()):
            return element
    return None


def _title(text: etree._Element | None, photos: list[str]) -> str | None:
    """The text's first line, if it reads as a headline; "Photo(s)" for photos without text."""
    if text is None:
        return ("Photos" if len(photos) > 1 else "Photo") if photos else None
    lines = copy.deepcopy(text)
    for br in lines.iter("br"):
        br.tail = "\n" + (br.tail or "")
    first = next((line for line in lines.text_content().splitlines() if line.strip()), "")
    first = " ".join(first.split())
    return first if first and len(first) <= MAX_TITLE_CHARS else None


def _photos(message: etree._Element, page: Page) -> list[str]:
    images = []
    for wrap in select_all(message, _PHOTOS):
        found = _BACKGROUND.search(wrap.get("style") or "")
        src = page.absolute(found.group(2)) if found else None
        if src:
            images.append(f'<p><img src="{html.escape(src)}" alt=""></p>')
    return list(dict.fromkeys(images))


def _forwarded(message: etree._Element, page: Page) -> tuple[str, str | None] | None:
    """("Forwarded from …" as HTML, the original channel's name), for a forwarded message."""
    if not select_all(message, _FORWARDED):
        return None
    name = text_of(message, _FORWARDED_NAME)
    link = page.absolute(text_of(message, _FORWARDED_LINK))
    who = html.escape(name or "another channel", quote=False)
    if link:
        who = f'<a href="{html.escape(link)}">{who}</a>'
    return f"<p>Forwarded from {who}</p>", name
