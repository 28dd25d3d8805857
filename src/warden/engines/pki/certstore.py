"""Issued certificates, revocations, and the indexes that find them by expiry and by role.

One issuance is one atomic batch: the record under ``certs/`` plus its two index entries.
The expiry index is bucketed by day (``index/expiry/2026/11/23/<serial>``) so a window or a
tidy pass lists only the days it covers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from warden.engines.pki.store import decode_entry, storage_serial
from warden.logical.storage import BatchOp, Delete, Put, Storage

CERT_PREFIX = "certs/"
REVOKED_PREFIX = "revoked/"
EXPIRY_INDEX = "index/expiry/"
ROLE_INDEX = "index/role/"
RECORD_VERSION = 1


@dataclass(frozen=True, slots=True)
class CertRecord:
    """What warden remembers about a certificate it issued (never its private key)."""

    serial_number: str
    certificate: str
    issuer_id: str
    not_before: int
    not_after: int
    subject: str = ""
    common_name: str = ""
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    role: str = ""
    mount: str = ""
    accessor: str = ""
    is_ca: bool = False
    v: int = RECORD_VERSION

    @property
    def key(self) -> str:
        return _hyphen(self.serial_number)

    def to_json(self) -> bytes:
        return orjson.dumps({name: getattr(self, name) for name in self.__dataclass_fields__})

    def summary(self) -> dict[str, Any]:
        return {"common_name": self.common_name, "not_after": self.not_after, "role": self.role,
                "issuer_id": self.issuer_id}


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    serial_number: str
    revocation_time: float
    issuer_id: str
    not_after: int
    certificate: str = ""


@dataclass(frozen=True, slots=True)
class IndexEntry:
    serial_number: str
    not_after: int
    role: str
    common_name: str


def _hyphen(serial: str) -> str:
    return serial.replace(":", "-").lower()


def _day_path(ts: float) -> str:
    day = dt.datetime.fromtimestamp(ts, dt.UTC)
    return f"{day.year:04d}/{day.month:02d}/{day.day:02d}/"


def record_ops(record: CertRecord) -> list[BatchOp]:
    """The writes that store one issued certificate and index it."""
    index = orjson.dumps({"t": record.not_after, "r": record.role, "cn": record.common_name})
    ops: list[BatchOp] = [
        Put(CERT_PREFIX + record.key, record.to_json()),
        Put(EXPIRY_INDEX + _day_path(record.not_after) + record.key, index),
    ]
    if record.role:
        ops.append(Put(f"{ROLE_INDEX}{record.role}/{record.key}", index))
    return ops


def removal_ops(serial: str, not_after: int, role: str) -> list[BatchOp]:
    key = _hyphen(serial)
    ops: list[BatchOp] = [Delete(CERT_PREFIX + key), Delete(EXPIRY_INDEX + _day_path(not_after) + key)]
    if role:
        ops.append(Delete(f"{ROLE_INDEX}{role}/{key}"))
    return ops


async def load_record(storage: Storage, serial: int) -> CertRecord | None:
    raw = await storage.get(CERT_PREFIX + storage_serial(serial))
    return None if raw is None else decode_entry(CertRecord, orjson.loads(raw))


async def list_serials(storage: Storage) -> list[str]:
    return sorted(k.replace("-", ":") for k in await storage.list(CERT_PREFIX) if not k.endswith("/"))


async def load_revoked(storage: Storage, serial: int) -> RevokedEntry | None:
    raw = await storage.get(REVOKED_PREFIX + storage_serial(serial))
    return None if raw is None else decode_entry(RevokedEntry, orjson.loads(raw))


async def save_revoked(storage: Storage, entry: RevokedEntry) -> None:
    await storage.put(REVOKED_PREFIX + _hyphen(entry.serial_number), orjson.dumps(dataclasses.asdict(entry)))


async def all_revoked(storage: Storage) -> list[RevokedEntry]:
    found = []
    for key in await storage.list(REVOKED_PREFIX):
        raw = await storage.get(REVOKED_PREFIX + key)
        if raw is not None:
            found.append(decode_entry(RevokedEntry, orjson.loads(raw)))
    return found


async def _index_entries(storage: Storage, prefix: str) -> list[IndexEntry]:
    out = []
    for key in await storage.list(prefix):
        raw = await storage.get(prefix + key)
        if raw is not None:
            data = orjson.loads(raw)
            out.append(IndexEntry(key.replace("-", ":"), int(data["t"]), data.get("r", ""),
                                  data.get("cn", "")))
    return out


async def expiring_between(storage: Storage, after: float, before: float) -> list[IndexEntry]:
    """Indexed certificates with ``after <= not_after < before``, soonest first."""
    found: list[IndexEntry] = []
    for day_prefix in await _days_between(storage, after, before):
        found += [e for e in await _index_entries(storage, day_prefix) if after <= e.not_after < before]
    return sorted(found, key=lambda e: (e.not_after, e.serial_number))


async def by_role(storage: Storage, role: str) -> list[IndexEntry]:
    return sorted(await _index_entries(storage, f"{ROLE_INDEX}{role}/"),
                  key=lambda e: (e.not_after, e.serial_number))


async def _days_between(storage: Storage, after: float, before: float) -> list[str]:
    """The day buckets that can hold expiries in [after, before), walking only overlapping ones."""
    lo = _bucket(after)
    hi = _bucket(min(before, 253402300799))  # 9999-12-31T23:59:59Z
    days = []
    for year in await _numbers(storage, EXPIRY_INDEX):
        if not lo[0] <= year <= hi[0]:
            continue
        ypath = f"{EXPIRY_INDEX}{year:04d}/"
        for month in await _numbers(storage, ypath):
            if not lo[:2] <= (year, month) <= hi[:2]:
                continue
            mpath = f"{ypath}{month:02d}/"
            days += [f"{mpath}{day:02d}/" for day in await _numbers(storage, mpath)
                     if lo <= (year, month, day) <= hi]
    return days


def _bucket(ts: float) -> tuple[int, int, int]:
    day = dt.datetime.fromtimestamp(max(ts, 0), dt.UTC)
    return day.year, day.month, day.day


async def _numbers(storage: Storage, prefix: str) -> list[int]:
    return sorted(int(n.rstrip("/")) for n in await storage.list(prefix) if n.rstrip("/").isdigit())


def chunks(ops: list[BatchOp], size: int = 500) -> Iterator[list[BatchOp]]:
    for start in range(0, len(ops), size):
        yield ops[start:start + size]
