"""Group commit on one SQLite connection: many callers' writes, one transaction, one fsync.

Used by the writer thread of a ``SQLiteBackend`` and by the writer process that serves the
workers of one server (``sqlite_writer.py``); both hand ``Committer.commit`` a group of
callers' writes and get one outcome per caller back.

Every caller's write gets the next value of one revision counter (kept in the ``meta``
table, committed with the data) as the version of each key it puts. A caller's checks are
evaluated inside the transaction, right before its writes, so a check-and-set is
serialised with every other write, also those of other processes (SQLite's write lock).
A caller's failure fails only that caller; a failed commit fails them all.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from warden.logical.storage import BatchOp, Check, Put
from warden.storage.base import StorageError
from warden.storage.sqlite_checkpoint import BACKSTOP_PAGES, Checkpointer

SCHEMA_VERSION: Final = 2
_CREATE_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, "
    "version INTEGER NOT NULL DEFAULT 1) WITHOUT ROWID"
)
_CREATE_META: Final = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL)"
)
_ADD_VERSION_COLUMN: Final = "ALTER TABLE kv ADD COLUMN version INTEGER NOT NULL DEFAULT 1"
_INIT_REVISION: Final = "INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 1)"
_GET_REVISION: Final = "SELECT value FROM meta WHERE name = 'revision'"
_SET_REVISION: Final = "UPDATE meta SET value = ? WHERE name = 'revision'"
_VERSION_OF: Final = "SELECT version FROM kv WHERE key = ?"
BUSY_TIMEOUT_S: Final = 30.0
LINGER_S: Final = 0.001  # how long a group may wait for more writers (GroupSize)
MAX_GROUP: Final = 256
_ROWS_PER_STATEMENT: Final = 2000  # 3 parameters a row, under SQLite's 32766
_WAL_LIMIT_BYTES: Final = 64 << 20  # the log is cut back to this after a checkpoint
_MMAP_BYTES: Final = 1 << 30  # address space, not memory: the kernel's page cache backs it
_WRITER_CACHE_KIB: Final = 16 * 1024  # the writer's page cache (readers keep the default)


@dataclass(frozen=True, slots=True)
class Write:
    """One caller's writes: applied atomically, and only if every check holds."""

    ops: tuple[BatchOp, ...]
    checks: tuple[Check, ...] = ()


Outcome = BaseException | bool  # True: applied; False: a check failed, nothing applied


@dataclass(frozen=True, slots=True)
class WriterStats:
    """How hard group commit is working: ``writes / commits`` is the mean group size."""

    commits: int
    writes: int


class GroupSize:
    """How many writes a group waits for. When the last commit carried several callers,
    the next waits up to ``LINGER_S`` for twice as many: every commit costs an fsync and
    writes each page it touched whole, whatever it carries. A lone writer commits at once."""

    def __init__(self) -> None:
        self._last = 0

    def target(self) -> int:
        return min(2 * self._last, MAX_GROUP) if self._last > 1 else 1

    def deadline(self) -> float:
        return time.monotonic() + LINGER_S

    def record(self, size: int) -> None:
        self._last = size


class Committer:
    """Applies groups of writes on one write connection, one transaction per group."""

    def __init__(self, conn: sqlite3.Connection, checkpointer: Checkpointer | None = None) -> None:
        self._conn = conn
        self._checkpointer = checkpointer
        self._revision = 0  # read from ``meta`` at the start of every write transaction
        self._commits = 0
        self._writes = 0

    @property
    def stats(self) -> WriterStats:
        return WriterStats(commits=self._commits, writes=self._writes)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._conn.close()  # the last connection to close checkpoints the log

    def tend(self) -> None:
        """Between groups, once their callers are answered: upkeep that must not delay them
        (letting the write-ahead log start over; see ``sqlite_checkpoint``)."""
        if self._checkpointer is not None:
            self._checkpointer.tend(self._conn)

    def commit(self, group: Sequence[Write]) -> list[Outcome]:
        outcomes = self._transact(group)
        if self._checkpointer is not None:
            self._checkpointer.wrote()
        self._commits += 1
        self._writes += len(group)
        return outcomes

    def _transact(self, group: Sequence[Write]) -> list[Outcome]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            # Read under the write lock: another process on the same file may have written.
            self._revision = int(self._conn.execute(_GET_REVISION).fetchone()[0])
            outcomes = self._apply_group(group)
            self._conn.execute(_SET_REVISION, (self._revision,))
            self.finish()
        except Exception as exc:
            self._rollback()
            return [exc] * len(group)
        return outcomes

    def finish(self) -> None:
        """COMMIT: a seam tests hold open to see what queues behind a commit."""
        self._conn.execute("COMMIT")

    def _apply_group(self, group: Sequence[Write]) -> list[Outcome]:
        """Each caller's writes, in order. Runs of callers that only put (no checks) go in
        one statement: every statement releases the GIL and takes it back, which costs the
        event loop more than the statement itself. If such a run fails, its callers are
        applied one by one, so only the failing one fails."""
        outcomes: list[Outcome] = []
        start = 0
        while start < len(group):
            end = start
            while end < len(group) and _puts_only(group[end]):
                end += 1
            if end - start > 1:
                outcomes += self._apply_puts(group[start:end])
                start = end
            else:
                outcomes.append(self._apply(group[start]))
                start += 1
        return outcomes

    def _apply_puts(self, run: Sequence[Write]) -> list[Outcome]:
        first = self._revision + 1
        rows = [(op.key, op.value, first + i) for i, write in enumerate(run)
                for op in write.ops if isinstance(op, Put)]
        try:
            _upsert(self._conn, rows)
        except sqlite3.Error:
            if not self._conn.in_transaction:
                raise  # SQLite gave up the whole transaction: every caller fails
            return [self._apply(write) for write in run]  # the statement was undone
        self._revision += len(run)
        return [True] * len(run)

    def _apply(self, write: Write) -> Outcome:
        """Apply one caller's ops atomically, so its failure fails only that caller: one
        statement is atomic by itself; several share a savepoint."""
        conn = self._conn
        if not all(self._holds(check) for check in write.checks):
            return False
        self._revision += 1
        runs = _runs(write.ops)
        if not runs:
            return True
        if len(runs) == 1:
            try:
                _apply_run(conn, runs[0], self._revision)
            except sqlite3.Error as exc:
                if not conn.in_transaction:
                    raise
                return exc
            return True
        conn.execute("SAVEPOINT request")
        try:
            for run in runs:
                _apply_run(conn, run, self._revision)
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK TO request")
            conn.execute("RELEASE request")
            return exc
        conn.execute("RELEASE request")
        return True

    def _holds(self, check: Check) -> bool:
        row = self._conn.execute(_VERSION_OF, (check.key,)).fetchone()
        return (0 if row is None else int(row[0])) == check.version

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the connection is unusable; the next BEGIN says so


def _puts_only(write: Write) -> bool:
    return not write.checks and bool(write.ops) and all(isinstance(op, Put) for op in write.ops)


def _runs(ops: Sequence[BatchOp]) -> list[list[BatchOp]]:
    """Consecutive puts, or consecutive deletes, in their order."""
    runs: list[list[BatchOp]] = []
    for op in ops:
        if runs and type(runs[-1][0]) is type(op):
            runs[-1].append(op)
        else:
            runs.append([op])
    return runs


def _apply_run(conn: sqlite3.Connection, run: list[BatchOp], revision: int) -> None:
    if isinstance(run[0], Put):
        _upsert(conn, [(op.key, op.value, revision) for op in run if isinstance(op, Put)])
    else:
        for start in range(0, len(run), _ROWS_PER_STATEMENT):
            keys = [op.key for op in run[start:start + _ROWS_PER_STATEMENT]]
            conn.execute(_delete_many(len(keys)), keys)


def _upsert(conn: sqlite3.Connection, rows: list[tuple[str, bytes, int]]) -> None:
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start:start + _ROWS_PER_STATEMENT]
        conn.execute(_upsert_many(len(chunk)), [v for row in chunk for v in row])


@functools.lru_cache(maxsize=64)
def _upsert_many(rows: int) -> str:
    # Only placeholders are joined in: every value is a bound parameter.
    return (
        "INSERT INTO kv (key, value, version) VALUES "  # noqa: S608
        + ",".join(["(?, ?, ?)"] * rows)
        + " ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version"
    )


@functools.lru_cache(maxsize=64)
def _delete_many(keys: int) -> str:
    return "DELETE FROM kv WHERE key IN (" + ",".join(["?"] * keys) + ")"  # noqa: S608


# -- opening ------------------------------------------------------------------------------


def create_private_file(path: str) -> None:
    """Create missing parent directories with 0700 and the database file with 0600."""
    parent = Path(path).absolute().parent
    missing: list[Path] = []
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            pass
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)


def connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                           check_same_thread=False)


def open_writer(path: str) -> sqlite3.Connection:
    """The write connection: WAL, durable commits, the schema in place."""
    try:
        conn = connect(path)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path}: {exc}") from exc
    try:
        _configure_writer(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def open_checkpointer(path: str) -> Checkpointer:
    """The thread that checkpoints the write connection's log (on a connection of its own)."""
    try:
        return Checkpointer(connect(path))
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path}: {exc}") from exc


def _configure_writer(conn: sqlite3.Connection, path: str) -> None:
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StorageError(f"{path}: the filesystem does not support WAL mode")
        conn.execute("PRAGMA synchronous = FULL")
        # The log is checkpointed by a thread of its own (sqlite_checkpoint), not by the
        # commit that fills it; this connection's own checkpoint is the backstop.
        conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT_BYTES}")
        tune(conn, cache_kib=_WRITER_CACHE_KIB)
        _ensure_schema(conn)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path}: {exc}") from exc


def tune(conn: sqlite3.Connection, *, cache_kib: int = 0) -> None:
    """Read pages through a memory map (no pread per page), and keep statement journals
    (of multi-row writes) off the disk; the writer also keeps more pages in memory."""
    conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
    if cache_kib:
        conn.execute(f"PRAGMA cache_size = -{cache_kib}")
    conn.execute("PRAGMA temp_store = MEMORY")


def _ensure_schema(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError(f"database schema version {version} is newer than this server")
        if version == 1:  # before versions: every existing row starts at version 1
            conn.execute(_ADD_VERSION_COLUMN)
        conn.execute(_CREATE_TABLE)
        conn.execute(_CREATE_META)
        conn.execute(_INIT_REVISION)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
