"""The import names `feeds` and `scheduler` are generic: make sure they are ours."""

from __future__ import annotations

import re
from pathlib import Path

import feeds
import scheduler

ROOT = Path(__file__).resolve().parent.parent


def test_packages_resolve_to_this_checkout() -> None:
    assert Path(feeds.__file__).resolve().parent == ROOT / "feeds"
    assert Path(scheduler.__file__).resolve().parent == ROOT / "scheduler"


def test_pipeline_never_imports_the_daemon() -> None:
    for module in (ROOT / "feeds").glob("*.py"):
        text = module.read_text(encoding="utf-8")
        assert "import scheduler" not in text and "from scheduler" not in text, module.name


def test_seed_copy_matches_shared_when_present() -> None:
    shared = ROOT.parent / "shared" / "data" / "seed-headlines.txt"
    ours = ROOT / "seeds" / "seed-headlines.txt"
    assert ours.is_file()
    if shared.is_file():
        assert ours.read_bytes() == shared.read_bytes()


def test_charset_normalizer_is_imported_in_one_module() -> None:
    imports = re.compile(r"^\s*(?:import|from) charset_normalizer\b", re.MULTILINE)
    importers = [path.relative_to(ROOT).as_posix() for folder in ("feeds", "scheduler")
                 for path in sorted((ROOT / folder).rglob("*.py")) if imports.search(path.read_text("utf-8"))]
    assert importers == ["feeds/parse/charsets.py"]
