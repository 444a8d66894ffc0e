"""The tagger on the multilingual test headlines: a table by language.

    PYTHONPATH=. .venv/bin/python -m bench.tag_quality

tests/data/tagging/<language>.yaml holds headlines with the parties a correct tagger
finds and the topics it must find; each is tagged with its file's language. A row
counts the headlines, those whose parties are exactly right and those whose expected
topics are all found; the misses are listed under the table.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from feeds.tag import Tagger
from feeds.tag.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent
HEADLINES = ROOT / "tests" / "data" / "tagging"


@dataclass(frozen=True, slots=True)
class Case:
    language: str
    text: str
    parties: frozenset[str]
    topics: frozenset[str]


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    parties: frozenset[str]
    topics: frozenset[str]

    @property
    def parties_exact(self) -> bool:
        return self.parties == self.case.parties

    @property
    def topics_found(self) -> bool:
        return self.case.topics <= self.topics


def cases(folder: Path = HEADLINES) -> list[Case]:
    found = []
    for path in sorted(folder.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for raw in doc["headlines"]:
            parties, topics = frozenset(raw["parties"]), frozenset(raw["topics"])
            found.append(Case(doc["language"], raw["text"], parties, topics))
    return found


def outcomes(tagger: Tagger, todo: list[Case]) -> list[Outcome]:
    result = []
    for case in todo:
        tags = tagger.tag(case.text, language=case.language)
        result.append(Outcome(case, frozenset(tags.parties), frozenset(tags.topics)))
    return result


def table(results: list[Outcome]) -> str:
    languages = sorted({r.case.language for r in results})
    rows = [f"{'language':<10}{'headlines':>10}{'parties exact':>15}{'topics found':>14}"]
    for language in [*languages, "all"]:
        mine = [r for r in results if language in ("all", r.case.language)]
        exact = sum(r.parties_exact for r in mine)
        found = sum(r.topics_found for r in mine)
        rows.append(f"{language:<10}{len(mine):>10}{exact:>15}{found:>14}")
    total = len(results) or 1
    rows.append(f"{'share':<10}{'':>10}{sum(r.parties_exact for r in results) / total:>15.1%}"
                f"{sum(r.topics_found for r in results) / total:>14.1%}")
    for r in results:
        if not (r.parties_exact and r.topics_found):
            rows.append(f"miss [{r.case.language}] {r.case.text}: "
                        f"parties {sorted(r.parties)} (want {sorted(r.case.parties)}), "
                        f"topics {sorted(r.topics)} (want {sorted(r.case.topics)})")
    return "\n".join(rows)


def main() -> int:
    registry = load_registry(ROOT / "registry" / "parties.yaml", ROOT / "registry" / "topics.yaml")
    print(table(outcomes(Tagger(registry), cases())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
