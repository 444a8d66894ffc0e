"""feeds.parse.yamldoc: libyaml's parser gives what PyYAML's pure-Python one (the reference) gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from feeds.errors import ConfigError
from feeds.parse import yamldoc
from feeds.parse.yamldoc import LineDict, LineList, parse_yaml

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "config.yaml", ROOT / "registry" / "parties.yaml", ROOT / "registry" / "topics.yaml",
             *sorted((ROOT / "tests" / "data").rglob("*.yaml"))]


def _with_lines(value: Any) -> Any:
    """The value with every line it remembers, for comparing two parses."""
    if isinstance(value, LineDict):
        return ("map", value.line, [(k, value.key_lines[k], _with_lines(v)) for k, v in value.items()])
    if isinstance(value, LineList):
        return ("list", value.line, value.item_lines, [_with_lines(v) for v in value])
    return value


def test_libyaml_is_used_when_pyyaml_has_it() -> None:
    assert issubclass(yamldoc._LineLoader, yaml.CSafeLoader) == yaml.__with_libyaml__


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_both_parsers_read_the_same_values_and_lines(path: Path) -> None:
    text = path.read_text("utf-8")
    assert _with_lines(parse_yaml(text, str(path), ConfigError)) == \
        _with_lines(parse_yaml(text, str(path), ConfigError, pure=True))


@pytest.mark.parametrize("text", [
    "a: 1\nb: [1, 2\n",  # unclosed flow sequence
    "a: 1\n  b: 2\n",  # bad indentation
    "- x\n- y: 1\n  z: 'open\n",  # unclosed quote
    "a: 1\na: 2\n",  # duplicate key (our constructor)
    "when: 2024-13-45\n",  # a date PyYAML cannot build
])
def test_both_parsers_refuse_the_same_documents_naming_a_line(text: str) -> None:
    errors = []
    for pure in (False, True):
        with pytest.raises(ConfigError) as caught:
            parse_yaml(text, "doc.yaml", ConfigError, pure=pure)
        errors.append(caught.value)
    assert errors[0].line == errors[1].line


def test_both_parsers_refuse_a_document_nested_thousands_deep() -> None:
    for pure in (False, True):  # libyaml stops at its depth limit, on line 1; PyYAML's recursion fails
        with pytest.raises(ConfigError, match="invalid YAML"):
            parse_yaml("[" * 2000 + "]" * 2000, "doc.yaml", ConfigError, pure=pure)
