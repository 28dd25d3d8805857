"""Checkpoints of the write-ahead log, off the commit path.

SQLite's automatic checkpoint runs inside the commit that pushes the log past its limit:
that commit copies megabytes into the database file and fsyncs it before it returns, and
every write queued behind it waits too (a bulk delete such as tidy's dirties thousands of
pages a second, so that stall came every fraction of a second). Here the copying is split:

- a thread of the writer's process, on a connection of its own, runs a PASSIVE checkpoint
  at most every ``every_s`` seconds while there were commits. PASSIVE takes no lock that a
  writer or reader waits for, so commits go on meanwhile;
- the log only starts over from its beginning (and stops growing) when a write begins with
  every frame copied, which commits arriving during the copy prevent. So once the thread has
  copied a long log (``RESTART_FRAMES``), the writer copies what was appended meanwhile
  itself (``tend``), after answering its callers and before it takes the next group: a
  short copy, and the next write starts the log over.

SQLite's own automatic checkpoint stays on as a backstop (``BACKSTOP_PAGES``, far past what
this lets pile up).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Final

log = logging.getLogger("warden.storage.sqlite")

EVERY_S: Final = 0.25
RESTART_FRAMES: Final = 16000  # 62 MiB of 4 KiB pages: then the writer lets the log start over
BACKSTOP_PAGES: Final = 32000  # 125 MiB: the writer connection's own automatic checkpoint
_PASSIVE: Final = "PRAGMA wal_checkpoint(PASSIVE)"


class Checkpointer:
    """Copies the log into the database from its own thread; see the module docstring."""

    def __init__(self, conn: sqlite3.Connection, *, every_s: float = EVERY_S,
                 restart_frames: int = RESTART_FRAMES) -> None:
        self._conn = conn
        self._every_s = every_s
        self._restart_frames = restart_frames
        self._wrote = threading.Event()
        self._stopping = threading.Event()
        self._restart = threading.Event()
        self._runs = 0
        self._thread = threading.Thread(target=self._run, name="warden-sqlite-checkpoint", daemon=True)
        self._thread.start()

    @property
    def runs(self) -> int:
        """Checkpoints this thread ran so far."""
        return self._runs

    def wrote(self) -> None:
        """A commit happened: checkpoint within ``every_s``."""
        self._wrote.set()

    def tend(self, writer: sqlite3.Connection) -> None:
        """Between two groups, on the writer's connection: if the thread copied a long log,
        copy the rest, so the next write starts the log over."""
        if not self._restart.is_set():
            return
        self._restart.clear()
        _checkpoint(writer)  # busy (the thread is copying again) is fine: it asks again

    def close(self) -> None:
        """Stop the thread (a checkpoint under way finishes first) and close its connection.
        Call before the writer's connection closes: the last one to close checkpoints."""
        self._stopping.set()
        self._wrote.set()
        self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wrote.wait()
            if self._stopping.wait(self._every_s):
                return
            self._wrote.clear()
            self.run_once()

    def run_once(self) -> int:
        """One checkpoint of the thread's (tests call it directly); the log's length."""
        self._runs += 1
        frames = _checkpoint(self._conn)
        if frames >= self._restart_frames:
            self._restart.set()
        return frames


def _checkpoint(conn: sqlite3.Connection) -> int:
    """One PASSIVE checkpoint; the log's length in frames (0 if it could not run)."""
    try:
        busy, frames, _copied = conn.execute(_PASSIVE).fetchone()
    except sqlite3.Error as exc:
        log.warning("checkpoint of the write-ahead log failed (it is tried again): %s", exc)
        return 0
    return 0 if busy else int(frames)
