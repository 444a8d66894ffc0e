"""What every fetch is configured with: timeouts, limits, the headers that name us."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
# Only what we can decompress in bounded steps with zlib (see _Decoder).
ACCEPT_ENCODING = "gzip, deflate"

def user_agent(contact_url: str) -> str:
    """The User-Agent: project, version and where feed owners can reach the operator."""
    try:
        release = version("partyfeeds")
    except PackageNotFoundError:  # running from a bare checkout
        release = "dev"
    return f"partyfeeds/{release} (+{contact_url})"


@dataclass(frozen=True, slots=True)
class FetchSettings:
    user_agent: str
    connect_timeout: float = 10
    read_timeout: float = 20
    total_timeout: float = 60  # hard deadline for the whole fetch, redirects and body included
    max_body_bytes: int = 10 * 2**20  # after decompression
    max_redirects: int = 5
    # Non-public addresses are refused unless the host ("name" or "name:port") is listed here.
    allow_hosts: tuple[str, ...] = ()
    block_private: bool = True
