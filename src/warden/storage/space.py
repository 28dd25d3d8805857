"""Why a store cannot be written: is its disk full (or this process's file size limit hit)?"""

from __future__ import annotations

import os
import resource

# Less free space than this on the store's filesystem counts as full: SQLite needs room for
# its write-ahead log and shared-memory index (32 KiB) before it can commit anything.
_MIN_FREE_BYTES = 1 << 20


def disk_full_reason(path: str) -> str | None:
    """A sentence saying why nothing more can be written next to ``path``, or None if the
    disk has room (the failure was something else)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    if st.f_bavail * st.f_frsize < _MIN_FREE_BYTES:
        return f"the disk is full (no space left on the filesystem of {directory})"
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY:
        return (f"the disk is full as far as this process may write: its file size limit "
                f"(ulimit -f) is {soft} bytes")
    return None
