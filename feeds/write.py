"""Put published files in place atomically, and only when their bytes changed.

A reader (or a web server) sees the old file or the new one, never half of one:
we write a temporary file in the same directory, fsync it, and `os.replace` it
over the target. An unchanged file is not touched at all, so its mtime stays and
HTTP caches keep validating. Paths are relative to one output root and may not
leave it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from feeds.errors import PublishError

log = logging.getLogger(__name__)

# The folders of per-party and per-topic feeds: the only place remove_stale deletes.
PUBLISHED_DIRS = ("party", "topic")
FEED_SUFFIX = ".atom"
DEFAULT_MODE = 0o644  # published files are read by a web server


def resolve_inside(root: Path, relpath: str) -> Path:
    """`root / relpath`, refusing absolute paths, "..", and symlinks that lead out of `root`."""
    rel = PurePosixPath(relpath)
    if not relpath or "\\" in relpath or rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise PublishError(f"refusing output path {relpath!r}: not a plain path inside the output root")
    target = root / rel
    if not target.resolve().is_relative_to(root.resolve()):
        raise PublishError(f"refusing output path {relpath!r}: it resolves outside {root}")
    return target


def write_if_changed(root: Path, relpath: str, data: bytes) -> bool:
    """Write `data` to `root/relpath` atomically; False (file untouched) if it already holds `data`."""
    target = resolve_inside(root, relpath)
    try:
        if _holds(target, data):
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace_atomically(target, data)
    except OSError as exc:
        raise PublishError(f"cannot write {target}: {exc}") from exc
    log.debug("wrote path=%s bytes=%d", relpath, len(data))
    return True


def _holds(target: Path, data: bytes) -> bool:
    try:
        return target.stat().st_size == len(data) and target.read_bytes() == data
    except FileNotFoundError:
        return False


def _replace_atomically(target: Path, data: bytes) -> None:
    mode = _mode_for(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # mkstemp creates 0600; keep the old file's mode instead
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return DEFAULT_MODE


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); platforms that cannot open a directory skip it."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale(root: Path, keep: Iterable[str], dirs: Sequence[str] = PUBLISHED_DIRS) -> list[str]:
    """Delete `<dir>/*.atom` files under `root` that are not in `keep`; return their relpaths, sorted.

    Only regular files directly inside `dirs` with the feed suffix are candidates:
    anything else (other files, subfolders, symlinks, our own temp files) is never touched.
    """
    wanted = {str(PurePosixPath(path)) for path in keep}
    removed = []
    for folder in dirs:
        directory = resolve_inside(root, folder)
        for path in _published_feeds(directory):
            relpath = f"{folder}/{path.name}"
            if relpath not in wanted:
                _unlink(path)
                removed.append(relpath)
    for relpath in sorted(removed):
        log.info("removed stale feed path=%s", relpath)
    return sorted(removed)


def _published_feeds(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        path for path in directory.iterdir()
        if path.suffix == FEED_SUFFIX and not path.name.startswith(".")
        and path.is_file() and not path.is_symlink()
    )


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise PublishError(f"cannot remove stale feed {path}: {exc}") from exc
