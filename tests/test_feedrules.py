"""feedparser's private names, read by feeds/parse/feedrules.py: each one still exists, is called as
feedrules calls it, and answers as it did in the releases pyproject.toml pins.

feedparser may change a private name in any release. When one did, these fail with a message that
names it, says what changed and gives the tested range: check the fast path (tests/test_fastparse.py)
against the new release before widening the pin.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import time
import tomllib
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import pytest

from feeds.parse import feedrules
from tests.conftest import ROOT

FEEDRULES = ROOT / "feeds" / "parse" / "feedrules.py"


def pinned() -> str:
    """The feedparser requirement of pyproject.toml, e.g. "feedparser>=6.0.11,<6.1"."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    return next(dep for dep in project["dependencies"] if re.match(r"feedparser\b", dep))


def problem(name: str, what: str) -> str:
    return (f"feedparser {version('feedparser')}: {name} {what}. feeds/parse/feedrules.py reads it and "
            f"was tested with {pinned()} (pyproject.toml): check the fast path against this release "
            "(tests/test_fastparse.py) and update feedrules before widening the pin.")


def _date(parsed: Any) -> tuple[int, ...] | None:
    return tuple(parsed[:6]) if isinstance(parsed, time.struct_time) else parsed


def _person(sync: Callable[..., Any], author: str) -> dict[str, Any]:
    """What _sync_author_detail makes of an author given as text, on the context feedrules gives it."""
    context = feedrules._OneAuthor(author)
    sync(context)
    return dict(context.found["authors"][-1])


# name -> (the parameters feedrules relies on, [(a call, what it must answer)]).
EXPECTED: dict[str, tuple[list[str], list[tuple[Callable[[Any], Any], Any]]]] = {
    "feedparser.datetimes._parse_date": (["date_string"], [
        (lambda f: _date(f("2024-05-01T12:00:00+02:00")), (2024, 5, 1, 10, 0, 0)),
        (lambda f: _date(f("Wed, 01 May 2024 12:00:00 GMT")), (2024, 5, 1, 12, 0, 0)),
        (lambda f: f("no date"), None)]),
    "feedparser.datetimes.rfc822._parse_date_rfc822": (["date"], [
        (lambda f: _date(f("Wed, 01 May 2024 12:00:00 +0200")), (2024, 5, 1, 10, 0, 0))]),
    "feedparser.html._cp1252": ([], [
        (lambda table: "\x80\x93x\x94".translate(table), "€“x”")]),
    "feedparser.mixin._FeedParserMixin.looks_like_html": (["s"], [
        (lambda f: f("a <b>x</b>"), True), (lambda f: f("AT&amp;T"), True),
        (lambda f: f("a < b"), False), (lambda f: f("<blink>x</blink>"), False)]),
    "feedparser.mixin._FeedParserMixin._sync_author_detail": (["self", "key"], [
        (lambda f: _person(f, "Press <press@party.gr>"), {"name": "Press", "email": "press@party.gr"}),
        (lambda f: _person(f, "press@party.gr (Press)"), {"name": "Press", "email": "press@party.gr"})]),
    "feedparser.urls._urljoin": (["base", "uri"], [
        (lambda f: f("https://a.example/x/", "../y"), "https://a.example/y"),
        (lambda f: f("https://a.example/", "tag:x,2024:1"), "tag:x,2024:1"),
        (lambda f: f("", "/p"), "/p")]),
    "feedparser.urls.make_safe_absolute_uri": (["base", "rel"], [
        (lambda f: f("https://a.example/", "/p"), "https://a.example/p"),
        (lambda f: f("https://a.example/", "javascript:alert(1)"), ""),
        (lambda f: f("", "x"), "x")]),
    "feedparser.util.FeedParserDict": ([], [
        (lambda cls: isinstance(cls(), dict), True)]),
}


def lookup(dotted: str) -> Any:
    """The object a dotted name names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(dotted)


def feedrules_imports() -> set[str]:
    """Every name feedrules.py imports from feedparser's modules, dotted."""
    tree = ast.parse(FEEDRULES.read_text("utf-8"))
    return {f"{node.module}.{alias.name}" for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("feedparser")
            for alias in node.names}


def private_uses() -> set[str]:
    """The private names feedrules reads: what it imports, and the mixin methods it calls."""
    calls = set(re.findall(r"_FeedParserMixin\.(\w+)", FEEDRULES.read_text("utf-8")))
    mixin = "feedparser.mixin._FeedParserMixin"
    return (feedrules_imports() - {mixin}) | {f"{mixin}.{method}" for method in calls}


def test_every_private_name_feedrules_reads_is_checked_here() -> None:
    unchecked = private_uses() - EXPECTED.keys()
    assert not unchecked, f"feeds/parse/feedrules.py reads {sorted(unchecked)}: add each to EXPECTED here"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_private_name_is_still_there_and_called_the_same(name: str) -> None:
    try:
        found = lookup(name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(problem(name, f"is gone ({type(exc).__name__}: {exc})"))
    parameters, _ = EXPECTED[name]
    if parameters:
        if not callable(found):
            pytest.fail(problem(name, f"is no longer callable (it is a {type(found).__name__})"))
        given = list(inspect.signature(found).parameters)
        if given[:len(parameters)] != parameters:
            pytest.fail(problem(name, f"takes ({', '.join(given)}) now, not ({', '.join(parameters)})"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_private_name_answers_as_in_the_tested_releases(name: str) -> None:
    found = lookup(name)
    for number, (call, expected) in enumerate(EXPECTED[name][1], start=1):
        try:
            answer = call(found)
        except Exception as exc:
            pytest.fail(problem(name, f"raises {type(exc).__name__}: {exc} on known input {number}"))
        if answer != expected:
            pytest.fail(problem(name, f"answers {answer!r} on known input {number}, not {expected!r}"))


def test_the_installed_release_is_in_the_pinned_range() -> None:
    low, high = re.fullmatch(r"feedparser>=([\d.]+),<([\d.]+)", pinned()).groups()  # type: ignore[union-attr]
    installed = tuple(int(part) for part in re.findall(r"\d+", version("feedparser"))[:3])
    as_tuple = [tuple(int(part) for part in bound.split(".")) for bound in (low, high)]
    assert as_tuple[0] <= installed < as_tuple[1], problem("as a whole", "is outside the tested range")
