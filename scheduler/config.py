"""The configuration file: read once, validated, turned into typed objects.

Every problem is a ConfigError naming the file, the dotted key and its line:
unknown keys, wrong types, missing files. Relative paths are resolved against
the configuration file's folder, never the current directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from feeds.errors import ConfigError
from feeds.fetch import FetchSettings, user_agent
from feeds.kinds import KINDS
from feeds.kinds import check as check_kind
from feeds.model import SiteInfo, SourceSpec
from feeds.parse.languages import EXAMPLES, is_language_tag
from feeds.parse.yamldoc import LineDict, LineList, describe, load_yaml
from scheduler.feedconfig import FeedsConfig, read_feeds

SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_MISSING = object()


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    """How `partyfeeds serve` schedules and serves."""

    host: str = "127.0.0.1"
    port: int = 8080
    idle_timeout: float = 30.0  # seconds an idle HTTP connection is kept
    max_connections: int = 64  # connections served at once, a thread each; more wait to be accepted
    backlog: int = 1024  # connections the kernel queues before accept: a burst of readers waits, not refused
    jitter_seconds: int = 60  # each source's polls are spread by up to this much
    publish_delay: float = 5.0  # a burst of ingests publishes once, this long after the last
    seeds_check_seconds: int = 60  # how often seed documents are checked for changes
    min_interval: int = 60  # the shortest polling interval a source may have


@dataclass(frozen=True, slots=True)
class Config:
    """Everything partyfeeds reads from the configuration file."""

    path: Path
    site: SiteInfo
    contact_url: str | None
    database: str
    output_dir: Path
    seed_paths: tuple[Path, ...]
    seed_language: str | None
    seed_publisher: str  # credited for seed documents that name none: `seeds.publisher`, else the site title
    parties_path: Path
    topics_path: Path
    registry_overrides: tuple[Path, ...]
    sources: tuple[SourceSpec, ...]
    fetch: FetchSettings
    fetch_workers: int
    processes: int  # worker processes for a backlog of feeds and a large publish; 1: none
    source_origins: dict[str, tuple[str, int | None]]  # id -> (file, line), for later errors
    sources_file: Path  # extra sources; `partyfeeds import-opml` adds to it
    daemon: DaemonSettings
    feeds: FeedsConfig = field(default_factory=FeedsConfig)  # archives, composed feeds (feedconfig.py)


class Section:
    """One mapping of the config, read key by key; leftovers are errors."""

    def __init__(self, data: Any, file: str, key: str, line: int | None) -> None:
        if data is None:
            data = LineDict()
            data.line, data.key_lines = line, {}
        if not isinstance(data, LineDict):
            raise ConfigError(f"must be a mapping, not {describe(data)}", path=file, line=line,
                              key=key or None)
        self.data, self.file, self.key, self.seen = data, file, key, set[str]()
        self.base = Path(file).parent

    def _name(self, key: str) -> str:
        return f"{self.key}.{key}" if self.key else key

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, path=self.file, line=self.data.line_of(key), key=self._name(key))

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        self.seen.add(key)
        if key not in self.data or self.data[key] is None:
            if default is _MISSING:
                raise ConfigError("required key is missing", path=self.file, line=self.data.line,
                                  key=self._name(key))
            return default
        value = self.data[key]
        # bool is an int in Python; a YAML `yes` must not pass as a number.
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            raise self.error(key, f"must be {_names(kind)}, not {describe(value)}")
        return value

    def text(self, key: str, default: Any = _MISSING) -> Any:
        value = self.get(key, str, default)
        if isinstance(value, str) and not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def language(self, key: str) -> str | None:
        """An optional BCP 47 language tag (feeds/parse/languages.py): it is published as `xml:lang`."""
        value: str | None = self.text(key, None)
        if value is not None and not is_language_tag(value):
            raise self.error(key, f"must be a BCP 47 language tag such as {EXAMPLES}, not {value!r}")
        return value

    def integer(self, key: str, default: Any = _MISSING, minimum: int = 0) -> Any:
        value = self.get(key, int, default)
        if isinstance(value, int) and value < minimum:
            raise self.error(key, f"must be at least {minimum}")
        return value

    def seconds(self, key: str, default: float) -> float:
        value = self.get(key, (int, float), default)
        if value <= 0:
            raise self.error(key, "must be a positive number of seconds")
        return float(value)

    def url(self, key: str, default: Any = _MISSING) -> Any:
        value = self.text(key, default)
        if isinstance(value, str) and (urlsplit(value).scheme not in ("http", "https")
                                       or not urlsplit(value).netloc):
            raise self.error(key, f"must be an absolute http(s) URL, not {value!r}")
        return value

    def path(self, key: str, default: Any = _MISSING, must_exist: bool = True) -> Path:
        return self._resolve(key, self.text(key, default), must_exist, self.data.line_of(key))

    def paths(self, key: str, must_exist: bool = True) -> tuple[Path, ...]:
        values = self.get(key, list, LineList())
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise self.error(key, "must be a list of paths")
        return tuple(self._resolve(key, v, must_exist, values.line_of(n)) for n, v in enumerate(values))

    def _resolve(self, key: str, value: str, must_exist: bool, line: int | None) -> Path:
        path = (self.base / value).resolve()
        if must_exist and not path.exists():
            raise ConfigError(f"no such file or directory: {path}", path=self.file, line=line,
                              key=self._name(key))
        return path

    def section(self, key: str) -> Section:
        self.seen.add(key)
        return Section(self.data.get(key), self.file, self._name(key), self.data.line_of(key))

    def finish(self) -> None:
        """Unknown keys are errors: a typo must not silently fall back to a default."""
        for key in self.data:
            if key not in self.seen:
                raise self.error(key, f"unknown key (known here: {', '.join(sorted(self.seen))})")


def load_config(path: Path) -> Config:
    """Read and validate the configuration file at `path`."""
    path = path.resolve()
    if not path.is_file():
        raise ConfigError("configuration file not found", path=str(path))
    root = Section(load_yaml(path, ConfigError), str(path), "", 1)
    output = root.section("output")
    output_dir = output.path("directory", "public", must_exist=False)
    entries_per_feed = output.integer("entries_per_feed", 50, minimum=1)
    output.finish()
    site, contact = _site(root.section("site"), entries_per_feed)
    storage = root.section("storage")
    database = storage.text("database")
    database = database if database == ":memory:" else str(storage.path("database", must_exist=False))
    storage.finish()
    seeds = root.section("seeds")
    seed_paths = seeds.paths("paths")
    seed_language = seeds.language("language")
    seed_publisher = seeds.text("publisher", None) or site.title
    seeds.finish()
    registry = root.section("registry")
    daemon = _daemon(root.section("server"), root.section("schedule"))
    sources_file = root.path("sources_file", "sources.imported.yaml", must_exist=False)
    sources, source_origins = _sources(root, sources_file, daemon.min_interval)
    fetch, workers = _fetch(root.section("fetch"), contact or site.base_url)
    config = Config(
        path=path, site=site, contact_url=contact, database=database,
        output_dir=output_dir,
        seed_paths=seed_paths, seed_language=seed_language, seed_publisher=seed_publisher,
        parties_path=registry.path("parties"),
        topics_path=registry.path("topics"),
        registry_overrides=registry.paths("overrides"), sources=sources, fetch=fetch,
        fetch_workers=workers, processes=root.integer("processes", 2, minimum=1),
        source_origins=source_origins,
        sources_file=sources_file, daemon=daemon, feeds=read_feeds(root.section("feeds")),
    )
    registry.finish()
    root.finish()
    return config


def _site(site: Section, entries_per_feed: int) -> tuple[SiteInfo, str | None]:
    base_url = site.url("base_url")
    author = site.section("author")
    info = SiteInfo(
        title=site.text("title"), base_url=base_url if base_url.endswith("/") else base_url + "/",
        author_name=author.text("name"), author_uri=author.url("uri", None),
        author_email=author.text("email", None),
        entries_per_feed=entries_per_feed,
        hub_url=site.url("hub_url", None),
    )
    contact = site.url("contact_url", None)
    author.finish()
    site.finish()
    return info, contact


def _daemon(server: Section, schedule: Section) -> DaemonSettings:
    defaults = DaemonSettings()
    settings = DaemonSettings(
        host=server.text("host", defaults.host),
        port=server.integer("port", defaults.port, minimum=0),
        idle_timeout=server.seconds("idle_timeout", defaults.idle_timeout),
        max_connections=server.integer("max_connections", defaults.max_connections, minimum=1),
        backlog=server.integer("backlog", defaults.backlog, minimum=1),
        jitter_seconds=schedule.integer("jitter", defaults.jitter_seconds, minimum=0),
        publish_delay=schedule.seconds("publish_delay", defaults.publish_delay),
        seeds_check_seconds=schedule.integer("seeds_check", defaults.seeds_check_seconds, minimum=1),
        min_interval=schedule.integer("min_interval", defaults.min_interval, minimum=1),
    )
    if settings.port > 65535:
        raise server.error("port", "must be at most 65535")
    server.finish()
    schedule.finish()
    return settings


def _fetch(fetch: Section, contact: str) -> tuple[FetchSettings, int]:
    settings = FetchSettings(
        user_agent=user_agent(contact),
        connect_timeout=fetch.seconds("connect_timeout", 10),
        read_timeout=fetch.seconds("read_timeout", 20),
        total_timeout=fetch.seconds("total_timeout", 60),
        max_body_bytes=fetch.integer("max_body_bytes", 10 * 2**20, minimum=1024),
        max_redirects=fetch.integer("max_redirects", 5, minimum=0),
        allow_hosts=_allow_hosts(fetch),
    )
    workers = fetch.integer("workers", 8, minimum=1)
    fetch.finish()
    return settings, workers


ALLOW_HOST = re.compile(r"^(?:[a-z0-9._-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$|^[0-9a-f:.]*:[0-9a-f:.]*$")


def _allow_hosts(fetch: Section) -> tuple[str, ...]:
    """Hosts ("name", "name:port", "[v6]:port") exempt from the private-address block."""
    values = fetch.get("allow_hosts", list, LineList())
    hosts = tuple(str(v).strip().lower() for v in values if isinstance(v, str))
    if len(hosts) != len(values) or not all(ALLOW_HOST.match(h) for h in hosts):
        raise fetch.error("allow_hosts", "must be a list of host names or host:port pairs")
    return hosts


def _sources(root: Section, sources_file: Path, min_interval: int
             ) -> tuple[tuple[SourceSpec, ...], dict[str, tuple[str, int | None]]]:
    """Sources listed in the config, then those of `sources_file` (where imports go)."""
    specs: dict[str, SourceSpec] = {}
    origins: dict[str, tuple[str, int | None]] = {}
    _read_sources(root, specs, origins, min_interval)
    if sources_file.exists():
        document = Section(load_yaml(sources_file, ConfigError), str(sources_file), "", 1)
        _read_sources(document, specs, origins, min_interval)
        document.finish()
    return tuple(specs.values()), origins


def _read_sources(section: Section, specs: dict[str, SourceSpec],
                  origins: dict[str, tuple[str, int | None]], min_interval: int) -> None:
    entries = section.get("sources", list, LineList())
    for index, entry in enumerate(entries):
        line = entries.line_of(index)
        source = Section(entry, section.file, f"sources[{index}]", line)
        kind = source.text("kind", "feed")
        if kind not in KINDS:
            raise source.error("kind", f"unknown source kind {kind!r} (known: {', '.join(sorted(KINDS))})")
        spec = SourceSpec(
            id=source.text("id"), url=source.url("url", None) or "", party=source.text("party", None),
            language=source.language("language"),
            interval_seconds=source.integer("interval", 3600, minimum=min_interval),
            enabled=source.get("enabled", bool, True), title=source.text("title", None),
            kind=kind, select=_select(source), channel=source.text("channel", None),
        )
        source.finish()
        if not SOURCE_ID.match(spec.id):
            raise source.error("id", f"must be lower-case letters, digits, '.', '_' or '-': {spec.id!r}")
        _check_kind(source, spec)
        if not spec.url:
            default = KINDS[kind].default_url(spec)
            if default is None:
                raise ConfigError("required key is missing", path=source.file, line=line,
                                  key=f"{source.key}.url")
            spec = replace(spec, url=default)
        if spec.id in specs:
            raise source.error("id", f"duplicate source id {spec.id!r} (also at {origins[spec.id][0]})")
        specs[spec.id] = spec
        origins[spec.id] = (section.file, line)


def _select(source: Section) -> tuple[tuple[str, str], ...]:
    """A source's `select:` mapping of CSS selectors, as (field, selector) pairs in written order."""
    if source.data.get("select") is None:
        source.seen.add("select")
        return ()
    select = source.section("select")
    pairs = tuple((str(field), select.get(str(field), str)) for field in select.data)
    select.seen.update(str(field) for field in select.data)
    return pairs


def _check_kind(source: Section, spec: SourceSpec) -> None:
    """The source's kind-specific keys (feeds/kinds.py), reported at the line of the one at fault."""
    problem = check_kind(spec)
    if problem is None:
        return
    key, message = problem
    head, _, field = key.partition(".")
    if field and isinstance(source.data.get(head), LineDict) and field in source.data[head]:
        raise source.section(head).error(field, message)
    if field:
        raise ConfigError(message, path=source.file, line=source.data.line_of(head),
                          key=f"{source.key}.{key}")
    if head in source.data:
        raise source.error(head, message)
    raise ConfigError(message, path=source.file, line=source.data.line, key=f"{source.key}.{key}")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


_WORDS: dict[type, str] = {str: "text", int: "a whole number", float: "a number", bool: "true or false",
                          list: "a list", dict: "a mapping"}


def _names(kind: type | tuple[type, ...]) -> str:
    """The expected kind in words: "a whole number", "a number" (for int or float)."""
    kinds = _as_tuple(kind)
    if float in kinds:
        kinds = tuple(k for k in kinds if k is not int)  # a whole number is a number
    return " or ".join(_WORDS[k] for k in kinds)
