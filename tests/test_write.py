"""feeds.publish.write: atomic, change-only writes confined to the output root; stale feed removal."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feeds.errors import PublishError
from feeds.model import FeedSpec, SiteInfo
from feeds.publish import write
from feeds.publish.entryparts import Labels
from feeds.publish.render import render_atom
from feeds.publish.write import Writer, is_published, remove_stale, write_if_changed

OLD_NS = 1_000_000_000 * 10**9  # 2001-09-09: any rewrite would move the mtime off this


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())


def test_new_file_is_written_with_parent_dirs(tmp_path: Path) -> None:
    assert write_if_changed(tmp_path, "party/kke.atom", b"one") is True
    assert (tmp_path / "party" / "kke.atom").read_bytes() == b"one"
    assert files(tmp_path) == ["party/kke.atom"]  # no temp file left behind
    assert (tmp_path / "party" / "kke.atom").stat().st_mode & 0o777 == 0o644


def test_unchanged_content_is_not_rewritten(tmp_path: Path) -> None:
    write_if_changed(tmp_path, "all.atom", b"same")
    target = tmp_path / "all.atom"
    os.utime(target, ns=(OLD_NS, OLD_NS))
    before = target.stat()
    assert write_if_changed(tmp_path, "all.atom", b"same") is False
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, OLD_NS)


def test_changed_content_replaces_the_file_atomically(tmp_path: Path) -> None:
    write_if_changed(tmp_path, "all.atom", b"old")
    target = tmp_path / "all.atom"
    target.chmod(0o640)
    os.utime(target, ns=(OLD_NS, OLD_NS))
    old_inode = target.stat().st_ino
    assert write_if_changed(tmp_path, "all.atom", b"new and longer") is True
    after = target.stat()
    assert target.read_bytes() == b"new and longer"
    assert after.st_ino != old_inode  # a new file renamed over the old one, not rewritten in place
    assert after.st_mtime_ns != OLD_NS
    assert after.st_mode & 0o777 == 0o640  # the old file's mode is kept
    assert files(tmp_path) == ["all.atom"]


def test_same_size_different_bytes_is_a_change(tmp_path: Path) -> None:
    write_if_changed(tmp_path, "all.atom", b"abc")
    assert write_if_changed(tmp_path, "all.atom", b"abd") is True
    assert (tmp_path / "all.atom").read_bytes() == b"abd"


@pytest.mark.parametrize("relpath", ["", ".", "../x.atom", "party/../../x.atom", "/etc/passwd", "a\\..\\b"])
def test_paths_escaping_the_root_are_refused(tmp_path: Path, relpath: str) -> None:
    root = tmp_path / "out"
    root.mkdir()
    with pytest.raises(PublishError, match="refusing output path"):
        write_if_changed(root, relpath, b"x")
    assert files(tmp_path) == []


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "out", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "party").symlink_to(outside)
    with pytest.raises(PublishError, match="resolves outside"):
        write_if_changed(root, "party/kke.atom", b"x")
    assert list(outside.iterdir()) == []


def test_a_writer_checks_every_file_of_a_folder_it_already_checked(tmp_path: Path) -> None:
    root, outside = tmp_path / "out", tmp_path / "elsewhere"
    (root / "party").mkdir(parents=True)
    outside.mkdir()
    (root / "party" / "link.atom").symlink_to(outside / "target.atom")
    with Writer(root) as writer:
        writer.write("party/kke.atom", b"x")  # the folder is checked here, once
        with pytest.raises(PublishError, match="resolves outside"):
            writer.write("party/link.atom", b"y")
        for relpath in ("/party/x.atom", "party/../../x.atom", "party/a\\b.atom"):
            with pytest.raises(PublishError, match="refusing output path"):
                writer.write(relpath, b"z")
        writer.close()
    assert list(outside.iterdir()) == []
    assert (root / "party" / "kke.atom").read_bytes() == b"x"


def test_a_symlink_inside_the_root_is_replaced_not_followed(tmp_path: Path) -> None:
    (tmp_path / "party").mkdir()
    (tmp_path / "party" / "kke.atom").write_bytes(b"first")
    (tmp_path / "party" / "link.atom").symlink_to(tmp_path / "party" / "kke.atom")
    with Writer(tmp_path) as writer:
        writer.write("party/kke.atom", b"first")
        writer.write("party/link.atom", b"first")  # the bytes the link leads to: unchanged
        writer.write("party/other.atom", b"new")
        assert writer.close() == [("party/kke.atom", False), ("party/link.atom", False),
                                  ("party/other.atom", True)]
    with Writer(tmp_path) as writer:
        writer.write("party/link.atom", b"second")
        writer.close()
    assert not (tmp_path / "party" / "link.atom").is_symlink()
    assert (tmp_path / "party" / "link.atom").read_bytes() == b"second"
    assert (tmp_path / "party" / "kke.atom").read_bytes() == b"first"
    (tmp_path / "party" / "dangling.atom").symlink_to(tmp_path / "party" / "gone.atom")
    assert write_if_changed(tmp_path, "party/dangling.atom", b"third")
    assert not (tmp_path / "party" / "dangling.atom").is_symlink()
    assert (tmp_path / "party" / "dangling.atom").read_bytes() == b"third"


def test_failed_write_raises_publish_error_and_leaves_no_temp_file(tmp_path: Path) -> None:
    (tmp_path / "party" / "kke.atom").mkdir(parents=True)  # a directory where the file should go
    with pytest.raises(PublishError, match="cannot write"):
        write_if_changed(tmp_path, "party/kke.atom", b"x")
    assert [p.name for p in (tmp_path / "party").iterdir()] == ["kke.atom"]


def test_publishing_the_same_feed_twice_changes_nothing(tmp_path: Path) -> None:
    site = SiteInfo(title="t", base_url="https://feeds.example.org/", author_name="a")
    spec = FeedSpec(path="all.atom", kind="all", key=None, title="All", subtitle="")
    first = datetime(2024, 5, 1, tzinfo=UTC)
    data = render_atom(spec, [], site, Labels(), updated_if_empty=first)
    assert write_if_changed(tmp_path, spec.path, data) is True
    again = render_atom(spec, [], site, Labels(), updated_if_empty=first)
    assert write_if_changed(tmp_path, spec.path, again) is False


def test_remove_stale_deletes_only_unplanned_feed_files(tmp_path: Path) -> None:
    for relpath in ["all.atom", "index.html", "feeds.opml", "party/kke.atom", "party/old.atom",
                    "party/notes.txt", "party/sub/deep.atom", "party/.kke.atom.x1.tmp", "topic/strikes.atom",
                    "topic/gone.atom", "other/x.atom"]:
        path = tmp_path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (tmp_path / "topic" / "link.atom").symlink_to(tmp_path / "all.atom")

    removed = remove_stale(tmp_path, keep={"party/kke.atom", "topic/strikes.atom", "all.atom"})

    assert removed == ["party/old.atom", "topic/gone.atom"]
    assert files(tmp_path) == [
        "all.atom", "feeds.opml", "index.html", "other/x.atom", "party/.kke.atom.x1.tmp", "party/kke.atom",
        "party/notes.txt", "party/sub/deep.atom", "topic/link.atom", "topic/strikes.atom",
    ]


def test_remove_stale_without_feed_folders_removes_nothing(tmp_path: Path) -> None:
    assert remove_stale(tmp_path, keep=set()) == []


def test_remove_stale_refuses_folders_outside_the_root(tmp_path: Path) -> None:
    with pytest.raises(PublishError):
        remove_stale(tmp_path / "out", keep=set(), dirs=["../"])


def test_remove_stale_covers_json_twins_and_archive_pages_at_any_depth(tmp_path: Path) -> None:
    for relpath in ["party/kke.atom", "party/kke.json", "party/old.json", "feeds/x.atom", "feeds/gone.atom",
                    "archive/party/kke/1.atom", "archive/party/kke/2.json", "archive/party/old/1.atom",
                    "archive/notes.txt", "health.atom"]:
        path = tmp_path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    keep = {"party/kke.atom", "party/kke.json", "feeds/x.atom", "archive/party/kke/1.atom"}
    removed = remove_stale(tmp_path, keep)
    assert removed == ["archive/party/kke/2.json", "archive/party/old/1.atom", "feeds/gone.atom",
                       "party/old.json"]
    assert (tmp_path / "health.atom").exists() and (tmp_path / "archive/notes.txt").exists()


def test_is_published_sees_only_regular_files_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "1.atom").write_bytes(b"x")
    assert is_published(tmp_path, "archive/1.atom") and not is_published(tmp_path, "archive")
    assert not is_published(tmp_path, "archive/2.atom")
    with pytest.raises(PublishError):
        is_published(tmp_path, "../x.atom")


@pytest.mark.parametrize("batch_bytes", [100, 2**20])  # a batch every few files, or one batch
def test_a_writer_puts_every_file_in_place_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      batch_bytes: int) -> None:
    """Each file's bytes are fsynced under its temporary name before it is renamed into place;
    nothing else on the machine is flushed."""
    monkeypatch.setattr(write, "BATCH_BYTES", batch_bytes)
    fsynced: list[str] = []
    fsync_file = write._fsync_file

    def recorded(path: str) -> None:
        assert Path(path).name.startswith(".") and Path(path).is_file()  # still its temporary name
        fsynced.append(path)
        fsync_file(path)

    monkeypatch.setattr(write, "_fsync_file", recorded)
    monkeypatch.setattr(os, "sync", lambda: pytest.fail("os.sync() flushes the whole machine"))
    (tmp_path / "party").mkdir()
    (tmp_path / "party" / "0.atom").write_bytes(b"feed 0")
    (tmp_path / "party" / "1.atom").write_bytes(b"old")
    os.chmod(tmp_path / "party" / "1.atom", 0o600)
    with Writer(tmp_path) as writer:
        for n in range(30):
            writer.write(f"party/{n}.atom", f"feed {n}".encode() * 5 if n else b"feed 0")
        done = writer.close()
    assert done == [(f"party/{n}.atom", n > 0) for n in range(30)]
    assert len(fsynced) == 29  # each file written (party/0.atom held its bytes already)
    assert files(tmp_path) == sorted(f"party/{n}.atom" for n in range(30))  # no temporary file left
    assert (tmp_path / "party" / "7.atom").read_bytes() == b"feed 7" * 5
    assert os.stat(tmp_path / "party" / "1.atom").st_mode & 0o777 == 0o600  # the mode it had


def test_a_writer_left_by_an_error_leaves_no_temporary_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), Writer(tmp_path) as writer:
        writer.write("party/kke.atom", b"x")
        raise RuntimeError("render failed")
    assert files(tmp_path) == []


def test_temporary_files_a_crashed_publish_left_are_found_once_old(tmp_path: Path) -> None:
    old = [".all.atom.a1.tmp", "party/.kke.atom.b2.tmp", "archive/party/kke/.1.atom.c3.tmp"]
    fresh = ["topic/.strikes.atom.d4.tmp"]  # may belong to a publish running now
    kept = ["party/.notes", "other/.x.atom.e5.tmp", "party/kke.atom"]  # not ours, or not a publish folder
    for relpath in [*old, *fresh, *kept]:
        path = tmp_path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    for relpath in [*old, "party/.notes", "other/.x.atom.e5.tmp"]:
        os.utime(tmp_path / relpath, ns=(OLD_NS, OLD_NS))
    leftovers: list[str] = []

    found = write.published_feeds(tmp_path, leftovers=leftovers)
    write.remove_leftovers(tmp_path, leftovers)

    assert found == {"party/kke.atom"}
    assert sorted(leftovers) == sorted(old)
    assert files(tmp_path) == sorted([*fresh, *kept])
