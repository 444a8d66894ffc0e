"""The server's file reader: versions kept in memory, and when they are read again."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import pytest

from scheduler import httpfiles
from scheduler.httpfiles import OutputFiles

MTIME_NS = 1_764_331_200_000_000_000


@pytest.fixture
def short_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust a version whose ctime is 50 ms old (the file systems of tests stamp finer than that)."""
    monkeypatch.setattr(httpfiles, "RACY_SECONDS", 0.05)


def settle() -> None:
    time.sleep(0.1)


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(MTIME_NS, MTIME_NS))


def test_a_kept_version_is_served_without_reading_the_file(tmp_path: Path, short_tick: None) -> None:
    write(tmp_path / "all.atom", b"<feed>one</feed>")
    settle()
    files = OutputFiles(tmp_path)
    first = files.read(("all.atom",))
    assert first is not None and files.read(("all.atom",)) is first
    assert files.gzipped(first) is files.gzipped(first)  # compressed once
    assert gzip.decompress(files.gzipped(first)) == b"<feed>one</feed>"


@pytest.mark.parametrize("replace", [True, False], ids=["os.replace", "rewritten in place"])
def test_a_change_with_the_same_size_and_mtime_is_read_again(tmp_path: Path, short_tick: None,
                                                             replace: bool) -> None:
    write(tmp_path / "all.atom", b"<feed>one</feed>")
    settle()
    files = OutputFiles(tmp_path)
    assert files.read(("all.atom",)) is files.read(("all.atom",))  # kept
    if replace:
        write(tmp_path / ".all.atom.tmp", b"<feed>two</feed>")
        os.replace(tmp_path / ".all.atom.tmp", tmp_path / "all.atom")
    else:
        write(tmp_path / "all.atom", b"<feed>two</feed>")  # same inode, size and mtime: ctime moved
    doc = files.read(("all.atom",))
    assert doc is not None and doc.data == b"<feed>two</feed>"
    assert gzip.decompress(files.gzipped(doc)) == b"<feed>two</feed>"


def test_a_file_younger_than_the_timestamp_tick_is_read_each_time(tmp_path: Path) -> None:
    write(tmp_path / "all.atom", b"<feed>new</feed>")
    files = OutputFiles(tmp_path)
    first, again = files.read(("all.atom",)), files.read(("all.atom",))
    assert first is not None and again is not None and first is not again and first == again
    assert files.gzipped(first) is files.gzipped(again)  # the same content keeps its gzip body
    write(tmp_path / "all.atom", b"<feed>old</feed>")  # same inode, size and mtime, maybe same ctime
    changed = files.read(("all.atom",))
    assert changed is not None and changed.data == b"<feed>old</feed>"


def test_kept_bytes_stay_within_the_budget(tmp_path: Path, short_tick: None) -> None:
    files = OutputFiles(tmp_path, cache_bytes=8 * 1000)
    for n in range(20):
        write(tmp_path / f"f{n}.atom", bytes([65 + n]) * 900)
    write(tmp_path / "big.atom", b"x" * 1001)
    settle()
    for n in range(20):
        assert files.read((f"f{n}.atom",)) is not None
    big = files.read(("big.atom",))
    assert big is not None and files.read(("big.atom",)) is not big  # over an eighth of the budget
    assert sum(len(entry.doc.data) for entry in files._entries.values()) <= 8 * 1000
    assert "f19.atom" in files._entries and "f0.atom" not in files._entries  # least recently used out
