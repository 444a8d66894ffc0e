"""The import names `feeds` and `scheduler` are generic: make sure they are ours."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def importers(library: str) -> list[str]:
    """The modules of feeds and scheduler that import `library`."""
    imports = re.compile(rf"^\s*(?:import|from) {library}\b", re.MULTILINE)
    return [path.relative_to(ROOT).as_posix() for folder in ("feeds", "scheduler")
            for path in sorted((ROOT / folder).rglob("*.py")) if imports.search(path.read_text("utf-8"))]


@pytest.mark.parametrize(("library", "where"), [
    ("charset_normalizer", ["feeds/parse/charsets.py"]),
    ("feedparser", ["feeds/parse/feedrules.py"]),  # its private names too: tests/test_feedrules.py
    ("feedgen", ["feeds/publish/render.py"]),
    ("httpx", ["feeds/fetch/__init__.py", "feeds/fetch/transport.py"]),
])
def test_each_library_is_imported_in_one_place(library: str, where: list[str]) -> None:
    assert importers(library) == where


@pytest.mark.slow  # a subprocess
def test_every_module_imports_on_its_own() -> None:
    """No import cycle between the stage packages, whichever module a caller imports first."""
    modules = sorted(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                     for package in ("feeds", "scheduler") for path in (ROOT / package).rglob("*.py"))
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        f"for name in {modules!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in ('feeds', 'scheduler')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as exc:\n"
        "        failed.append(f'{name}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, check=True)
    assert done.stdout.strip() == ""
