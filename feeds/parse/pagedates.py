"""Dates as web pages write them: "7 December 2026", "07.12.2026", "7 Δεκεμβρίου 2026", ISO 8601.

The only module that imports dateparser. A page's date is read in the source's language (its
`language`, else the page's `<html lang>`): month and weekday names, and the order of day and
month, are the language's. A date written with dots ("07.12.2026") is day first in every
language that writes dates so, English pages of European parties included.

Only whole dates are read: a day, a month and a year. A date without a year ("7 December")
or a relative one ("2 hours ago", "yesterday") would need the clock, and the parse stage does
not read it: such a date counts as unreadable, and normalise dates the item by its first
fetch instead (feeds/parse/normalise.py). A date without a time of day is midnight, and one
without a time zone is UTC.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime

import dateparser

# timestamp: "1765101600"; absolute-time: everything written as a calendar date. Relative
# dates and dates missing a part would be filled in from the clock.
_SETTINGS = {
    "TIMEZONE": "UTC", "RETURN_AS_TIMEZONE_AWARE": True, "REQUIRE_PARTS": ["day", "month", "year"],
    "PARSERS": ["timestamp", "absolute-time"],
}
_DOTTED = re.compile(r"\s*\d{1,2}\.\s?\d{1,2}\.\s?\d{2,4}\b")
MAX_DATE_CHARS = 200  # a longer text is not a date (and dateparser's time grows with it)


def read_date(text: str, language: str | None = None) -> datetime | None:
    """The date `text` writes, in UTC; None if it does not write a whole date."""
    text = " ".join(text.split())
    if not text or len(text) > MAX_DATE_CHARS:
        return None
    iso = _iso(text)
    if iso is not None:
        return iso
    found = _parser(_locale(language), "DMY" if _DOTTED.match(text) else None).get_date_data(text)
    when = found.date_obj if found is not None else None
    return when.astimezone(UTC) if when is not None else None


def _iso(text: str) -> datetime | None:
    """An ISO 8601 date or time (`<time datetime>` writes them), without dateparser's guessing."""
    if not text[:4].isdigit() or len(text) < 10:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@functools.lru_cache(maxsize=64)
def _locale(language: str | None) -> tuple[str | None, str | None]:
    """(dateparser locale, dateparser language) for a BCP 47 tag: "en-GB" and "sr-Latn" are
    locales of their own, "el" a language; (None, None) for a language dateparser does not
    know, whose dates it then reads in any language it knows."""
    if not language:
        return None, None
    primary, *rest = language.split("-")
    primary = primary.lower()
    if rest:
        subtags = [tag.title() if len(tag) == 4 else tag.upper() if len(tag) == 2 else tag for tag in rest]
        for cut in range(len(subtags), 0, -1):  # "sr-Latn-RS", then "sr-Latn"
            locale = "-".join((primary, *subtags[:cut]))
            if _known(locale=locale):
                return locale, None
    return (None, primary) if _known(language=primary) else (None, None)


def _known(*, language: str | None = None, locale: str | None = None) -> bool:
    try:  # dateparser checks the names when it first parses
        _parser((locale, language), None).get_date_data("2000-01-01")
    except ValueError:  # dateparser: "Unknown language(s)" / "Unknown locale(s)"
        return False
    return True


@functools.lru_cache(maxsize=64)
def _parser(where: tuple[str | None, str | None], order: str | None) -> dateparser.date.DateDataParser:
    locale, language = where
    settings = {**_SETTINGS, "DATE_ORDER": order} if order else _SETTINGS
    return dateparser.date.DateDataParser(languages=[language] if language else None,
                                          locales=[locale] if locale else None,
                                          try_previous_locales=False, settings=settings)
