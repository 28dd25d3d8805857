"""The CRLs' revocation entries, kept encoded and ready to sign.

    crl-entries/<issuer id>/<chunk>   revokedCertificates entries (DER), appended in order
    config/crl-entries                present once the chunks hold every revocation; its
                                      ``epoch`` changes whenever they are rewritten

A revocation appends its entry to the last chunk of the issuer that signed the certificate,
in the same check-and-set transaction that creates its ``revoked/<serial>`` record (so the
two never disagree, and concurrent revocations in any process of the server each land
once). Chunks stay under ``CHUNK_BYTES``, far below any store's value limit. A CRL is then
a join of chunks and one signature (``x509util.crl_encode``), however many revocations it
lists. Chunks only grow at their end, so a ``Position`` (chunk number, bytes) marks what a
CRL included and a delta CRL is what lies beyond it, until ``reindex`` (after tidy removed
revocations, or for a store written before this index) rewrites them and changes the epoch.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson

from warden.engines.pki.store import parse_serial
from warden.engines.pki.x509util import crl_encode
from warden.logical.storage import BatchOp, Check, Delete, Put, Storage

ENTRIES_PREFIX = "crl-entries/"
MARK = "config/crl-entries"
CHUNK_BYTES = 64 * 1024  # about 1,600 entries; an append rewrites at most this much
REVOKED_PREFIX = "revoked/"
_ATTEMPTS = 16
_READ_PAGE = 500


@dataclass(frozen=True, slots=True)
class Position:
    """The end of what was read of one issuer's entries: its last chunk, and bytes in it."""

    chunk: int
    size: int


@dataclass(frozen=True, slots=True)
class Landed:
    """Where a revocation's entry was appended: its issuer's chunks, and the end of it."""

    issuer_id: str
    end: Position

    def within(self, ends: Mapping[str, Position]) -> bool:
        """Whether a CRL that read up to ``ends`` (in the same epoch) lists this entry."""
        read = ends.get(self.issuer_id)
        return read is not None and (read.chunk, read.size) >= (self.end.chunk, self.end.size)


@dataclass(frozen=True, slots=True)
class Entries:
    """Entries read for a CRL, and where each source issuer's entries ended."""

    der: bytes
    ends: Mapping[str, Position]


def entry_der(serial_number: str, revocation_time: float) -> bytes:
    when = dt.datetime.fromtimestamp(int(revocation_time), dt.UTC)
    return crl_encode.revoked_entry(parse_serial(serial_number), when)


def _chunk_key(issuer_id: str, number: int) -> str:
    return f"{ENTRIES_PREFIX}{issuer_id}/{number:08d}"


async def _chunk_numbers(storage: Storage, issuer_id: str) -> list[int]:
    return [int(n) for n in await storage.list(f"{ENTRIES_PREFIX}{issuer_id}/") if not n.endswith("/")]


async def appending(storage: Storage, issuer_id: str, entry: bytes) -> tuple[Check, Put, Landed]:
    """The check and the write that append ``entry`` to ``issuer_id``'s last chunk (or start
    a new one), and where it lands; commit them in one transaction with whatever else the
    revocation writes."""
    numbers = await _chunk_numbers(storage, issuer_id)
    number = 0
    if numbers:
        key = _chunk_key(issuer_id, numbers[-1])
        last = await storage.get_versioned(key)
        if last.value is not None and len(last.value) + len(entry) <= CHUNK_BYTES:
            value = last.value + entry
            landed = Landed(issuer_id, Position(numbers[-1], len(value)))
            return Check(key, last.version), Put(key, value), landed
        number = numbers[-1] + 1
    key = _chunk_key(issuer_id, number)
    return Check(key, 0), Put(key, entry), Landed(issuer_id, Position(number, len(entry)))


async def issuers(storage: Storage) -> list[str]:
    """Every issuer id with entries (issuers since deleted included)."""
    return [n.rstrip("/") for n in await storage.list(ENTRIES_PREFIX) if n.endswith("/")]


async def read(storage: Storage, issuer_ids: Iterable[str],
               after: Mapping[str, Position] | None = None) -> Entries:
    """The entries of these issuers in the order they were revoked; with ``after``, only
    those beyond each issuer's position there (a delta CRL)."""
    after = after or {}
    parts: list[bytes] = []
    ends: dict[str, Position] = {}
    for issuer_id in issuer_ids:
        start = after.get(issuer_id)
        numbers = [n for n in await _chunk_numbers(storage, issuer_id) if start is None or n >= start.chunk]
        values = await asyncio.gather(*(storage.get(_chunk_key(issuer_id, n)) for n in numbers))
        for number, value in zip(numbers, values, strict=True):
            if value is None:
                continue
            skip = start.size if start is not None and number == start.chunk else 0
            parts.append(value[skip:])
            ends[issuer_id] = Position(number, len(value))
        if issuer_id not in ends and start is not None:
            ends[issuer_id] = start
    return Entries(b"".join(parts), ends)


async def epoch(storage: Storage) -> int | None:
    """The chunks' epoch; None if they have not been built for this store yet."""
    raw = await storage.get(MARK)
    return None if raw is None else int(orjson.loads(raw).get("epoch", 0))


async def ensure(storage: Storage) -> int:
    """The chunks' epoch, building them from the records first if this store predates them."""
    current = await epoch(storage)
    if current is None:
        await reindex(storage)
        current = await epoch(storage)
    return current or 0


def count(entries: bytes) -> int:
    """How many entries ``entries`` holds (walks the DER headers)."""
    total, pos = 0, 0
    while pos < len(entries):
        first = entries[pos + 1]
        if first < 0x80:
            header, size = 2, first
        else:
            width = first & 0x7F
            header, size = 2 + width, int.from_bytes(entries[pos + 2:pos + 2 + width], "big")
        pos += header + size
        total += 1
    return total


async def reindex(storage: Storage) -> int:
    """Rewrite every chunk from the ``revoked/`` records and move to a new epoch. Checked
    against every chunk it replaces and the chunk after each issuer's last: a revocation
    appended meanwhile makes it start again. Returns how many entries it wrote."""
    for _ in range(_ATTEMPTS):
        old: dict[str, int] = {}
        nexts: list[str] = []
        for issuer_id in await issuers(storage):
            numbers = await _chunk_numbers(storage, issuer_id)
            for number in numbers:
                key = _chunk_key(issuer_id, number)
                old[key] = (await storage.get_versioned(key)).version
            nexts.append(_chunk_key(issuer_id, numbers[-1] + 1 if numbers else 0))
        mark = await storage.get_versioned(MARK)
        previous = 0 if mark.value is None else int(orjson.loads(mark.value).get("epoch", 0))
        by_issuer = await _records_by_issuer(storage)
        ops: list[BatchOp] = [Delete(k) for k in old]
        for issuer_id, items in by_issuer.items():
            if not any(k.startswith(f"{ENTRIES_PREFIX}{issuer_id}/") for k in old):
                nexts.append(_chunk_key(issuer_id, 0))
            ops += [Put(_chunk_key(issuer_id, n), chunk) for n, chunk in enumerate(_chunked(items))]
        ops.append(Put(MARK, orjson.dumps({"v": 1, "epoch": previous + 1})))
        checks = [Check(k, v) for k, v in old.items()] + [Check(k, 0) for k in set(nexts)]
        checks.append(Check(MARK, mark.version))
        if await storage.transaction(checks, _last_wins(ops)):
            return sum(len(items) for items in by_issuer.values())
    raise RuntimeError("the CRL entries kept changing while being rebuilt; try again")


async def _records_by_issuer(storage: Storage) -> dict[str, list[bytes]]:
    by_issuer: dict[str, list[bytes]] = {}
    after = ""
    while names := await storage.list_page(REVOKED_PREFIX, after, _READ_PAGE):
        raws = await asyncio.gather(*(storage.get(REVOKED_PREFIX + n) for n in names))
        for raw in raws:
            if raw is None:
                continue
            record = orjson.loads(raw)
            by_issuer.setdefault(str(record["issuer_id"]), []).append(
                entry_der(str(record["serial_number"]), float(record["revocation_time"])))
        after = names[-1]
    return by_issuer


def _chunked(items: list[bytes]) -> Iterable[bytes]:
    chunk: list[bytes] = []
    size = 0
    for item in items:
        if chunk and size + len(item) > CHUNK_BYTES:
            yield b"".join(chunk)
            chunk, size = [], 0
        chunk.append(item)
        size += len(item)
    if chunk:
        yield b"".join(chunk)


def _last_wins(ops: list[BatchOp]) -> list[BatchOp]:
    """One op per key (a chunk deleted and written again is simply written)."""
    final: dict[str, BatchOp] = {}
    for op in ops:
        final.pop(op.key, None)
        final[op.key] = op
    return list(final.values())
