"""The SQLite writer process: several backends (worker processes) writing through one."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from warden.logical.storage import Check, Delete, Put
from warden.storage import sqlite_wire as wire
from warden.storage.base import StorageError
from warden.storage.sqlite import SQLiteBackend, prepare_store
from warden.storage.sqlite_remote import WriterGone
from warden.storage.sqlite_writer import WriterProcess
from warden.storage.testing import exercise_atomic_updates


def test_frames_round_trip_and_arrive_in_pieces() -> None:
    frame = wire.request(7, [Check("a", 3)], [Put("k/é", b"\x00v"), Delete("gone")])
    frame += wire.request(8, [], [])
    buffer = bytearray()
    bodies = []
    for byte in frame:  # one byte at a time: a frame is taken only once it is complete
        buffer.append(byte)
        bodies += wire.frames(buffer)
    assert not buffer
    assert [wire.parse_request(b) for b in bodies] == [
        (7, (Check("a", 3),), (Put("k/é", b"\x00v"), Delete("gone"))), (8, (), ())]
    reply = bytearray(wire.reply(9, wire.FAILED, "disk full"))
    assert [wire.parse_reply(b) for b in wire.frames(reply)] == [(9, wire.FAILED, "disk full")]


@pytest.mark.parametrize("body", [b"", b"\x00" * 14 + b"\x00\x00\x00\x01",
                                  wire.request(1, [], [])[4:] + b"x"])
def test_malformed_requests_are_refused(body: bytes) -> None:
    with pytest.raises(wire.FrameError):
        wire.parse_request(body)


def test_an_impossible_frame_length_is_refused() -> None:
    with pytest.raises(wire.FrameError):
        wire.frames(bytearray(b"\xff\xff\xff\xff"))


@pytest.fixture
async def two_workers(tmp_path: Path) -> AsyncIterator[tuple[WriterProcess, SQLiteBackend, SQLiteBackend]]:
    path = str(tmp_path / "warden.db")
    assert prepare_store(path) == ""
    process, (a, b) = WriterProcess.start(path, clients=2)
    first, second = SQLiteBackend(path, writer=a), SQLiteBackend(path, writer=b)
    yield process, first, second
    await first.close()
    await second.close()
    process.wait(30)


async def test_check_and_set_holds_between_workers(
        two_workers: tuple[WriterProcess, SQLiteBackend, SQLiteBackend]) -> None:
    _, first, second = two_workers
    await exercise_atomic_updates([first, second], racers=60)


async def test_a_write_is_seen_by_the_other_worker_once_it_returns(
        two_workers: tuple[WriterProcess, SQLiteBackend, SQLiteBackend]) -> None:
    _, first, second = two_workers

    async def write_then_read(i: int) -> bool:
        writer, reader = (first, second) if i % 2 else (second, first)
        await writer.put(f"seen/{i}", b"%d" % i)
        return await reader.get(f"seen/{i}") == b"%d" % i

    assert all(await asyncio.gather(*(write_then_read(i) for i in range(200))))


async def test_a_failing_write_fails_only_its_caller(tmp_path: Path) -> None:
    path = tmp_path / "warden.db"
    await SQLiteBackend(path).close()
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON kv WHEN NEW.key = 'refused'"
                     " BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END")
    conn.close()
    process, (sock,) = WriterProcess.start(str(path), clients=1)
    store = SQLiteBackend(path, writer=sock)
    results = await asyncio.gather(*(store.put(f"ok/{i}", b"v") for i in range(20)),
                                   store.batch([Put("refused-too", b"v"), Put("refused", b"v")]),
                                   return_exceptions=True)
    assert results[:20] == [None] * 20
    assert isinstance(results[20], StorageError) and "refused by trigger" in str(results[20])
    assert await store.get("refused-too") is None
    await store.close()
    assert process.wait(30) == 0


async def test_the_writer_exits_once_every_worker_has_closed_and_keeps_their_writes(
        tmp_path: Path) -> None:
    path = str(tmp_path / "warden.db")
    prepare_store(path)
    process, socks = WriterProcess.start(path, clients=2)
    stores = [SQLiteBackend(path, writer=s) for s in socks]
    await asyncio.gather(*(s.put(f"k/{i}", b"v") for i, s in enumerate(stores)))
    await stores[0].close()
    assert process.poll() is None  # the other worker still writes
    await stores[1].put("last", b"v")
    await stores[1].close()
    assert process.wait(30) == 0
    reopened = SQLiteBackend(path)
    assert await reopened.list("") == ["k/", "last"]
    await reopened.close()


async def test_a_dead_writer_fails_writes_instead_of_hanging(tmp_path: Path) -> None:
    path = str(tmp_path / "warden.db")
    prepare_store(path)
    process, (sock,) = WriterProcess.start(path, clients=1)
    store = SQLiteBackend(path, writer=sock)
    await store.put("before", b"v")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)
    with pytest.raises(WriterGone) as caught:
        await asyncio.wait_for(store.put("after", b"v"), timeout=10)
    assert caught.value.status == 503
    assert await store.get("before") == b"v"  # reads still work
    await store.close()


async def test_a_store_the_writer_cannot_open_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    process, (sock,) = WriterProcess.start(str(path), clients=1)
    with pytest.raises(StorageError, match="cannot open"):
        SQLiteBackend(path, writer=sock)
    assert process.wait(30) == 1
