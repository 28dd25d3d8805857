"""Atomic file replacement: a reader sees the old file or the new one, never a part.

Each file is written to a temporary file in the same directory (same filesystem, so the
rename is atomic), given its owner and mode, flushed to disk, then renamed over the old
one; the directory is flushed after the rename so the new name survives a crash. A file
whose content is already right is not rewritten (only its owner and mode are corrected),
so its mtime and any watcher stay quiet. Groups of files are written in the order given:
callers put a private key before its certificate.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODE = 0o644


@dataclass(frozen=True, slots=True)
class Perms:
    """Mode (None: keep the existing file's, else 0644) and owner (-1: leave as is)."""

    mode: int | None = None
    uid: int = -1
    gid: int = -1


@dataclass(frozen=True, slots=True)
class FileSpec:
    path: Path
    content: bytes = field(repr=False)
    perms: Perms = Perms()


def read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def write_file(spec: FileSpec) -> bool:
    """Make ``spec.path`` hold ``spec.content``; True when the content was (re)written."""
    return bool(write_files([spec]))


def write_files(specs: Sequence[FileSpec]) -> list[Path]:
    """Write a group of files; the paths whose content changed.

    Every changed file is first staged (temporary file written, owned, flushed); only when
    all are staged are they renamed into place, in order. A failure while staging (disk
    full, no permission) leaves every destination as it was.
    """
    staged: list[tuple[Path, str]] = []
    try:
        for spec in specs:
            tmp = _stage(spec)
            if tmp is not None:
                staged.append((spec.path, tmp))
    except BaseException:
        for _, tmp in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    for path, tmp in staged:
        os.replace(tmp, path)
    for directory in dict.fromkeys(path.parent for path, _ in staged):
        _fsync_dir(directory)
    return [path for path, _ in staged]


@contextlib.contextmanager
def pid_file(path: Path | None) -> Iterator[None]:
    """Write this process's pid to ``path`` (if set) for the block's duration, then remove it."""
    if path is not None:
        write_file(FileSpec(path, f"{os.getpid()}\n".encode(), Perms(0o644)))
    try:
        yield
    finally:
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _stage(spec: FileSpec) -> str | None:
    """The temporary file holding the new content, or None when nothing changes."""
    existing = _stat(spec.path)
    if existing is not None and read_bytes(spec.path) == spec.content:
        _correct_in_place(spec.path, existing, spec.perms)
        return None
    mode = spec.perms.mode if spec.perms.mode is not None else (
        stat.S_IMODE(existing.st_mode) if existing is not None else DEFAULT_MODE)
    spec.path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{spec.path.name}.", suffix=".tmp", dir=spec.path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if spec.perms.uid != -1 or spec.perms.gid != -1:
                os.fchown(fh.fileno(), spec.perms.uid, spec.perms.gid)
            os.fchmod(fh.fileno(), mode)  # after chown, which may clear set-id bits
            fh.write(spec.content)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def _correct_in_place(path: Path, existing: os.stat_result, perms: Perms) -> None:
    uid = perms.uid if perms.uid != -1 and perms.uid != existing.st_uid else -1
    gid = perms.gid if perms.gid != -1 and perms.gid != existing.st_gid else -1
    if uid != -1 or gid != -1:
        os.chown(path, uid, gid)
    if perms.mode is not None and stat.S_IMODE(existing.st_mode) != perms.mode:
        os.chmod(path, perms.mode)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
