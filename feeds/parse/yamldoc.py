"""Read YAML documents keeping line numbers, so errors can name the line.

The only module that imports PyYAML. Mappings come back as `LineDict` (a dict
that knows the line of each key) and sequences as `LineList` (a list that knows
the line of each element); scalars are plain Python values.

Documents are parsed by libyaml, PyYAML's own C parser, when PyYAML was built with it: the
pure-Python parser took 2 s for a configuration of 5,000 sources (the C one, 0.2 s). Both
build the same values with the same lines (tests/test_yamldoc.py); without libyaml the pure
one is used.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from feeds.errors import LocatedError


class LineDict(dict[Any, Any]):
    """A mapping from YAML that remembers where it and each of its keys stand."""

    line: int | None = None
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int | None:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A sequence from YAML that remembers where it and each element stand."""

    line: int | None = None
    item_lines: list[int]

    def line_of(self, index: int) -> int | None:
        if 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line


class _PureLineLoader(yaml.SafeLoader):
    """SafeLoader that builds LineDict / LineList (1-based lines)."""


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same on libyaml's parser, if PyYAML has it."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


for _loader in (_PureLineLoader, _LineLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def parse_yaml(text: str, path: str, error: type[LocatedError], *, pure: bool = False) -> Any:
    """Parse YAML text; a syntax error becomes `error` naming path and line. `pure`: with
    PyYAML's pure-Python parser (the reference)."""
    try:
        return yaml.load(text, Loader=_PureLineLoader if pure else _LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise error(f"invalid YAML: {exc.problem or exc}", path=path, line=line) from exc
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", path=path) from exc
    except (ValueError, OverflowError) as exc:  # a scalar PyYAML cannot build, e.g. the date 2024-13-45
        raise error(f"invalid YAML value: {exc}", path=path) from exc
    except RecursionError as exc:  # [[[[... nested thousands deep
        raise error("invalid YAML: nested too deeply", path=path) from exc


def describe(value: Any) -> str:
    """What a parsed YAML value is, in the words of an error message ("must be text, not a
    list"): never the name of a Python class."""
    for kind, words in _KINDS:
        if isinstance(value, kind):
            return words
    return "empty" if value is None else "a value of another kind"


# In order: bool before int (a bool is an int), datetime before date (likewise).
_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "true/false"), (int, "a whole number"), (float, "a number"), (str, "text"),
    (datetime, "a date and time"), (date, "a date"), (dict, "a mapping"), (list, "a list"),
    (bytes, "binary data"),
)


def load_yaml(path: Path, error: type[LocatedError]) -> Any:
    """Read and parse a YAML file; unreadable files and bad YAML raise `error`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read: {exc}", path=str(path)) from exc
    return parse_yaml(text, str(path), error)


def dump_yaml(data: Any) -> str:
    """Plain block-style YAML of built-in types, keys in the order given."""
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False)
