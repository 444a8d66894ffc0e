"""Per-item tagging cost of this checkout against another revision, on the same texts.

    PYTHONPATH=. .venv/bin/python -m bench.tag_cost                  # this checkout only
    PYTHONPATH=. .venv/bin/python -m bench.tag_cost --before HEAD~3  # before/after

The texts are the seed paragraphs (English, ~170 characters), the seed paragraphs
joined in pairs (title-plus-summary items of ~360 characters) and the multilingual
test headlines (tests/data/tagging/*.yaml): those in the six languages the topics
began with, and those in the other languages. Each tagger (the revision's code with the
revision's registry) runs in a fresh process: one warm-up pass, then the best of
--runs timed passes, in process CPU time, divided by the number of texts. With
--before, the column "old registry" is this checkout's code with the revision's
registry: the matcher's own cost, apart from what a larger registry finds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_LANGUAGES = frozenset({"en", "el", "es", "pt", "ru", "tr"})


def corpus(root: Path) -> dict[str, list[str]]:
    """{group: texts}, read from the checkout at `root`."""
    import yaml

    text = (root / "seeds" / "seed-headlines.txt").read_text(encoding="utf-8")
    seeds = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    pairs = [f"{a}\n{b}" for a, b in zip(seeds, seeds[1:] + seeds[:1], strict=True)]
    first, others = [], []  # headlines in the six languages topics.yaml began with, and the rest
    for path in sorted((root / "tests" / "data" / "tagging").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        texts = [case["text"] for case in doc["headlines"]]
        (first if doc["language"] in FIRST_LANGUAGES else others).extend(texts)
    return {"seed headlines (en)": seeds, "title+summary pairs (en)": pairs,
            "headlines en el es pt ru tr": first, "headlines, other languages": others}


def measure(root: Path, registry: Path, groups: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Microseconds per item for each group, tagging with the code at `root` and the registry at
    `registry` (a checkout's root)."""
    sys.path.insert(0, str(root))
    from feeds.tag import Tagger
    from feeds.tag.registry import load_registry

    folder = registry / "registry"
    tagger = Tagger(load_registry(folder / "parties.yaml", folder / "topics.yaml"))
    result = {}
    for name, texts in groups.items():
        if not texts:
            continue
        for text in texts:
            tagger.tag(text)
        best = min(_timed(tagger, texts) for _ in range(runs))
        result[name] = best / len(texts) * 1e6
    return result


def _timed(tagger: object, texts: list[str]) -> float:
    tag = tagger.tag  # type: ignore[attr-defined]
    start = time.process_time()
    for _ in range(20):
        for text in texts:
            tag(text)
    return (time.process_time() - start) / 20


def _in_child(root: Path, groups: dict[str, list[str]], runs: int, registry: Path | None = None
              ) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as handle:
        json.dump(groups, handle)
    try:
        env = {**os.environ, "PYTHONPATH": str(root)}
        command = [sys.executable, __file__, "--child", str(root), str(registry or root), handle.name,
                   str(runs)]
        out = subprocess.run(command,
                             env=env, check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(handle.name)
    return dict(json.loads(out))


def _export(revision: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "feeds", "registry", "seeds"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--child":
        root, registry, path, runs = Path(args[1]), Path(args[2]), args[3], int(args[4])
        groups = json.loads(Path(path).read_text(encoding="utf-8"))
        print(json.dumps(measure(root, registry, groups, runs)))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.tag_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--before", help="a git revision to compare with (its code and its registry)")
    parser.add_argument("--runs", type=int, default=5, help="timed passes; the best counts (default 5)")
    options = parser.parse_args(args)
    groups = corpus(ROOT)
    after = _in_child(ROOT, groups, options.runs)
    before: dict[str, float] = {}
    mixed: dict[str, float] = {}
    if options.before:
        with tempfile.TemporaryDirectory() as tmp:
            old = _export(options.before, Path(tmp))
            before = _in_child(old, groups, options.runs)
            mixed = _in_child(ROOT, groups, options.runs, registry=old)
    print(f"{'texts':<30}{'items':>6}{'before µs':>11}{'old registry':>14}{'after µs':>10}{'change':>8}")
    for name, texts in groups.items():
        now, then = after.get(name), before.get(name)
        change = f"{(now / then - 1) * 100:+.0f}%" if now and then else ""
        print(f"{name:<30}{len(texts):>6}{then or 0:>11.1f}{mixed.get(name) or 0:>14.1f}{now or 0:>10.1f}"
              f"{change:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
