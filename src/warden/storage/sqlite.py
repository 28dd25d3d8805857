"""SQLite physical backend: the embedded, durable, single-node default.

Writes use group commit. Every put/delete/batch from any coroutine is queued to
one writer thread, which commits whatever is queued in a single transaction
(WAL, ``synchronous=FULL``) and only then wakes each caller. A lone write
commits at once; writes arriving while a commit is in flight go in the next
one. So an awaited write is durable, and many concurrent writers share fsyncs.

Reads run on a small pool of reader threads, each with its own connection. WAL
lets them read concurrently with the writer, and every read sees every write
whose await has returned.

Every caller's write gets the next value of one revision counter (kept in the
``meta`` table, committed with the data) as the version of each key it puts. A
``transaction`` checks its preconditions inside the writer's transaction, right
before its writes, so a check-and-set is serialised with every other write, also
those of other processes (SQLite's write lock).

Cancelling an awaiting writer does not withdraw its write: it may still commit.

When the store cannot be opened for writing because its disk is full, it is opened
read-only instead (``read_only_reason`` says why): reads are served, every write raises
StorageReadOnly. That is only done when the database file holds everything committed (no
write-ahead log is left over from a crash), since the log could not be applied.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import queue
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from warden.logical.storage import ABSENT, BatchOp, Check, Delete, Put, Versioned
from warden.storage.base import (
    BackendClosed,
    StorageError,
    StorageReadOnly,
    checked_check,
    checked_key,
    checked_op,
    copied_value,
)
from warden.storage.space import disk_full_reason

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_Names = list[str]  # inside the class, ``list`` names the method

_SCHEMA_VERSION: Final = 2
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
_GET: Final = "SELECT value FROM kv WHERE key = ?"
_GET_VERSIONED: Final = "SELECT value, version FROM kv WHERE key = ?"
_VERSION_OF: Final = "SELECT version FROM kv WHERE key = ?"
_KEYS_AFTER: Final = "SELECT key FROM kv WHERE key > ? ORDER BY key"
_KEYS_FROM: Final = "SELECT key FROM kv WHERE key >= ? ORDER BY key"
_COUNT_RANGE: Final = "SELECT count(*) FROM kv WHERE key >= ? AND key < ?"
_COUNT_FROM: Final = "SELECT count(*) FROM kv WHERE key >= ?"
_BUSY_TIMEOUT_S: Final = 30.0
_LINGER_S: Final = 0.001  # how long a commit may wait for more writers (see _next_group)
_MAX_GROUP: Final = 256
_CHECKPOINT_PAGES: Final = 4000
_WAL_LIMIT_BYTES: Final = 64 << 20  # the log is cut back to this after a checkpoint
_MMAP_BYTES: Final = 1 << 30  # address space, not memory: the kernel's page cache backs it
_WRITER_CACHE_KIB: Final = 16 * 1024  # the writer's page cache (readers keep the default)


@dataclass(frozen=True, slots=True)
class WriterStats:
    """How hard group commit is working: ``writes / commits`` is the mean batch size."""

    commits: int
    writes: int


class SQLiteBackend:
    """A physical backend in one SQLite file; see the module docstring for the design.

    Creating it creates missing parent directories (0700) and the file (0600).
    Call ``close()`` to flush queued writes and stop the threads.
    """

    def __init__(self, path: str | os.PathLike[str], *, readers: int = 4) -> None:
        if readers < 1:
            raise ValueError("readers must be at least 1")
        self._path = os.fspath(path)
        _create_private_file(self._path)
        self.read_only_reason = ""
        self._writer: _GroupCommitWriter | None = None
        try:
            self._writer = _GroupCommitWriter(_open_writer(self._path))
        except StorageError as exc:
            self.read_only_reason = _read_only_reason(self._path, exc)
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_conns_lock = threading.Lock()
        self._readers = ThreadPoolExecutor(
            max_workers=readers,
            thread_name_prefix="warden-sqlite-reader",
            initializer=self._open_reader,
        )
        self._closed = False
        self._shutdown: asyncio.Task[None] | None = None

    @property
    def path(self) -> str:
        return self._path

    @property
    def stats(self) -> WriterStats:
        return self._writer.stats if self._writer is not None else WriterStats(0, 0)

    async def get(self, key: str) -> bytes | None:
        return await self._read(self._get_in_thread, checked_key(key))

    async def get_versioned(self, key: str) -> Versioned:
        return await self._read(self._get_versioned_in_thread, checked_key(key))

    async def list(self, prefix: str) -> list[str]:
        return await self._read(self._list_in_thread, checked_key(prefix), "", 0)

    async def list_page(self, prefix: str, after: str, limit: int) -> _Names:
        return await self._read(self._list_in_thread, checked_key(prefix), checked_key(after), limit)

    async def count(self, prefix: str, start: str = "", end: str = "") -> int:
        return await self._read(self._count_in_thread, checked_key(prefix), checked_key(start),
                                checked_key(end))

    async def put(self, key: str, value: bytes) -> None:
        await self._write((Put(checked_key(key), copied_value(value)),))

    async def delete(self, key: str) -> None:
        await self._write((Delete(checked_key(key)),))

    async def batch(self, ops: Sequence[BatchOp]) -> None:
        checked = tuple(checked_op(op) for op in ops)
        if checked:
            await self._write(checked)

    async def transaction(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bool:
        valid_checks = tuple(checked_check(c) for c in checks)
        valid_ops = tuple(checked_op(op) for op in ops)
        return await self._write(valid_ops, valid_checks)

    async def close(self) -> None:
        """Commit everything queued, then stop the writer and reader threads."""
        if self._shutdown is None:
            self._closed = True
            self._shutdown = asyncio.ensure_future(asyncio.to_thread(self._stop_threads))
        await asyncio.shield(self._shutdown)

    async def _write(self, ops: tuple[BatchOp, ...], checks: tuple[Check, ...] = ()) -> bool:
        self._check_open()
        if self._writer is None:
            raise StorageReadOnly(f"storage is read-only: {self.read_only_reason}; free space "
                                  "and restart the server to write again")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._writer.submit(_Pending(ops, checks, loop, future))
        return await future

    async def _read(self, fn: Callable[..., _T], *args: object) -> _T:
        self._check_open()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._readers, fn, *args)
        except sqlite3.Error as exc:
            raise StorageError(f"storage read failed: {exc}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise BackendClosed()

    def _open_reader(self) -> None:
        if self._writer is None:
            # immutable: no locks and no shared-memory file, which a full disk cannot hold;
            # safe because nothing writes this store while this process has it open.
            uri = f"file:{urllib.parse.quote(os.path.abspath(self._path))}?mode=ro&immutable=1"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = _connect(self._path)
        conn.execute("PRAGMA query_only = ON")
        _tune(conn)
        self._local.conn = conn
        with self._reader_conns_lock:
            self._reader_conns.append(conn)

    def _get_in_thread(self, key: str) -> bytes | None:
        row = self._local.conn.execute(_GET, (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def _get_versioned_in_thread(self, key: str) -> Versioned:
        row = self._local.conn.execute(_GET_VERSIONED, (key,)).fetchone()
        return ABSENT if row is None else Versioned(bytes(row[0]), int(row[1]))

    def _list_in_thread(self, prefix: str, after: str, limit: int) -> _Names:
        conn: sqlite3.Connection = self._local.conn
        conn.execute("BEGIN")  # one snapshot for all the seeks of this listing
        try:
            return list_children(conn, prefix, after, limit)
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def _count_in_thread(self, prefix: str, start: str, end: str) -> int:
        return count_keys(self._local.conn, prefix, start, end)

    def _stop_threads(self) -> None:
        # Readers first: the writer's connection closes last, which checkpoints the WAL.
        self._readers.shutdown(wait=True)
        with self._reader_conns_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        if self._writer is not None:
            self._writer.stop()
            self._writer.join()


def list_children(conn: sqlite3.Connection, prefix: str, after: str = "", limit: int = 0) -> list[str]:
    """The names directly below ``prefix``, sorted, by a skip-scan of the key index; only
    those after ``after`` and at most ``limit`` (> 0) of them.

    Leaves are read in key order; at the first key inside a folder the folder is
    recorded and the scan seeks past it (``'0'`` sorts right after ``'/'``), so a
    folder costs one seek however many keys it holds. A page costs one seek plus the
    rows it returns, wherever in the listing it starts.
    """
    names: list[str] = []
    if not after:
        query, bound = _KEYS_AFTER, prefix
    elif after.endswith("/"):  # past everything inside that folder
        query, bound = _KEYS_FROM, prefix + after[:-1] + "0"
    else:
        query, bound = _KEYS_AFTER, prefix + after
    while query:
        query, bound = _scan_to_next_folder(conn, prefix, query, bound, names, limit)
    return names


def _scan_to_next_folder(
    conn: sqlite3.Connection, prefix: str, query: str, bound: str, names: list[str], limit: int
) -> tuple[str, str]:
    """Append names from ``bound`` on; return the seek past the folder that stopped us."""
    start = len(prefix)
    cursor = conn.execute(query, (bound,))
    try:
        for (key,) in cursor:
            if not key.startswith(prefix) or 0 < limit <= len(names):
                break
            slash = key.find("/", start)
            if slash < 0:
                names.append(key[start:])
                continue
            names.append(key[start : slash + 1])
            return _KEYS_FROM, key[:slash] + "0"
    finally:
        cursor.close()
    return "", ""


def count_keys(conn: sqlite3.Connection, prefix: str, start: str, end: str) -> int:
    """Keys below ``prefix`` whose remainder is in ``[start, end)``: one range count of the
    key index, done inside SQLite (about 20 ms per million keys)."""
    low = prefix + start if start else prefix + "\x00"
    high = prefix + end if end else _successor(prefix)
    if high is None:
        row = conn.execute(_COUNT_FROM, (low,)).fetchone()
    else:
        row = conn.execute(_COUNT_RANGE, (low, high)).fetchone()
    return int(row[0])


def _successor(prefix: str) -> str | None:
    """The smallest string above every string that starts with ``prefix`` (None: no bound)."""
    if not prefix:
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True, slots=True)
class _Pending:
    """One caller's write, waiting for the transaction that carries it."""

    ops: tuple[BatchOp, ...]
    checks: tuple[Check, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[bool]


_Outcome = BaseException | bool  # True: applied; False: a check failed, nothing applied


class _GroupCommitWriter:
    """One thread and one connection; each transaction carries everything queued."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._revision = 0  # read from ``meta`` at the start of every write transaction
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._accepting = True
        self._accepting_lock = threading.Lock()
        self._commits = 0
        self._writes = 0
        self._last_group = 0
        self._thread = threading.Thread(target=self._run, name="warden-sqlite-writer", daemon=True)
        self._thread.start()

    @property
    def stats(self) -> WriterStats:
        return WriterStats(commits=self._commits, writes=self._writes)

    def submit(self, pending: _Pending) -> None:
        with self._accepting_lock:
            if not self._accepting:
                raise BackendClosed()
            self._queue.put(pending)

    def stop(self) -> None:
        self._queue.put(None)

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        group: list[_Pending] = []
        try:
            stopping = False
            while not stopping:
                group, stopping = self._next_group()
                if group:
                    self._commit_group(group)
                group = []
        except BaseException as exc:  # never leave a caller waiting forever
            _log.error("sqlite writer stopped: %s", type(exc).__name__)
            _notify(group, [exc] * len(group))
        finally:
            self._refuse_and_fail_queued()
            self._conn.close()

    def _next_group(self) -> tuple[list[_Pending], bool]:
        """Block for one write, then take everything else already queued.

        When the last commit carried several writers, wait up to ``_LINGER_S`` for as many
        again (or twice as many) before committing: every commit costs an fsync and writes
        each touched page whole, whatever it carries. A lone writer commits at once."""
        first = self._queue.get()
        if first is None:
            return [], True
        group = [first]
        target = min(2 * self._last_group, _MAX_GROUP) if self._last_group > 1 else 1
        deadline = time.monotonic() + _LINGER_S
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                wait = deadline - time.monotonic()
                if len(group) >= target or wait <= 0:
                    break
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    break
            if item is None:
                self._last_group = len(group)
                return group, True
            group.append(item)
        self._last_group = len(group)
        return group, False

    def _commit_group(self, group: list[_Pending]) -> None:
        outcomes = self._transact(group)
        self._commits += 1
        self._writes += len(group)
        _notify(group, outcomes)

    def _transact(self, group: list[_Pending]) -> list[_Outcome]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            # Read under the write lock: another process on the same file may have written.
            self._revision = int(self._conn.execute(_GET_REVISION).fetchone()[0])
            outcomes = self._apply_group(group)
            self._conn.execute(_SET_REVISION, (self._revision,))
            self._commit()
        except Exception as exc:
            self._rollback()
            return [exc] * len(group)
        return outcomes

    def _apply_group(self, group: list[_Pending]) -> list[_Outcome]:
        """Each caller's writes, in order. Runs of callers that only put (no checks) go in
        one statement: every statement releases the GIL and takes it back, which costs the
        event loop more than the statement itself. If such a run fails, its callers are
        applied one by one, so only the failing one fails."""
        outcomes: list[_Outcome] = []
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

    def _apply_puts(self, run: list[_Pending]) -> list[_Outcome]:
        first = self._revision + 1
        rows = [(op.key, op.value, first + i) for i, pending in enumerate(run)
                for op in pending.ops if isinstance(op, Put)]
        try:
            _upsert(self._conn, rows)
        except sqlite3.Error:
            if not self._conn.in_transaction:
                raise  # SQLite gave up the whole transaction: every caller fails
            return [self._apply(pending) for pending in run]  # the statement was undone
        self._revision += len(run)
        return [True] * len(run)

    def _apply(self, pending: _Pending) -> _Outcome:
        """Apply one caller's ops atomically, so its failure fails only that caller: one
        statement is atomic by itself; several share a savepoint."""
        conn = self._conn
        if not all(self._holds(check) for check in pending.checks):
            return False
        self._revision += 1
        runs = _runs(pending.ops)
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

    def _commit(self) -> None:
        self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                _log.error("sqlite rollback failed: %s", exc)

    def _refuse_and_fail_queued(self) -> None:
        with self._accepting_lock:
            self._accepting = False
        leftovers: list[_Pending] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                leftovers.append(item)
        _notify(leftovers, [BackendClosed()] * len(leftovers))


_ROWS_PER_STATEMENT: Final = 2000  # 3 parameters a row, under SQLite's 32766


def _puts_only(pending: _Pending) -> bool:
    return not pending.checks and bool(pending.ops) and all(isinstance(op, Put) for op in pending.ops)


def _runs(ops: tuple[BatchOp, ...]) -> list[list[BatchOp]]:
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
    return (
        "INSERT INTO kv (key, value, version) VALUES " + ",".join(["(?, ?, ?)"] * rows)  # noqa: S608
        + " ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version"
    )  # only placeholders are joined in: every value is a bound parameter


@functools.lru_cache(maxsize=64)
def _delete_many(keys: int) -> str:
    return "DELETE FROM kv WHERE key IN (" + ",".join(["?"] * keys) + ")"  # noqa: S608 (placeholders)


def _notify(group: list[_Pending], outcomes: list[_Outcome]) -> None:
    """Wake each caller on its own event loop, one hop per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[bool], _Outcome]]] = {}
    for pending, outcome in zip(group, outcomes, strict=True):
        by_loop.setdefault(pending.loop, []).append((pending.future, outcome))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:
            pass  # that loop is closed: nobody is left waiting on it


def _settle(settled: list[tuple[asyncio.Future[bool], _Outcome]]) -> None:
    for future, outcome in settled:
        if future.done():
            continue  # the caller was cancelled
        if isinstance(outcome, bool):
            future.set_result(outcome)
        else:
            future.set_exception(_write_failure(outcome))


def _write_failure(cause: BaseException) -> StorageError:
    """A fresh error per caller, so concurrent callers never share one traceback."""
    if isinstance(cause, BackendClosed):
        return BackendClosed()
    failure = StorageError(f"storage write failed: {cause}")
    failure.__cause__ = cause
    return failure


def _read_only_reason(path: str, failure: StorageError) -> str:
    """Why the store may be opened read-only; re-raises ``failure`` (with the reason, when
    there is one) if it may not."""
    reason = disk_full_reason(path)
    if reason is None:
        raise failure
    if os.path.getsize(path) == 0:
        raise StorageError(f"cannot create the store {path}: {reason}") from failure
    wal = path + "-wal"
    if os.path.exists(wal) and os.path.getsize(wal) > 0:
        raise StorageError(
            f"cannot open {path}: {reason}, and its write-ahead log ({wal}) holds changes not "
            "yet in the database; free space, then start the server again") from failure
    _log.warning("storage %s opened read-only: %s (%s)", path, reason, failure)
    return reason


def _create_private_file(path: str) -> None:
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


def _connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)


def _open_writer(path: str) -> sqlite3.Connection:
    try:
        conn = _connect(path)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path}: {exc}") from exc
    try:
        _configure_writer(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _configure_writer(conn: sqlite3.Connection, path: str) -> None:
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StorageError(f"{path}: the filesystem does not support WAL mode")
        conn.execute("PRAGMA synchronous = FULL")
        # Checkpoint the log into the database every 16 MiB rather than 4: a page written
        # again meanwhile (the time-ordered index's last pages) is copied once.
        conn.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT_BYTES}")
        _tune(conn, cache_kib=_WRITER_CACHE_KIB)
        _ensure_schema(conn)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path}: {exc}") from exc


def _tune(conn: sqlite3.Connection, *, cache_kib: int = 0) -> None:
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
        if version > _SCHEMA_VERSION:
            raise StorageError(f"database schema version {version} is newer than this server")
        if version == 1:  # before versions: every existing row starts at version 1
            conn.execute(_ADD_VERSION_COLUMN)
        conn.execute(_CREATE_TABLE)
        conn.execute(_CREATE_META)
        conn.execute(_INIT_REVISION)
        conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
