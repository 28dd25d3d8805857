"""The write-ahead log is checkpointed by a thread of the writer, not by the commits."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from warden.logical.storage import Put
from warden.storage.sqlite_checkpoint import Checkpointer
from warden.storage.sqlite_commit import Committer, Write, connect, open_writer

BIG = b"\x5a" * 65536  # 16 pages a value


def _put(committer: Committer, prefix: str, count: int) -> None:
    outcomes = committer.commit([Write(tuple(Put(f"{prefix}/{i}", BIG) for i in range(count)))])
    assert outcomes == [True]


def _in_database_file(path: Path, key: str, scratch: Path) -> bool:
    """Whether the database file alone (without its log) holds ``key``."""
    copy = scratch / "copy.db"
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        return conn.execute("SELECT 1 FROM kv WHERE key = ?", (key,)).fetchone() is not None
    except sqlite3.OperationalError:  # not even the table is in the file yet
        return False
    finally:
        conn.close()


def _log_frames(path: Path) -> int:
    """The log's length in frames (a PASSIVE checkpoint from a connection of its own)."""
    conn = connect(str(path))
    try:
        busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0
        return int(frames)
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Path, Committer, Checkpointer]]:
    path = tmp_path / "warden.db"
    # every_s: the thread never runs by itself; the tests run its checkpoints (run_once)
    checkpointer = Checkpointer(connect(str(path)), every_s=3600, restart_frames=1)
    committer = Committer(open_writer(str(path)), checkpointer)
    yield path, committer, checkpointer
    committer.close()


def test_a_commit_leaves_the_copying_to_the_checkpoint_thread(
        store: tuple[Path, Committer, Checkpointer], tmp_path: Path) -> None:
    path, committer, checkpointer = store
    _put(committer, "big", 300)  # 4,800 pages: past SQLite's default of 1,000
    assert not _in_database_file(path, "big/299", tmp_path)  # only in the log
    assert checkpointer.run_once() >= 4800
    assert _in_database_file(path, "big/299", tmp_path)


def test_the_thread_copies_within_its_interval_after_a_commit(tmp_path: Path) -> None:
    path = tmp_path / "warden.db"
    checkpointer = Checkpointer(connect(str(path)), every_s=0.01)
    committer = Committer(open_writer(str(path)), checkpointer)
    try:
        _put(committer, "k", 2)
        deadline = time.monotonic() + 10
        while not _in_database_file(path, "k/1", tmp_path):
            assert time.monotonic() < deadline, "the checkpoint thread did not copy the commit"
            time.sleep(0.01)
        assert checkpointer.runs >= 1
    finally:
        committer.close()


def test_the_writer_copies_the_rest_so_the_log_starts_over(
        store: tuple[Path, Committer, Checkpointer]) -> None:
    path, committer, checkpointer = store
    _put(committer, "first", 20)
    reader = connect(str(path))
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM kv").fetchone()  # holds the log: it cannot start over
    try:
        assert checkpointer.run_once() > 0  # the thread copied the log as it was
        _put(committer, "second", 20)  # appended while the reader holds the log
    finally:
        reader.execute("COMMIT")
        reader.close()
    committer.tend()  # the writer copies what was appended since (the "second" writes)
    _put(committer, "third", 1)  # so this write starts the log over
    assert _log_frames(path) < 40  # only the third write's frames, not all three writes'
