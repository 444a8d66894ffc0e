"""The import names `feeds` and `scheduler` are generic: make sure they are ours."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import feeds
import scheduler

ROOT = Path(__file__).resolve().parent.parent


def test_packages_resolve_to_this_checkout() -> None:
    assert Path(feeds.__file__).resolve().parent == ROOT / "feeds"
    assert Path(scheduler.__file__).resolve().parent == ROOT / "scheduler"


def test_pipeline_never_imports_the_daemon() -> None:
    for module in (ROOT / "feeds").rglob("*.py"):
        text = module.read_text(encoding="utf-8")
        assert "import scheduler" not in text and "from scheduler" not in text, module.name


SQL = re.compile(r"\b(?:SELECT\b.*\bFROM|INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
                 r"CREATE\s+(?:TABLE|INDEX)|PRAGMA)\b")


def test_all_sql_lives_in_the_store_package() -> None:
    """The rest of the code speaks feeds.store.interface; no SQL, no sqlite3 outside feeds/store."""
    offenders = []
    for folder in ("feeds", "scheduler"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name.startswith("feeds/store/"):
                continue
            text = path.read_text("utf-8")
            offenders += [f"{name}: {line.strip()}" for line in text.splitlines()
                          if SQL.search(line) or re.match(r"\s*(?:import|from) sqlite3\b", line)]
    assert offenders == []
    assert SQL.search("SELECT 1 FROM items") and SQL.search('"INSERT OR REPLACE INTO feed_logs"')


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
    ("cssselect", ["feeds/parse/pages.py"]),
    ("dateparser", ["feeds/parse/pagedates.py"]),
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


@pytest.mark.slow  # a subprocess
def test_importing_partyfeeds_changes_no_process_wide_state() -> None:
    """Importing every module registers nothing global (XML namespace prefixes, codecs, mime
    types, signal handlers, log handlers, atexit hooks) and starts no thread or process."""
    modules = sorted(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                     for package in ("feeds", "scheduler") for path in (ROOT / package).rglob("*.py"))
    script = textwrap.dedent("""\
        import atexit, importlib, json, logging, mimetypes, signal, sys, threading
        import multiprocessing, multiprocessing.forkserver  # the standard library's own atexit hook
        import xml.etree.ElementTree as ET
        mimetypes.init()
        SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

        def state():
            root = logging.getLogger()
            return {"namespaces": sorted(ET._namespace_map.items()), "types": len(mimetypes.types_map),
                    "atexit": atexit._ncallbacks(), "log": [len(root.handlers), root.level],
                    "signals": [str(signal.getsignal(n)) for n in SIGNALS],
                    "threads": threading.active_count(), "children": len(multiprocessing.active_children())}

        before = state()
        for name in sys.argv[1:]:
            importlib.import_module(name)
        print(json.dumps([before, state()]))
        """)
    done = subprocess.run([sys.executable, "-c", script, *modules], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, check=True)
    before, after = json.loads(done.stdout)
    assert after == before


def test_the_readme_tour_is_the_tree_as_it_is() -> None:
    """README.md's module tour is generated (tools/readme_tour.py --write); a module added,
    moved or re-described without regenerating it fails here."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import readme_tour
    finally:
        sys.path.remove(str(ROOT / "tools"))
    readme = (ROOT / "README.md").read_text("utf-8")
    assert readme_tour.with_tour(readme) == readme, "run: python tools/readme_tour.py --write"


EXAMPLES = {"seeds/x.yaml"}  # a file named in an example error message
REPO_PATH = re.compile(r"\b((?:feeds|scheduler|bench|tests|tools|docs|deploy|registry|seeds)/[\w./-]*\w)")


def test_every_file_the_docs_name_exists() -> None:
    docs = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    named = {(doc.relative_to(ROOT).as_posix(), path) for doc in docs
             for path in REPO_PATH.findall(doc.read_text("utf-8"))}
    missing = sorted(f"{doc}: {path}" for doc, path in named
                     if not (ROOT / path).exists() and path not in EXAMPLES)
    assert missing == []
