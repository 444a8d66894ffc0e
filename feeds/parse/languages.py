"""Language tags as the configuration and seed documents give them: BCP 47 (RFC 5646).

A tag is accepted when it is well-formed by RFC 5646's grammar and its primary language
subtag has 2 or 3 letters (an ISO 639 code). The grammar also allows 4 to 8 letters there,
but those are reserved for future registration and none is in use, so a language's name
("english", "greek") - a likely slip for its code - is refused rather than published as
`xml:lang="english"`. Whether each subtag is registered is not checked: that takes the IANA
subtag registry. Grandfathered tags (i-klingon, en-GB-oed) are not accepted.
"""

from __future__ import annotations

import re

_TAG = re.compile(
    r"""
    (?: [a-z]{2,3} (?:-[a-z]{3}){0,3}          # language, extended language subtags
        (?:-[a-z]{4})?                          # script
        (?:-(?:[a-z]{2}|[0-9]{3}))?             # region
        (?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*  # variants
        (?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*    # extensions
        (?:-x(?:-[a-z0-9]{1,8})+)?              # private use
    | x(?:-[a-z0-9]{1,8})+ )                    # a private-use tag alone
    """,
    re.VERBOSE | re.IGNORECASE | re.ASCII,
)
EXAMPLES = "en, pt-BR, sr-Latn"


def is_language_tag(text: str) -> bool:
    """Whether `text` is a BCP 47 language tag we accept (see the module's docstring)."""
    return _TAG.fullmatch(text) is not None
