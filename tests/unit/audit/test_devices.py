"""The file device: one write per event-loop tick, a chain that survives failed writes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from warden.audit.devices import AuditDeviceError, FileDevice
from warden.audit.hashing import Hasher
from warden.audit.record import AuditAuth, AuditRecord, AuditRequest
from warden.audit.verify import verify_file


def record(n: int) -> AuditRecord:
    return AuditRecord(type="request", time="2026-11-23T00:00:00.000000Z", auth=AuditAuth(),
                       request=AuditRequest(id=str(n), operation="read", path=f"p/{n}",
                                            data={"secret": f"value-{n}"}))


async def test_concurrent_records_share_one_write_and_keep_order(tmp_path: Path,
                                                                 monkeypatch: Any) -> None:
    log = tmp_path / "audit.log"
    device = FileDevice({"file_path": str(log)}, Hasher(b"k" * 32))
    writes: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: Any) -> int:
        writes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counting_write)
    await asyncio.gather(*(device.log(record(n)) for n in range(50)))
    await device.close()
    assert len(writes) == 1
    lines = [orjson.loads(x) for x in log.read_bytes().splitlines()]
    assert [e["request"]["id"] for e in lines] == [str(n) for n in range(50)]
    assert all(e["request"]["data"]["secret"].startswith("hmac-sha256:") for e in lines)
    assert verify_file(str(log)).ok


async def test_a_failed_write_fails_its_callers_and_the_chain_continues(tmp_path: Path,
                                                                        monkeypatch: Any) -> None:
    log = tmp_path / "audit.log"
    device = FileDevice({"file_path": str(log)}, Hasher(b"k" * 32))
    await device.log(record(0))
    real_write = os.write

    def failing_write(fd: int, data: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", failing_write)
    results = await asyncio.gather(*(device.log(record(n)) for n in (1, 2)),
                                   return_exceptions=True)
    assert all(isinstance(r, AuditDeviceError) for r in results)
    monkeypatch.setattr(os, "write", real_write)
    await device.log(record(3))
    await device.close()
    ids = [orjson.loads(x)["request"]["id"] for x in log.read_bytes().splitlines()]
    assert ids == ["0", "3"]
    assert verify_file(str(log)).ok


async def test_a_write_torn_by_a_full_disk_is_undone(tmp_path: Path, monkeypatch: Any) -> None:
    """The disk fills mid-batch: part of it reached the file. The file must be left exactly
    as before, so the next line starts on its own and the chain verifies."""
    log = tmp_path / "audit.log"
    device = FileDevice({"file_path": str(log)}, Hasher(b"k" * 32))
    await device.log(record(0))
    before = log.read_bytes()
    real_write = os.write
    calls = 0

    def filling_write(fd: int, data: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))  # a short write...
        raise OSError(28, "No space left on device")  # ...and then the disk is full

    monkeypatch.setattr(os, "write", filling_write)
    results = await asyncio.gather(*(device.log(record(n)) for n in (1, 2)),
                                   return_exceptions=True)
    assert all(isinstance(r, AuditDeviceError) for r in results)
    assert log.read_bytes() == before
    monkeypatch.setattr(os, "write", real_write)
    await device.log(record(3))
    await device.close()
    ids = [orjson.loads(x)["request"]["id"] for x in log.read_bytes().splitlines()]
    assert ids == ["0", "3"]
    assert verify_file(str(log)).ok


async def test_a_torn_tail_left_by_a_crash_is_cut_when_the_file_is_opened(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    device = FileDevice({"file_path": str(log)}, Hasher(b"k" * 32))
    await device.log(record(0))
    await device.close()
    whole = log.read_bytes()
    with open(log, "ab") as fh:
        fh.write(b'{"time":"2026-11-23T00:00:00.000000Z","type":"requ')  # killed mid-write
    device = FileDevice({"file_path": str(log)}, Hasher(b"k" * 32))
    assert log.read_bytes() == whole
    await device.log(record(1))
    await device.close()
    assert verify_file(str(log)).ok and verify_file(str(log)).lines == 2
    log.write_bytes(b"no newline at all")
    await FileDevice({"file_path": str(log)}, Hasher(b"k" * 32)).close()
    assert log.read_bytes() == b""


async def test_a_missing_directory_is_created_for_the_owner_only(tmp_path: Path) -> None:
    """As Vault's file device does (MkdirAll before opening); 0700, since the log holds
    request metadata."""
    log = tmp_path / "var" / "log" / "warden" / "audit.log"
    device = FileDevice({"file_path": str(log)}, Hasher(b"k" * 32))
    await device.log(record(0))
    await device.close()
    assert verify_file(str(log)).ok
    for folder in (tmp_path / "var", tmp_path / "var" / "log", log.parent):
        assert folder.stat().st_mode & 0o777 == 0o700
    assert log.stat().st_mode & 0o777 == 0o600


async def test_a_directory_that_cannot_be_made_is_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(AuditDeviceError, match=r'file_path.*cannot create the directory .*a-file'):
        FileDevice({"file_path": str(tmp_path / "a-file" / "sub" / "a.log")}, Hasher(b"k" * 32))


async def test_several_writers_of_one_file_keep_one_chain(tmp_path: Path) -> None:
    """Each worker process opens the file itself: their lines interleave in one chain."""
    log = tmp_path / "audit.log"
    writers = [FileDevice({"file_path": str(log)}, Hasher(b"k" * 32)) for _ in range(3)]
    for n in range(60):
        await asyncio.gather(*(w.log(record(100 * n + i)) for i, w in enumerate(writers)))
    for writer in writers:
        await writer.close()
    result = verify_file(str(log))
    assert result.ok, result.reason
    assert result.lines == 180 and result.last_seq == 180


async def test_several_writers_fail_closed_on_a_full_disk_without_tearing(
        tmp_path: Path, monkeypatch: Any) -> None:
    log = tmp_path / "audit.log"
    writers = [FileDevice({"file_path": str(log)}, Hasher(b"k" * 32)) for _ in range(2)]
    await asyncio.gather(*(w.log(record(i)) for i, w in enumerate(writers)))
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    for writer in writers:
        with pytest.raises(AuditDeviceError):
            await writer.log(record(7))
    monkeypatch.undo()
    await asyncio.gather(*(w.log(record(10 + i)) for i, w in enumerate(writers)))
    for writer in writers:
        await writer.close()
    result = verify_file(str(log))
    assert result.ok and result.lines == 4, result
