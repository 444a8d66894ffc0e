"""The `partyfeeds` command line.

Our own errors become one readable line on stderr and exit status 1;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from feeds import pipeline
from feeds import store as storage
from feeds.errors import PartyfeedsError
from feeds.fetch import make_client
from feeds.kinds import KINDS
from feeds.tag import Tagger, explain, tags_as_json
from feeds.tag.registry import describe, load_registry
from scheduler import jobs, logs, newsources, sources
from scheduler.config import load_config
from scheduler.progress import progress_bars


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=Path("config.yaml"),
                        help="configuration file (default: ./config.yaml)")
    common.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    common.add_argument("--log-format", default="text", choices=["text", "json"])
    parser = argparse.ArgumentParser(prog="partyfeeds", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("once", parents=[common], help="ingest everything once, then publish")
    commands.add_parser("publish", parents=[common], help="publish the feeds from the store")
    commands.add_parser("check-config", parents=[common], help="validate the configuration file")
    tag = commands.add_parser("tag", parents=[common],
                              help="show the parties and topics a text is tagged with, and why")
    tag.add_argument("text", nargs="?", help="text to tag (default: read standard input)")
    tag.add_argument("--json", action="store_true", help="print JSON")
    tag.add_argument("--language", help="the text's language (ISO 639-1), when known")
    why = commands.add_parser("dedupe-why", parents=[common],
                              help="say whether two items are one story, and which rule decided")
    why.add_argument("a", help="a stored item id, or a title")
    why.add_argument("b", help="another stored item id, or another title")
    why.add_argument("--party", action="append", default=[], help="the titles' party code (repeatable; "
                     "default: tag the titles)")
    why.add_argument("--language", help="the titles' language (ISO 639-1)")
    why.add_argument("--published", type=_utc_time, help="the titles' publication time (ISO 8601; "
                     "default: now)")
    split = commands.add_parser("split", parents=[common],
                                help="undo a merge: a source's entry of an item becomes its own item again")
    split.add_argument("item", help="the stored item's id (with or without urn:uuid:)")
    split.add_argument("source", help="the id of the source whose entry to split off")
    commands.add_parser("serve", parents=[common],
                        help="run the service: poll on schedule, publish, serve over HTTP (foreground)")
    table = commands.add_parser("sources", parents=[common], help="show every source's status")
    table.add_argument("--wide", action="store_true", help="one line per source, the last error unwrapped")
    table.add_argument("--json", action="store_true", help="print JSON")
    opml = commands.add_parser("import-opml", parents=[common],
                               help="add the feeds of an OPML subscription list as sources")
    opml.add_argument("file", type=Path, help="the OPML file")
    trying = commands.add_parser("try-source", parents=[common],
                                 help="fetch a source once and show what it would bring (nothing is stored)")
    trying.add_argument("source", help="a URL, or the id of a configured source")
    trying.add_argument("--kind", choices=sorted(KINDS),
                        help="how to read it (default: feed; html with --select)")
    trying.add_argument("--select", nargs="+", default=[], metavar="FIELD=CSS",
                        help="a kind html source's selectors: item=… title=… link=…@href [date=…] "
                        "[summary=…]")
    trying.add_argument("--channel", help="a kind telegram source's channel (default: from a t.me/s/ URL)")
    trying.add_argument("--language", help="the source's language (BCP 47)")
    trying.add_argument("--party", help="the source's party code")
    trying.add_argument("--json", action="store_true", help="print JSON")
    find = commands.add_parser("discover", parents=[common],
                               help="find a site's feeds and print them as sources to configure")
    find.add_argument("url", help="the site's address (a page of it, or a feed)")
    return parser


def cmd_once(args: argparse.Namespace) -> int:
    with jobs.Context.open(load_config(args.config)) as context, progress_bars() as progress:
        ingested, _ = jobs.run_once(context, datetime.now(UTC), progress)
    return 1 if ingested.errors else 0


def cmd_publish(args: argparse.Namespace) -> int:
    with jobs.Context.open(load_config(args.config)) as context, progress_bars() as progress:
        jobs.publish(context.store, context.config, context.registry, datetime.now(UTC), progress=progress)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    registry = load_registry(config.parties_path, config.topics_path, config.registry_overrides)
    jobs.check_source_parties(config, registry)
    Tagger(registry)  # every name and keyword compiles
    print(f"{config.path}: ok ({len(config.sources)} sources, {len(config.seed_paths)} seed paths)")
    print(f"registry: ok ({describe(registry)})")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    registry = load_registry(config.parties_path, config.topics_path, config.registry_overrides)
    text = args.text if args.text is not None else sys.stdin.read()
    tags = Tagger(registry).tag(text, language=args.language)
    if args.json:
        print(json.dumps(tags_as_json(tags), ensure_ascii=False, indent=2))
    else:
        print(explain(tags, registry))
    return 0


def cmd_dedupe_why(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    registry = load_registry(config.parties_path, config.topics_path, config.registry_overrides)
    with pipeline.open_store(config.database) as store:
        print(pipeline.why_same(store, Tagger(registry), args.a, args.b, parties=args.party,
                                language=args.language, published=args.published or datetime.now(UTC)))
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    with jobs.Context.open(load_config(args.config)) as context:
        now = datetime.now(UTC)
        done = pipeline.split(context.store, args.item, args.source, now)
        print(f"split off: {done.split_off.id} {done.split_off.title!r} ({args.source})")
        print(f"kept:      {done.kept.id} {done.kept.title!r} "
              f"({', '.join(sorted(done.kept.source_ids))})")
        if done.reread:
            print(f"the store held no entry of {', '.join(done.reread)}: read again on the next poll")
        jobs.publish(context.store, context.config, context.registry, now)
    return 0


def _utc_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def cmd_serve(args: argparse.Namespace) -> int:
    from scheduler.daemon import serve  # APScheduler and the server load only for the daemon

    return serve(load_config(args.config))


def cmd_sources(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with storage.connect(config.database, cache_bands=False) as store, store.errors():
        rows = sources.source_rows(config, store, datetime.now(UTC))
    if args.json:
        print(sources.format_json(rows))
    else:
        print(sources.format_table(rows, None if args.wide else shutil.get_terminal_size().columns))
    return 0


def cmd_import_opml(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    registry = load_registry(config.parties_path, config.topics_path, config.registry_overrides)
    with progress_bars() as progress:
        added = sources.import_opml(config, registry, args.file, progress)
    for spec in added:
        print(f"added {spec.id} {spec.url}" + (f" party={spec.party}" if spec.party else ""))
    print(f"{len(added)} new sources in {config.sources_file}")
    return 0


def cmd_try_source(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    registry = load_registry(config.parties_path, config.topics_path, config.registry_overrides)
    spec = newsources.source_to_try(config, registry, args.source, kind=args.kind, select=args.select,
                                    channel=args.channel, language=args.language, party=args.party)
    now = datetime.now(UTC)
    with make_client(config.fetch) as client:
        tried = pipeline.try_source(client, spec, config.fetch, Tagger(registry), now)
    print(newsources.tried_as_json(tried, now) if args.json else newsources.format_tried(tried, now))
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    registry = load_registry(config.parties_path, config.topics_path, config.registry_overrides)
    with make_client(config.fetch) as client:
        discovery = pipeline.discover(client, args.url, config.fetch, datetime.now(UTC))
    text, _new = newsources.format_discovery(discovery, config, registry)
    print(text)
    return 0 if discovery.found else 1


COMMANDS = {"once": cmd_once, "publish": cmd_publish, "check-config": cmd_check_config, "tag": cmd_tag,
            "sources": cmd_sources, "import-opml": cmd_import_opml, "serve": cmd_serve,
            "dedupe-why": cmd_dedupe_why, "split": cmd_split, "try-source": cmd_try_source,
            "discover": cmd_discover}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level, args.log_format)
    try:
        return COMMANDS[args.command](args)
    except PartyfeedsError as exc:
        print(f"partyfeeds: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
