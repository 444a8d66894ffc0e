"""Shared fixtures: paths into the checkout and a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def root() -> Path:
    return ROOT
