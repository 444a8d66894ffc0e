"""`partyfeeds dedupe-why`: the verdict on two items, the rule that decided it, and what each title says."""

from __future__ import annotations

from feeds.dedupe.rules import Story, Verdict, same_story
from feeds.dedupe.titles import TitleWords, title_words


def explain(a: Story, b: Story, splits: frozenset[frozenset[str]] = frozenset()) -> tuple[Verdict, str]:
    """The verdict on `a` and `b`, and a few lines that show why."""
    verdict = same_story(a, b, splits)
    lines = [f"same story: {'yes' if verdict.same else 'no'}", f"rule: {verdict.rule}",
             f"reason: {verdict.reason}"]
    for name, story in (("A", a), ("B", b)):
        lines.append(f"{name}: {story.id} sources={','.join(sorted(story.source_ids))} "
                     f"parties={','.join(story.parties) or '-'} language={story.language or '-'} "
                     f"published={story.published.isoformat()}")
        lines.extend(f"   {title!r}: {_words(title_words(title))}" for title in story.seen_titles)
        if not story.seen_titles:
            lines.append("   (derived title: never compared)")
    return verdict, "\n".join(lines)


def _words(words: TitleWords) -> str:
    return (f"words={sorted(words.words)} numbers={sorted(words.numbers)} codes={sorted(words.codes)} "
            f"informative={words.informative}")
