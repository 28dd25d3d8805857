"""Writing files so that a reader never sees half of one: temp file, fsync, chmod, rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

CERT_MODE, KEY_MODE, DIR_MODE = 0o644, 0o600, 0o755


def write_atomic(path: Path, content: str | bytes, *, mode: int) -> None:
    """Replace ``path`` with ``content``; the file has ``mode`` before it gets its name."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    data = content.encode() if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
