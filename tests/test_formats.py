"""feeds.publish.formats: every feed document in each format of the list; a new one is one entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeds import pipeline
from feeds.model import Item, SiteInfo
from feeds.publish import formats
from feeds.publish.entryparts import Labels
from feeds.store import Store
from feeds.tag.registry import Registry
from tests.test_archive import OPTIONS, T0, make, save

SITE = SiteInfo(title="formats", base_url="https://example.org/", author_name="a", entries_per_feed=8)


def _text_entry(item: Item, site: SiteInfo, labels: Labels) -> str:
    return f"{item.updated.isoformat()} {item.title}"


def _text_document(page: formats.Page) -> bytes:
    return ("\n".join([page.spec.title, *page.entries]) + "\n").encode("utf-8")


TEXT = formats.Format("text", ".txt", "text/plain", _text_entry, _text_document)


def test_a_format_added_to_the_list_is_published_beside_every_document(
        tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "FORMATS", (*formats.FORMATS, TEXT))
    out = tmp_path / "public"
    with Store(":memory:") as store:
        save(store, [make(n) for n in range(30)])
        report = pipeline.publish(store, registry, SITE, out, OPTIONS, now=T0)
        atom = sorted(p for p in report.written if p.endswith(".atom"))
        assert atom and sorted(p for p in report.written if p.endswith(".txt")) == [
            p.removesuffix(".atom") + ".txt" for p in atom]
        head = (out / "all.atom").read_text("utf-8")
        assert 'href="https://example.org/all.txt" rel="alternate" type="text/plain"' in head
        assert (out / "all.txt").read_text("utf-8").splitlines()[1].endswith(make(29).title)
        # Unchanged input: nothing rewritten, in any format; a format's stale file is removed.
        (out / "party" / "gone.txt").write_text("old", "utf-8")
        again = pipeline.publish(store, registry, SITE, out, OPTIONS, now=T0)
    assert again.written == [] and again.removed == ["party/gone.txt"]


def test_the_formats_are_atom_first_then_json_feed() -> None:
    assert [fmt.name for fmt in formats.FORMATS] == ["atom", "json"]
    assert formats.paths("party/kke.atom") == ("party/kke.atom", "party/kke.json")
    assert formats.alternates("all.atom") == [("all.json", "application/feed+json")]
