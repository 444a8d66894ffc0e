"""URL canonicalisation: one story, one link, whatever the tracking noise.

Used to recognise the same item behind different guids or links: scheme
folded to https, host lower-cased without "www.", default port, fragment and
tracking parameters dropped, remaining query parameters sorted.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that only say where a click came from.
TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid", "_hsenc", "_hsmi",
     "ref", "ref_src", "cmpid", "amp", "output"}
)
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_")
# An absolute http(s) URL that urljoin gives back unchanged whatever the base: lower-case scheme, ASCII
# host, no ";" params, no empty "?" or "#", no whitespace (tests/test_fastparse.py checks it on input
# generated against urljoin).
_PLAIN_ABSOLUTE = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[^\s;?#]*)?(?:\?[^\s#]+)?(?:#\S+)?\Z")


def is_plain_absolute(url: str) -> bool:
    """Whether `url` is an absolute http(s) URL that joining to any base leaves as it is."""
    return _PLAIN_ABSOLUTE.match(url) is not None


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """A comparison key for `url` (not for display: the scheme is folded)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a malformed netloc or port: compare the text as given
        return url.strip()
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return url.strip()
    host = parts.hostname.lower().removeprefix("www.")
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    return urlunsplit(("https", netloc, path, urlencode(sorted(query)), ""))


# Pure, and each link is canonicalised several times per fetch (guid checks, the guid map, identity
# keys, the links a fetch shares): one cache for all of them.
cached_canonical_url = functools.lru_cache(maxsize=8192)(canonical_url)
