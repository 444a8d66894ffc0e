"""Exceptions raised by partyfeeds.

PartyfeedsError            root: the CLI turns any of these into one line, exit 1
 +-- ConfigError           bad configuration: names the file, key and line
 +-- SeedError             a malformed seed document: names the file (and line)
 +-- RegistryError         a malformed party registry or topic taxonomy
 +-- FetchError            a source could not be fetched (network, HTTP status)
 +-- ParseError            fetched bytes are not a usable feed
 +-- StoreError            the SQLite store failed or has an unknown schema
 +-- DedupeError           a split that cannot be made (unknown item, source not among its sources)
 +-- PublishError          output could not be rendered or written

Third-party errors are wrapped at the adapter with ``raise ... from exc``.
"""

from __future__ import annotations


class PartyfeedsError(Exception):
    """Root of every error partyfeeds raises on purpose."""


class LocatedError(PartyfeedsError):
    """An error about a place in a file: ``path:line: key: message``."""

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None, key: str | None = None
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.key = key
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.path or ""
        if self.line is not None:
            where = f"{where}:{self.line}"
        prefix = f"{where}: " if where else ""
        key = f"{self.key}: " if self.key else ""
        return f"{prefix}{key}{self.message}"


class ConfigError(LocatedError):
    """The configuration is invalid."""


class SeedError(LocatedError):
    """A seed document is malformed."""


class RegistryError(LocatedError):
    """The party registry or topic taxonomy is malformed."""


class FetchError(PartyfeedsError):
    """A source could not be fetched."""


class ParseError(PartyfeedsError):
    """Fetched bytes are not a usable feed."""


class StoreError(PartyfeedsError):
    """The store failed."""


class DedupeError(PartyfeedsError):
    """A deduplication request that cannot be carried out: names the item and the source."""


class PublishError(PartyfeedsError):
    """Output could not be rendered or written."""
