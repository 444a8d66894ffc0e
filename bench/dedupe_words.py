# ruff: noqa: E501  (title templates: data, one language per line)
"""Title templates for the deduplication corpus's near-misses, in eight languages.

Each near-miss is a pair of titles a reader tells apart at a glance although
most of their words agree: a number, an ordinal, a date or a week changes, or
the title says nothing at all ("Press release"). `{theme}` is a generated
subject, `{n}` a number, `{g}` a summit's name.
"""

from __future__ import annotations

# Numbered series: one template per kind of series; members differ only in `{n}` (or `{g}`).
SERIES: dict[str, dict[str, str]] = {
    "podcast": {
        "en": "Podcast #{n}: {theme}", "el": "Podcast #{n}: {theme}", "es": "Podcast #{n}: {theme}",
        "pt": "Podcast #{n}: {theme}", "tr": "Podcast #{n}: {theme}", "ru": "Подкаст №{n}: {theme}",
        "de": "Podcast #{n}: {theme}", "fr": "Podcast n°{n} : {theme}",
    },
    "part": {
        "en": "{theme}, Part {n}", "el": "{theme}, Μέρος {n}", "es": "{theme}, parte {n}",
        "pt": "{theme}, parte {n}", "tr": "{theme}, Bölüm {n}", "ru": "{theme}, часть {n}",
        "de": "{theme}, Teil {n}", "fr": "{theme}, partie {n}",
    },
    "congress": {
        "en": "Greetings to the {n} Congress: {theme}", "el": "Χαιρετισμός στο {n}ο Συνέδριο: {theme}",
        "es": "Saludo al {n}.º Congreso: {theme}", "pt": "Saudação ao {n}.º Congresso: {theme}",
        "tr": "{n}. Kongreye selam: {theme}", "ru": "Приветствие {n}-му съезду: {theme}",
        "de": "Grußwort zum {n}. Parteitag: {theme}", "fr": "Salut au {n}e congrès : {theme}",
    },
    "summit": {
        "en": "Statement on the {g} summit: {theme}", "el": "Ανακοίνωση για τη σύνοδο της {g}: {theme}",
        "es": "Declaración sobre la cumbre del {g}: {theme}", "pt": "Declaração sobre a cimeira do {g}: {theme}",
        "tr": "{g} zirvesi üzerine açıklama: {theme}", "ru": "Заявление о саммите {g}: {theme}",
        "de": "Erklärung zum {g}-Gipfel: {theme}", "fr": "Déclaration sur le sommet du {g} : {theme}",
    },
}
SUMMITS = ("G7", "G20")

# Dated bulletins: `{day}` and `{month}` (a month name below), or `{week}`.
DAILY = {
    "en": "Daily bulletin, {day} {month} 2024", "el": "Ημερήσιο δελτίο, {day} {month} 2024",
    "es": "Boletín diario, {day} de {month} de 2024", "pt": "Boletim diário, {day} de {month} de 2024",
    "tr": "Günlük bülten, {day} {month} 2024", "ru": "Ежедневный бюллетень, {day} {month} 2024",
    "de": "Tagesbulletin, {day}. {month} 2024", "fr": "Bulletin quotidien, {day} {month} 2024",
}
WEEKLY = {
    "en": "Weekly digest, week {week}", "el": "Εβδομαδιαία επισκόπηση, εβδομάδα {week}",
    "es": "Resumen semanal, semana {week}", "pt": "Resumo semanal, semana {week}",
    "tr": "Haftalık özet, {week}. hafta", "ru": "Еженедельный дайджест, неделя {week}",
    "de": "Wochenübersicht, Woche {week}", "fr": "Résumé hebdomadaire, semaine {week}",
}
MONTHS = {  # February and March: the corpus's weeks
    "en": ("February", "March"), "el": ("Φεβρουαρίου", "Μαρτίου"), "es": ("febrero", "marzo"),
    "pt": ("fevereiro", "março"), "tr": ("Şubat", "Mart"), "ru": ("февраля", "марта"),
    "de": ("Februar", "März"), "fr": ("février", "mars"),
}

# Titles that say nothing: many sources use them, and one source uses them again and again.
GENERIC = {
    "en": ("Press release", "Statement", "Announcement"), "el": ("Δελτίο Τύπου", "Ανακοίνωση", "Δήλωση"),
    "es": ("Comunicado", "Nota de prensa", "Declaración"), "pt": ("Comunicado", "Nota à imprensa", "Declaração"),
    "tr": ("Basın açıklaması", "Açıklama", "Duyuru"), "ru": ("Пресс-релиз", "Заявление", "Сообщение"),
    "de": ("Pressemitteilung", "Erklärung", "Mitteilung"), "fr": ("Communiqué", "Déclaration", "Communiqué de presse"),
}

# What an aggregator appends to a party's link when it shares it.
TRACKING = ("?utm_source=rss&utm_medium=feed", "?utm_source=twitter&utm_medium=social&utm_campaign=share",
            "?fbclid=IwAR0x7Kq2c9bench", "?utm_source=newsletter&fbclid=IwAR3bench")


def ordinal_en(number: int) -> str:
    """21st, 22nd, 23rd, 24th, 11th: the English congress numbers."""
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th')}"
