"""Issued certificates and revocations; their index lives in certindex.py.

One issuance is one atomic batch: the record under ``certs/`` plus its index entries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import orjson

from warden.engines.pki import certindex, crlindex
from warden.engines.pki.certindex import IndexEntry
from warden.engines.pki.crlindex import Landed
from warden.engines.pki.store import decode_entry, storage_serial
from warden.logical.storage import (
    UPDATE_ATTEMPTS,
    BatchOp,
    Check,
    Contended,
    Delete,
    Put,
    Storage,
)

CERT_PREFIX = certindex.CERT_PREFIX
REVOKED_PREFIX = "revoked/"
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
    issued_at: int = 0  # when warden issued it (0 in records older than the field: not_before)
    issued_by: str = ""  # the display name of the token that asked
    v: int = RECORD_VERSION

    @property
    def key(self) -> str:
        return _hyphen(self.serial_number)

    def to_json(self) -> bytes:
        return orjson.dumps({name: getattr(self, name) for name in self.__dataclass_fields__})

    def summary(self) -> IndexEntry:
        """The record as its index entries hold it."""
        return IndexEntry(
            serial_number=self.serial_number, not_after=self.not_after, role=self.role,
            common_name=self.common_name, names=(*self.dns_names, *self.ip_addresses, *self.emails),
            issuer_id=self.issuer_id, issued_at=self.issued_at or self.not_before,
            issued_by=self.issued_by, accessor=self.accessor, is_ca=self.is_ca)


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    serial_number: str
    revocation_time: float
    issuer_id: str
    not_after: int
    certificate: str = ""


def _hyphen(serial: str) -> str:
    return serial.replace(":", "-").lower()


def record_ops(record: CertRecord) -> list[BatchOp]:
    """The writes that store one issued certificate and index it."""
    return [Put(CERT_PREFIX + record.key, record.to_json()), *certindex.put_ops(record.summary())]


def removal_ops(entry: IndexEntry) -> list[BatchOp]:
    """The writes that forget a stored certificate and every index entry of it."""
    return [Delete(CERT_PREFIX + entry.key), *certindex.delete_ops(entry)]


async def load_record(storage: Storage, serial: int) -> CertRecord | None:
    return await _load_record_key(storage, storage_serial(serial))


async def _load_record_key(storage: Storage, key: str) -> CertRecord | None:
    raw = await storage.get(CERT_PREFIX + key)
    return None if raw is None else decode_entry(CertRecord, orjson.loads(raw))


async def summary_of(storage: Storage, key: str) -> IndexEntry | None:
    record = await _load_record_key(storage, key)
    return None if record is None else record.summary()


async def upgrade_index(storage: Storage) -> int:
    """Move an index written by an older warden to certindex's layout (see there)."""
    return await certindex.upgrade(storage, lambda key: summary_of(storage, key))


async def list_serials(storage: Storage, *, after: str = "", limit: int = 0) -> list[str]:
    """Serials (colon form) of stored certificates, in order; a page of them with after/limit."""
    names = await storage.list_page(CERT_PREFIX, _hyphen(after), limit)
    return [k.replace("-", ":") for k in names if not k.endswith("/")]


async def load_revoked(storage: Storage, serial: int) -> RevokedEntry | None:
    raw = await storage.get(REVOKED_PREFIX + storage_serial(serial))
    return None if raw is None else decode_entry(RevokedEntry, orjson.loads(raw))


class Revocation(NamedTuple):
    entry: RevokedEntry  # the revocation stored (this one, or the one that was there)
    created: bool  # whether it is this one
    landed: Landed | None  # where its CRL entry went (None: not this call's)


async def revoke_once(storage: Storage, entry: RevokedEntry) -> Revocation:
    """Store the revocation unless one exists, and append it to its issuer's CRL entries in
    the same transaction."""
    key = REVOKED_PREFIX + _hyphen(entry.serial_number)
    for attempt in range(UPDATE_ATTEMPTS):
        existing = await storage.get(key)
        if existing is not None:
            return Revocation(decode_entry(RevokedEntry, orjson.loads(existing)), False, None)
        chunk_check, chunk_put, landed = await crlindex.appending(
            storage, entry.issuer_id, crlindex.entry_der(entry.serial_number, entry.revocation_time))
        if await storage.transaction([Check(key, 0), chunk_check],
                                     [Put(key, orjson.dumps(dataclasses.asdict(entry))), chunk_put]):
            return Revocation(entry, True, landed)
        if attempt >= 2:  # revocations racing for the same chunk: spread them out
            await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** attempt)))
    raise Contended()


async def all_revoked(storage: Storage) -> list[RevokedEntry]:
    return await revoked_page(storage)


async def revoked_page(storage: Storage, *, after: str = "", limit: int = 0) -> list[RevokedEntry]:
    """Revocations in serial order; a page of them with after (a serial) and limit."""
    found = []
    for key in await storage.list_page(REVOKED_PREFIX, _hyphen(after), limit):
        raw = await storage.get(REVOKED_PREFIX + key)
        if raw is not None:
            found.append(decode_entry(RevokedEntry, orjson.loads(raw)))
    return found


async def expired_page(storage: Storage, cutoff: float, limit: int = 500) -> list[IndexEntry]:
    """The soonest-expiring stored certificates that expired before ``cutoff`` (for tidy)."""
    page = await certindex.window(storage, certindex.EXPIRY_INDEX, 0, cutoff, limit=limit)
    return list(page.entries)


def chunks(ops: list[BatchOp], size: int = 500) -> Iterator[list[BatchOp]]:
    for start in range(0, len(ops), size):
        yield ops[start:start + size]
