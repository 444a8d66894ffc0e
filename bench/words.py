# ruff: noqa: E501, SIM905  (word lists: data, one language per line)
"""Word lists for the generated corpus: party news headlines in eight languages.

Each language has verb pairs (two forms of one verb: a copy of a story may use
either), places, qualifiers and filler sentences; topic words come from the
registry's own keywords, so the tagger finds topics as it would in the wild.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Language:
    code: str
    verbs: tuple[tuple[str, str], ...]  # (form used by the original, form used by a copy)
    places: tuple[str, ...]
    qualifiers: tuple[str, ...]
    sentences: tuple[str, ...]
    in_place: str  # "in {place}" in this language


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(tuple(pair.split("/", 1)) for pair in text.split("|"))  # type: ignore[misc]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


_CITIES = ("Athens|Piraeus|Thessaloniki|Istanbul|Izmir|Ankara|Madrid|Barcelona|Seville|Lisbon|Porto|Moscow|"
           "Berlin|Hamburg|Paris|Marseille|Rome|Havana|Santiago|Caracas|Brasília|Mexico City|Kolkata|Kerala|"
           "Tokyo|Hanoi|Beijing|Pretoria|Johannesburg|Nicosia|Prague|London|Glasgow|Washington|Chicago|Ramallah|"
           "Gaza|Beirut|Baghdad|Tehran|Damascus|Khartoum|Budapest|Kyiv|Brussels|Vienna|Ljubljana|Bogotá|Lima|"
           "Quito|Montevideo|Buenos Aires|Oslo|Stockholm|Helsinki|Copenhagen|Dublin|Warsaw|Sofia|Bucharest")

LANGUAGES: dict[str, Language] = {
    "en": Language(
        "en",
        _pairs("condemns/condemned|denounces/denounced|supports/supported|salutes/saluted|calls for/called for|"
               "protests/protested|rejects/rejected|demands/demanded|welcomes/welcomed|warns about/warned about|"
               "organises/organised|commemorates/commemorated|discusses/discussed|exposes/exposed"),
        _words(_CITIES),
        _words("after the strike|on the anniversary|before elections|at the meeting|in a statement|with unions|"
               "in parliament|at a rally|in an interview|before the congress|with youth|in a letter|at the festival"),
        _words("The statement was adopted by the Central Committee.|Thousands took part in the demonstration.|"
               "The party called on working people to organise.|Representatives of several parties spoke.|"
               "The full text is published on the party's website.|Trade unions joined the call."),
        "in {place}",
    ),
    "el": Language(
        "el",
        _pairs("καταγγέλλει/καταγγέλλουν|στηρίζει/στηρίζουν|χαιρετίζει/χαιρέτισε|απαιτεί/απαιτούν|"
               "διοργανώνει/διοργάνωσε|καταδικάζει/καταδίκασε|απορρίπτει/απέρριψε|τιμά/τίμησε|συζητά/συζήτησε"),
        _words(_CITIES),
        _words("στην απεργία|στην επέτειο|στις εκλογές|σε ανακοίνωση|με συνδικάτα|στη Βουλή|σε συγκέντρωση|σε συνέντευξη|στο συνέδριο|στο φεστιβάλ|σε επιστολή"),
        _words("Η ανακοίνωση εγκρίθηκε από την Κεντρική Επιτροπή.|Χιλιάδες πήραν μέρος στη διαδήλωση.|"
               "Το κόμμα καλεί τους εργαζόμενους να οργανωθούν.|Μίλησαν εκπρόσωποι πολλών κομμάτων."),
        "στην {place}",
    ),
    "es": Language(
        "es",
        _pairs("denuncia/denunció|apoya/apoyó|saluda/saludó|exige/exigió|rechaza/rechazó|convoca/convocó|"
               "condena/condenó|organiza/organizó|conmemora/conmemoró|advierte sobre/advirtió sobre"),
        _words(_CITIES),
        _words("tras la huelga|en el aniversario|ante las elecciones|en el encuentro|en una declaración|con los sindicatos|en el parlamento|en un mitin|en una entrevista|ante el congreso|en la fiesta|en una carta"),
        _words("La declaración fue aprobada por el Comité Central.|Miles de personas participaron en la marcha.|"
               "El partido llama a los trabajadores a organizarse.|Intervinieron representantes de varios partidos."),
        "en {place}",
    ),
    "pt": Language(
        "pt",
        _pairs("denuncia/denunciou|apoia/apoiou|saúda/saudou|exige/exigiu|rejeita/rejeitou|convoca/convocou|"
               "condena/condenou|organiza/organizou|assinala/assinalou"),
        _words(_CITIES),
        _words("após a greve|no aniversário|antes das eleições|no encontro|em declaração|com os sindicatos|na Assembleia|num comício|em entrevista|no congresso|na Festa|em carta"),
        _words("A declaração foi aprovada pelo Comité Central.|Milhares participaram na manifestação.|"
               "O partido apela aos trabalhadores para se organizarem."),
        "em {place}",
    ),
    "tr": Language(
        "tr",
        _pairs("kınadı/kınıyor|destekledi/destekliyor|selamladı/selamlıyor|talep etti/talep ediyor|"
               "reddetti/reddediyor|çağrı yaptı/çağrı yapıyor|düzenledi/düzenliyor|andı/anıyor|uyardı/uyarıyor"),
        _words(_CITIES),
        _words("grev sonrası|yıldönümünde|seçimler öncesi|toplantıda|açıklamada|sendikalarla|mecliste|mitingde|röportajda|kongrede|festivalde|mektupta"),
        _words("Açıklama Merkez Komitesi tarafından kabul edildi.|Binlerce kişi eyleme katıldı.|"
               "Parti emekçileri örgütlenmeye çağırdı."),
        "{place}'da",
    ),
    "ru": Language(
        "ru",
        _pairs("осуждает/осудила|поддерживает/поддержала|приветствует/приветствовала|требует/потребовала|"
               "отвергает/отвергла|призывает к/призвала к|организует/организовала|отмечает/отметила"),
        _words(_CITIES),
        _words("после забастовки|в годовщину|перед выборами|на встрече|в заявлении|с профсоюзами|в парламенте|на митинге|в интервью|на съезде|на фестивале|в письме"),
        _words("Заявление принято Центральным Комитетом.|В демонстрации приняли участие тысячи людей.|"
               "Партия призывает трудящихся к организации."),
        "в {place}",
    ),
    "de": Language(
        "de",
        _pairs("verurteilt/verurteilte|unterstützt/unterstützte|begrüßt/begrüßte|fordert/forderte|"
               "lehnt ab/lehnte ab|ruft auf zu/rief auf zu|organisiert/organisierte|erinnert an/erinnerte an"),
        _words(_CITIES),
        _words("im Streik|im Parlament|im Interview|im Bundestag|im Betrieb|am Jahrestag|am Parteitag|am Pressefest|am Streiktag|im Wahlkampf|im Aufruf|im Brief"),
        _words("Die Erklärung wurde vom Parteivorstand beschlossen.|Tausende nahmen an der Demonstration teil.|"
               "Die Partei ruft die Beschäftigten auf, sich zu organisieren."),
        "in {place}",
    ),
    "fr": Language(
        "fr",
        _pairs("condamne/a condamné|dénonce/a dénoncé|soutient/a soutenu|salue/a salué|exige/a exigé|"
               "rejette/a rejeté|appelle à/a appelé à|organise/a organisé|commémore/a commémoré"),
        _words(_CITIES),
        _words("en grève|en congrès|en meeting|en entretien|en déclaration|au Parlement|au festival|au rassemblement|en lettre|en campagne"),
        _words("La déclaration a été adoptée par le Comité central.|Des milliers de personnes ont manifesté.|"
               "Le parti appelle les travailleurs à s'organiser."),
        "à {place}",
    ),
}

# Who or what a story is about: people, companies, institutions, events (names are not translated).
NAMES = tuple((
    "Koutsoumbas|Okuyan|Centella|Roussel|Zyuganov|Yechury|Shii|Jerónimo|Sousa|Guevara|Mandela|Allende|"
    "Lumumba|Gramsci|Thälmann|Dimitrov|Ibárruri|Cunhal|Luxemburg|Liebknecht|Neruda|Ho Chi Minh|Castro|"
    "COSCO|Lafarge|Volkswagen|Siemens|Amazon|Glencore|Chevron|Vale|Petrobras|Renault|Alstom|Fraport|"
    "Cosmote|Hyundai|Samsung|Maersk|Airbus|Bayer|Nestlé|Unilever|Ryanair|Uber|Deliveroo|Carrefour|"
    "NATO|Frontex|Eurogroup|IMF|World Bank|OECD|ECB|UNRWA|ILO|WFTU|PAME|CGTP|CGT|COSATU|DISK|CCOO|"
    "Lenin Shipyard|Perama|Skaramangas|Eleusis|Larco|Halyvourgia|Soma|Gebze|Bursa|Setúbal|Sines|Ford Otosan|"
    "Taksim|Syntagma|Puerta del Sol|Avenida da Liberdade|Alexanderplatz|Place de la République|Red Square|"
    "Tahrir|Plaza de Mayo|Zócalo|Rathausplatz|Ramblas|Kızılay|Omonia|Propylaea|Lavrio|Ptolemaida|Megalopolis"
).split("|"))

SYLLABLES = tuple("ka ra ma ni to po lu de me ri sa ve lo ko ba ta ge zi mu fa".split())

# Share of each language in the corpus (roughly what party sites publish in).
LANGUAGE_WEIGHTS = {"en": 35, "el": 12, "es": 14, "pt": 8, "tr": 10, "ru": 9, "de": 6, "fr": 6}

# How a copy of a story says it came from elsewhere.
SUFFIXES = (" | 902.gr", " - ICP", " (video)", " — solidnet", " | Rizospastis", " - Mundo Obrero",
            " | soL", " - Avante!")
