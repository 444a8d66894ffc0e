"""Shared fixtures: paths into the checkout and a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from feeds.tag import Tagger
from feeds.tag.registry import Registry, load_registry
from tests.localserver import LocalServer

# No timing in tests: hypothesis's per-example deadline and its "generation is slow" check
# fail on a loaded machine without any change in behaviour.
settings.register_profile("untimed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("untimed")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The checkout's own party registry and topic taxonomy."""
    return load_registry(ROOT / "registry" / "parties.yaml", ROOT / "registry" / "topics.yaml")


@pytest.fixture(scope="session")
def tagger(registry: Registry) -> Tagger:
    return Tagger(registry)


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A scripted HTTP server on 127.0.0.1 (tests/localserver.py); modules with a server of their
    own (scripted up front, or the daemon's FeedServer) define theirs."""
    with LocalServer() as local:
        yield local
