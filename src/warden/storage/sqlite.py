"""SQLite physical backend: the embedded, durable, single-node default.

Writes use group commit (``sqlite_commit.py``): every put/delete/batch of any coroutine
goes to one writer, which commits whatever has queued in a single transaction (WAL,
``synchronous=FULL``) and only then answers each caller. So an awaited write is durable,
and many concurrent writers share fsyncs. The writer is a thread of this process, or, in
a server, the writer process that all of its worker processes share
(``sqlite_writer.py``; the backend is then given its socket).

Reads run on a small pool of reader threads, each with its own connection. WAL
lets them read concurrently with the writer, and every read sees every write
whose await has returned.

A ``transaction`` checks its preconditions inside the writer's transaction, right before
its writes, so a check-and-set is serialised with every other write, also those of other
processes (SQLite's write lock). Cancelling an awaiting writer does not withdraw its
write: it may still commit.

When the store cannot be opened for writing because its disk is full, it is opened
read-only instead (``read_only_reason`` says why): reads are served, every write raises
StorageReadOnly. That is only done when the database file holds everything committed (no
write-ahead log is left over from a crash), since the log could not be applied.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import socket
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

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
from warden.storage.sqlite_commit import (
    Committer,
    GroupSize,
    Outcome,
    Write,
    WriterStats,
    connect,
    create_private_file,
    open_checkpointer,
    open_writer,
    tune,
)
from warden.storage.sqlite_remote import RemoteWriter

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_Names = list[str]  # inside the class, ``list`` names the method

_GET: Final = "SELECT value FROM kv WHERE key = ?"
_GET_VERSIONED: Final = "SELECT value, version FROM kv WHERE key = ?"
_KEYS_AFTER: Final = "SELECT key FROM kv WHERE key > ? ORDER BY key"
_KEYS_FROM: Final = "SELECT key FROM kv WHERE key >= ? ORDER BY key"
_COUNT_RANGE: Final = "SELECT count(*) FROM kv WHERE key >= ? AND key < ?"
_COUNT_FROM: Final = "SELECT count(*) FROM kv WHERE key >= ?"

__all__ = ["SQLiteBackend", "WriterStats", "count_keys", "list_children", "prepare_store"]


class _Writer(Protocol):
    @property
    def stats(self) -> WriterStats: ...

    async def write(self, ops: Sequence[BatchOp], checks: Sequence[Check]) -> bool: ...

    async def close(self) -> None: ...


def prepare_store(path: str | os.PathLike[str]) -> str:
    """Create the file and its schema before a writer process opens it; returns why the
    store can only be read ("" if it can be written; raises if it cannot be opened)."""
    path = os.fspath(path)
    create_private_file(path)
    try:
        open_writer(path).close()
    except StorageError as exc:
        return _read_only_reason(path, exc)
    return ""


class SQLiteBackend:
    """A physical backend in one SQLite file; see the module docstring for the design.

    Creating it creates missing parent directories (0700) and the file (0600). With
    ``writer`` (a socket to the writer process; see ``prepare_store``) writes go there;
    otherwise to a thread of this process. Call ``close()`` to flush queued writes and
    stop the threads.
    """

    def __init__(self, path: str | os.PathLike[str], *, readers: int = 4,
                 writer: socket.socket | None = None, read_only_reason: str = "") -> None:
        if readers < 1:
            raise ValueError("readers must be at least 1")
        self._path = os.fspath(path)
        create_private_file(self._path)
        self.read_only_reason = read_only_reason
        self._writer: _Writer | None = None
        if writer is not None:
            try:
                self._writer = RemoteWriter(writer)
            except StorageError:
                writer.close()
                raise
        elif not read_only_reason:
            try:
                self._writer = _ThreadWriter(_committer(self._path))
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
            self._shutdown = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._shutdown)

    async def _stop(self) -> None:
        # Readers first: the writer's connection closes last, which checkpoints the WAL.
        await asyncio.to_thread(self._stop_readers)
        if self._writer is not None:
            await self._writer.close()

    async def _write(self, ops: tuple[BatchOp, ...], checks: tuple[Check, ...] = ()) -> bool:
        self._check_open()
        if self._writer is None:
            raise StorageReadOnly(f"storage is read-only: {self.read_only_reason}; free space "
                                  "and restart the server to write again")
        return await self._writer.write(ops, checks)

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
            conn = connect(self._path)
        conn.execute("PRAGMA query_only = ON")
        tune(conn)
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

    def _stop_readers(self) -> None:
        self._readers.shutdown(wait=True)
        with self._reader_conns_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()


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

    write: Write
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[bool]


def _committer(path: str) -> Committer:
    conn = open_writer(path)
    try:
        return Committer(conn, open_checkpointer(path))
    except BaseException:
        conn.close()
        raise


class _ThreadWriter:
    """One thread and one connection; each transaction carries everything queued."""

    def __init__(self, committer: Committer) -> None:
        self._committer = committer
        self._sizes = GroupSize()
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._accepting = True
        self._accepting_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="warden-sqlite-writer", daemon=True)
        self._thread.start()

    @property
    def stats(self) -> WriterStats:
        return self._committer.stats

    @property
    def committer(self) -> Committer:
        return self._committer

    async def write(self, ops: Sequence[BatchOp], checks: Sequence[Check]) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        with self._accepting_lock:
            if not self._accepting:
                raise BackendClosed()
            self._queue.put(_Pending(Write(tuple(ops), tuple(checks)), loop, future))
        return await future

    async def close(self) -> None:
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        group: list[_Pending] = []
        try:
            stopping = False
            while not stopping:
                group, stopping = self._next_group()
                if group:
                    _notify(group, self._committer.commit([p.write for p in group]))
                group = []
                self._committer.tend()
        except BaseException as exc:  # never leave a caller waiting forever
            _log.error("sqlite writer stopped: %s", type(exc).__name__)
            _notify(group, [exc] * len(group))
        finally:
            self._refuse_and_fail_queued()
            self._committer.close()

    def _next_group(self) -> tuple[list[_Pending], bool]:
        """Block for one write, then take what else is queued (waiting a moment for more
        when the last group had several writers: see ``GroupSize``)."""
        first = self._queue.get()
        if first is None:
            return [], True
        group = [first]
        target, deadline = self._sizes.target(), self._sizes.deadline()
        stopping = False
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
                stopping = True
                break
            group.append(item)
        self._sizes.record(len(group))
        return group, stopping

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


def _notify(group: list[_Pending], outcomes: list[Outcome]) -> None:
    """Wake each caller on its own event loop, one hop per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[bool], Outcome]]] = {}
    for pending, outcome in zip(group, outcomes, strict=True):
        by_loop.setdefault(pending.loop, []).append((pending.future, outcome))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:
            pass  # that loop is closed: nobody is left waiting on it


def _settle(settled: list[tuple[asyncio.Future[bool], Outcome]]) -> None:
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


