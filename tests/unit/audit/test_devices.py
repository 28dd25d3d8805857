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
