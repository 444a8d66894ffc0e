"""Print the layout of the `feeds` and `scheduler` packages, two levels deep, each module with the
first sentence of its docstring: the block between the tour markers in README.md.

    python tools/readme_tour.py            # print the block
    python tools/readme_tour.py --write    # rewrite README.md's block in place

tests/test_layout.py fails while README.md's block differs from this output.
"""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- tour: begin (python tools/readme_tour.py --write) -->", "<!-- tour: end -->"
PACKAGES = ("feeds", "scheduler")
WIDTH = 28  # the column where summaries start
LINE = 100  # summaries wrap at this column


def summary(path: Path) -> str:
    """The first sentence of the module's docstring, without its closing period."""
    docstring = ast.get_docstring(ast.parse(path.read_text("utf-8"))) or ""
    paragraph = " ".join(docstring.split("\n\n")[0].split())
    return paragraph.split(". ")[0].removesuffix(".")


def lines_for(folder: Path, depth: int) -> list[str]:
    indent = "  " * depth
    lines = []
    modules = sorted(p for p in folder.glob("*.py") if p.name != "__init__.py")
    packages = sorted(p for p in folder.iterdir() if (p / "__init__.py").is_file())
    for module in modules:
        lines += entry(f"{indent}{module.name}", summary(module))
    for package in packages:
        lines += entry(f"{indent}{package.name}/", summary(package / "__init__.py"))
        if depth == 1:
            lines += lines_for(package, depth + 1)
    return lines


def entry(name: str, text: str) -> list[str]:
    """`name` and `text`, the text wrapped in its column."""
    wrapped = textwrap.wrap(text, LINE - WIDTH, break_on_hyphens=False, break_long_words=False) or [""]
    return [name.ljust(WIDTH) + wrapped[0], *(" " * WIDTH + rest for rest in wrapped[1:])]


def tour() -> str:
    lines = []
    for name in PACKAGES:
        lines += entry(f"{name}/", summary(ROOT / name / "__init__.py"))
        lines += lines_for(ROOT / name, 1)
    return "\n".join(["```", *lines, "```"])


def with_tour(readme: str) -> str:
    """`readme` with the block between the markers replaced by today's tour."""
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + tour() + "\n" + readme[end:]


def main() -> None:
    readme = ROOT / "README.md"
    if "--write" in sys.argv[1:]:
        readme.write_text(with_tour(readme.read_text("utf-8")), "utf-8")
    else:
        print(tour())


if __name__ == "__main__":
    main()
