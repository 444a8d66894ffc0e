"""Dates as web pages write them (feeds/parse/pagedates.py), read in the source's language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feeds.parse.pagedates import read_date

DECEMBER_7 = datetime(2026, 12, 7, tzinfo=UTC)


@pytest.mark.parametrize(("text", "language", "when"), [
    ("7 December 2026", "en", DECEMBER_7),
    ("December 7, 2026", "en", DECEMBER_7),
    ("07.12.2026", "en", DECEMBER_7),  # dotted dates are day first, on English pages too
    ("07.12.2026", "de", DECEMBER_7),
    ("7 Δεκεμβρίου 2026", "el", DECEMBER_7),
    ("Δευτέρα, 7 Δεκεμβρίου 2026", "el", DECEMBER_7),
    ("7 Aralık 2026", "tr", DECEMBER_7),
    ("7 декабря 2026 г.", "ru", DECEMBER_7),
    ("7 de dezembro de 2026", "pt-BR", DECEMBER_7),
    ("7. decembar 2026.", "sr-Latn", DECEMBER_7),
    ("07/12/2026", "en-GB", DECEMBER_7),
    ("07/12/2026", "es", DECEMBER_7),
    ("7 Aralık 2026", None, DECEMBER_7),  # no language: any dateparser knows
    ("7 December 2026", "xx", DECEMBER_7),  # a language dateparser does not know: likewise
    ("Lunes, 7 de diciembre de 2026 - 10:30", "es", datetime(2026, 12, 7, 10, 30, tzinfo=UTC)),
    ("2026-12-07T10:00:00+02:00", None, datetime(2026, 12, 7, 8, tzinfo=UTC)),
    ("2026-12-07", "en", DECEMBER_7),
    ("  7   December\n 2026 ", "en", DECEMBER_7),
])
def test_dates_as_pages_write_them(text: str, language: str | None, when: datetime) -> None:
    assert read_date(text, language) == when


@pytest.mark.parametrize("text", [
    "", "Some time ago", "yesterday", "2 hours ago", "Χθες", "7 December",  # need the clock
    "December 2026", "Posted in News", "x" * 500,
])
def test_what_is_not_a_whole_date_is_unread(text: str) -> None:
    assert read_date(text, "en") is None
