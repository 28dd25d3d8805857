"""SQLiteBackend: durability, group commit, skip-scan listing, failures, file modes."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from warden.logical.storage import Check, Delete, Put
from warden.storage.base import BackendClosed, StorageError, StorageReadOnly
from warden.storage.memory import children
from warden.storage.sqlite import SQLiteBackend, list_children

SRC = Path(__file__).resolve().parents[3] / "src"


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[SQLiteBackend]:
    store = SQLiteBackend(tmp_path / "warden.db")
    yield store
    await store.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _raw_get(path: Path, key: str) -> bytes | None:
    """Read with a connection of our own, as another process would."""
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    conn.close()
    return None if row is None else bytes(row[0])


# --- durability -----------------------------------------------------------------------


async def test_writes_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "warden.db"
    first = SQLiteBackend(path)
    await first.put("a/1", b"one")
    await first.batch([Put("a/2", b"two"), Put("gone", b"x"), Delete("gone")])
    await first.close()

    second = SQLiteBackend(path)
    assert await second.get("a/1") == b"one"
    assert await second.get("a/2") == b"two"
    assert await second.get("gone") is None
    assert await second.list("a/") == ["1", "2"]
    await second.close()


async def test_acknowledged_writes_survive_a_crash(tmp_path: Path) -> None:
    """A process that dies right after ``put`` returns (no close) still has its write."""
    path = tmp_path / "warden.db"
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys
        sys.path.insert(0, {str(SRC)!r})
        from warden.storage.sqlite import SQLiteBackend
        async def main():
            store = SQLiteBackend({str(path)!r})
            await asyncio.gather(*(store.put(f"k{{i}}", b"v%d" % i) for i in range(50)))
            os._exit(0)
        asyncio.run(main())
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    reopened = SQLiteBackend(path)
    assert len(await reopened.list("")) == 50
    assert await reopened.get("k49") == b"v49"
    await reopened.close()


async def test_uses_wal_journal(backend: SQLiteBackend) -> None:
    with sqlite3.connect(backend.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_close_commits_writes_already_queued(tmp_path: Path) -> None:
    path = tmp_path / "warden.db"
    store = SQLiteBackend(path)
    writes = [asyncio.create_task(store.put(f"k{i}", b"v")) for i in range(100)]
    await asyncio.sleep(0)  # every task has queued its write
    await store.close()
    await asyncio.gather(*writes)
    assert all(_raw_get(path, f"k{i}") == b"v" for i in range(100))


async def test_closed_backend_refuses_and_close_is_idempotent(backend: SQLiteBackend) -> None:
    await asyncio.gather(backend.close(), backend.close())
    await backend.close()
    with pytest.raises(BackendClosed):
        await backend.put("k", b"v")
    with pytest.raises(BackendClosed):
        await backend.get("k")


# --- group commit ---------------------------------------------------------------------


async def test_concurrent_writers_share_commits(backend: SQLiteBackend) -> None:
    before = backend.stats
    await asyncio.gather(*(backend.put(f"w/{i:03d}", b"x") for i in range(200)))
    after = backend.stats
    assert after.writes - before.writes == 200
    assert after.commits - before.commits < 100, after
    assert len(await backend.list("w/")) == 200


async def test_a_lone_write_commits_at_once(backend: SQLiteBackend) -> None:
    before = backend.stats.commits
    await asyncio.wait_for(backend.put("alone", b"v"), timeout=5)
    assert backend.stats.commits == before + 1
    assert _raw_get(Path(backend.path), "alone") == b"v"


async def test_writes_queued_during_a_commit_share_the_next_one(
    backend: SQLiteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hold the first commit open: later writers wait for, and share, the next commit.

    Meanwhile reads are served (they never queue behind the writer) and see only
    committed data.
    """
    writer = backend._writer.committer  # type: ignore[union-attr]
    real_commit = writer.finish
    entered, release = threading.Event(), threading.Event()

    def gated_commit() -> None:
        if not entered.is_set():
            entered.set()
            release.wait(10)
        real_commit()

    monkeypatch.setattr(writer, "finish", gated_commit)
    before = backend.stats.commits
    first = asyncio.create_task(backend.put("first", b"1"))
    await asyncio.to_thread(entered.wait, 10)
    queued = [asyncio.create_task(backend.put(f"next/{i}", b"n")) for i in range(50)]
    for _ in range(3):
        await asyncio.sleep(0)

    assert await asyncio.wait_for(backend.get("first"), timeout=5) is None  # not committed yet
    assert await asyncio.wait_for(backend.list(""), timeout=5) == []
    assert not first.done()
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *queued), timeout=10)

    assert backend.stats.commits - before == 2
    assert await backend.get("first") == b"1"
    assert len(await backend.list("next/")) == 50


async def test_each_write_is_committed_when_its_await_returns(backend: SQLiteBackend) -> None:
    """Checked from a connection of our own, right as each of many racing writers resumes."""
    path = Path(backend.path)

    async def write_then_check(i: int) -> bool:
        await backend.put(f"seen/{i}", b"%d" % i)
        return _raw_get(path, f"seen/{i}") == b"%d" % i

    assert all(await asyncio.gather(*(write_then_check(i) for i in range(100))))


async def test_reads_see_writes_from_other_callers(backend: SQLiteBackend) -> None:
    for round_ in range(20):
        await backend.put("counter", b"%d" % round_)
        values = await asyncio.gather(*(backend.get("counter") for _ in range(8)))
        assert set(values) == {b"%d" % round_}


# --- listing --------------------------------------------------------------------------


async def _fill(backend: SQLiteBackend, keys: list[str]) -> None:
    await backend.batch([Put(k, b"") for k in keys])


async def test_list_on_ten_thousand_keys_matches_reference(backend: SQLiteBackend) -> None:
    keys = [f"f{i:03d}/k{j:03d}" for i in range(100) for j in range(100)]
    keys += [f"f{i:03d}" for i in range(0, 100, 7)] + ["f050/deep/er/key", "f050-x", "f0500"]
    await _fill(backend, keys)
    for prefix in ["", "f050/", "f050/deep/", "f099/", "nope/", "f0"]:
        assert await backend.list(prefix) == children(prefix, keys), prefix


async def test_list_skips_over_folders_instead_of_scanning_them(tmp_path: Path) -> None:
    store = SQLiteBackend(tmp_path / "warden.db")
    keys = [f"folder{i:02d}/{j:04d}" for i in range(10) for j in range(1000)]
    await _fill(store, [*keys, "leaf"])
    await store.close()

    conn = sqlite3.connect(tmp_path / "warden.db")
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(count, 10)
    names = list_children(conn, "")
    skip_scan = steps[0]
    steps[0] = 0
    every_key = conn.execute("SELECT key FROM kv WHERE key > '' ORDER BY key").fetchall()
    full_scan = steps[0]
    conn.close()

    assert names == [f"folder{i:02d}/" for i in range(10)] + ["leaf"]
    assert len(every_key) == 10_001
    assert skip_scan * 50 < full_scan, (skip_scan, full_scan)


# --- failures -------------------------------------------------------------------------


async def test_a_failing_write_fails_only_its_caller(tmp_path: Path) -> None:
    path = tmp_path / "warden.db"
    await SQLiteBackend(path).close()  # creates the schema
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON kv WHEN NEW.key = 'refused'"
            " BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END"
        )
    conn.close()
    store = SQLiteBackend(path)
    results = await asyncio.wait_for(
        asyncio.gather(
            *(store.put(f"ok/{i}", b"v") for i in range(20)),
            store.batch([Put("refused-too", b"v"), Put("refused", b"v")]),
            return_exceptions=True,
        ),
        timeout=10,
    )
    assert results[:20] == [None] * 20
    assert isinstance(results[20], StorageError)
    assert "refused by trigger" in str(results[20])
    assert await store.get("refused-too") is None  # the failed batch left nothing behind
    assert len(await store.list("ok/")) == 20
    await store.close()


async def test_a_failing_commit_raises_in_every_waiting_caller(
    backend: SQLiteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = backend._writer.committer  # type: ignore[union-attr]

    def failing_commit() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(writer, "finish", failing_commit)
    results = await asyncio.wait_for(
        asyncio.gather(*(backend.put(f"k{i}", b"v") for i in range(50)), return_exceptions=True),
        timeout=10,
    )
    assert all(isinstance(r, StorageError) for r in results), results
    assert all("disk I/O error" in str(r) for r in results)
    assert len({id(r) for r in results}) == 50  # one error object per caller
    assert await backend.list("") == []  # rolled back

    monkeypatch.undo()
    await backend.put("after", b"recovered")
    assert await backend.get("after") == b"recovered"


async def test_a_dying_writer_fails_callers_instead_of_hanging(
    backend: SQLiteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(ops: object) -> None:
        raise SystemExit("writer thread killed")

    monkeypatch.setattr(backend._writer.committer, "_apply_group", explode)  # type: ignore[union-attr]
    with pytest.raises(StorageError):
        await asyncio.wait_for(backend.put("k", b"v"), timeout=10)
    backend._writer._thread.join()  # type: ignore[union-attr]
    with pytest.raises(BackendClosed):
        await asyncio.wait_for(backend.put("k2", b"v"), timeout=10)


async def test_invalid_values_are_refused_before_queueing(backend: SQLiteBackend) -> None:
    with pytest.raises(TypeError):
        await backend.put("k", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await backend.get(b"k")  # type: ignore[arg-type]
    assert backend.stats.writes == 0


async def test_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="cannot open"):
        SQLiteBackend(path)


async def test_upgrades_a_store_written_before_versions(tmp_path: Path) -> None:
    """A schema-1 file (no version column) opens: its rows get version 1, new writes more."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID")
        conn.execute("INSERT INTO kv (key, value) VALUES ('old', x'01')")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    store = SQLiteBackend(path)
    try:
        old = await store.get_versioned("old")
        assert (old.value, old.version) == (b"\x01", 1)
        assert await store.transaction([Check("old", 1)], [Put("old", b"\x02")])
        assert (await store.get_versioned("old")).version > 1
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()


async def test_versions_survive_a_restart(tmp_path: Path) -> None:
    """The revision counter is stored: after reopening, a re-created key never reuses a version."""
    path = tmp_path / "warden.db"
    store = SQLiteBackend(path)
    await store.put("k", b"v")
    before = (await store.get_versioned("k")).version
    await store.delete("k")
    await store.close()
    store = SQLiteBackend(path)
    try:
        await store.put("k", b"v")
        assert (await store.get_versioned("k")).version > before
    finally:
        await store.close()


async def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StorageError, match="newer"):
        SQLiteBackend(path)


# --- files ----------------------------------------------------------------------------


async def test_creates_private_directories_and_files(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "warden.db"
    store = SQLiteBackend(path)
    await store.put("k", b"v")
    assert _mode(tmp_path / "a") == 0o700
    assert _mode(tmp_path / "a" / "b") == 0o700
    assert _mode(path) == 0o600
    for sidecar in path.parent.glob("warden.db-*"):  # -wal and -shm while open
        assert _mode(sidecar) == 0o600, sidecar
    await store.close()
    assert _mode(path) == 0o600


def _disk_fills(monkeypatch: pytest.MonkeyPatch, reason: str | None) -> None:
    """Opening for writing fails as SQLite does on a full disk; ``reason`` is the diagnosis."""
    import warden.storage.sqlite as sqlite_module

    def no_room(path: str) -> sqlite3.Connection:
        raise StorageError(f"cannot open {path}: disk I/O error")

    monkeypatch.setattr(sqlite_module, "open_writer", no_room)
    monkeypatch.setattr(sqlite_module, "disk_full_reason", lambda path: reason)


async def test_a_full_disk_opens_the_store_read_only(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "warden.db"
    store = SQLiteBackend(path)
    await store.put("a/b", b"kept")
    await store.close()
    _disk_fills(monkeypatch, "the disk is full (test)")
    store = SQLiteBackend(path)
    try:
        assert store.read_only_reason == "the disk is full (test)"
        assert await store.get("a/b") == b"kept" and await store.list("a/") == ["b"]
        with pytest.raises(StorageReadOnly, match="read-only: the disk is full"):
            await store.put("a/c", b"x")
        with pytest.raises(StorageReadOnly):
            await store.batch([Delete("a/b")])
    finally:
        await store.close()
    assert not Path(str(path) + "-shm").exists()  # nothing was written next to it


async def test_a_full_disk_with_a_left_over_log_or_another_failure_refuses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "warden.db"
    await SQLiteBackend(path).close()
    Path(str(path) + "-wal").write_bytes(b"unapplied")
    _disk_fills(monkeypatch, "the disk is full (test)")
    with pytest.raises(StorageError, match=r"write-ahead log .* holds changes"):
        SQLiteBackend(path)
    Path(str(path) + "-wal").unlink()
    _disk_fills(monkeypatch, None)  # room on the disk: some other failure, reported as is
    with pytest.raises(StorageError, match="disk I/O error"):
        SQLiteBackend(path)
    _disk_fills(monkeypatch, "the disk is full (test)")
    with pytest.raises(StorageError, match=r"cannot create the store .*: the disk is full"):
        SQLiteBackend(tmp_path / "new.db")
