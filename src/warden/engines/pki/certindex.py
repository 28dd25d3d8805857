"""The certificate index: issued certificates found by expiry, role, name and issue time.

Every index entry's name starts with a 12-digit zero-padded Unix time, so the physical
store's key order is time order. A window ("expiring in the next 30 days") is then one
``list_page`` seek plus the rows it returns, and its size one ``count`` of a key range,
however many certificates the mount holds:

    index/by-expiry/<not_after>-<serial>                every stored certificate
    index/by-role/<role>/<not_after>-<serial>           the same, per role
    index/by-name/<name>/<not_after>-<serial>           per CN, DNS, IP and e-mail name
    index/by-issue/<999999999999 - issued_at>-<serial>  newest issuance first

``<serial>`` is the hyphenated storage form; ``<name>`` is lower case and %-quoted (no
``/``). Entries are keys only (empty values): a page's rows are read from the records
(``certs/<serial>``), so nothing is stored twice, and a count walks only small keys. The
entries of one certificate are written in the same atomic batch as its record
(``certstore.record_ops``) and removed with it (``removal_ops``); ``entry_keys``
says which they are, so removing needs nothing but the record.

Stores written before this layout (``index/expiry/<yyyy>/<mm>/<dd>/<serial>`` and
``index/role/<role>/<serial>``) are moved to it by ``upgrade`` when the mount starts.
"""

from __future__ import annotations

import asyncio
import math
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import orjson

from warden.logical.storage import BatchOp, Delete, Put, Storage

CERT_PREFIX = "certs/"  # the records (certstore.py)
EXPIRY_INDEX = "index/by-expiry/"
ROLE_INDEX = "index/by-role/"
NAME_INDEX = "index/by-name/"
ISSUE_INDEX = "index/by-issue/"
STAMP_DIGITS = 12
LATEST_STAMP = 10**STAMP_DIGITS - 1  # year 33658: above any X.509 time (9999-12-31 included)
MAX_PAGE = 1000
DAY = 86400


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """What a listing shows about one certificate, stored as every index entry's value."""

    serial_number: str  # colon form
    not_after: int
    role: str = ""
    common_name: str = ""
    names: tuple[str, ...] = ()  # DNS, IP and e-mail SANs
    issuer_id: str = ""
    issued_at: int = 0
    issued_by: str = ""  # the display name of the token that asked
    accessor: str = ""
    is_ca: bool = False

    @property
    def key(self) -> str:
        return self.serial_number.replace(":", "-").lower()

    @classmethod
    def from_record_json(cls, raw: bytes) -> IndexEntry:
        """The summary of a stored ``certstore.CertRecord`` (its JSON, read as a row)."""
        data = orjson.loads(raw)
        names = (*data.get("dns_names", ()), *data.get("ip_addresses", ()), *data.get("emails", ()))
        return cls(str(data["serial_number"]), int(data["not_after"]), str(data.get("role", "")),
                   str(data.get("common_name", "")), tuple(names), str(data.get("issuer_id", "")),
                   int(data.get("issued_at") or data.get("not_before") or 0), str(data.get("issued_by", "")),
                   str(data.get("accessor", "")), bool(data.get("is_ca")))

    def index_names(self) -> list[str]:
        """The names this certificate is found under in ``by-name``: CN and SANs, lower case."""
        return list(dict.fromkeys(n.lower() for n in (self.common_name, *self.names) if n))


@dataclass(frozen=True, slots=True)
class Page:
    entries: tuple[IndexEntry, ...]
    cursor: str  # give it back as ``cursor`` for the next page; "" when there is none


def stamp(ts: float) -> str:
    """A time as index entries spell it: whole seconds, rounded up, zero-padded."""
    return f"{min(max(math.ceil(ts), 0), LATEST_STAMP):0{STAMP_DIGITS}d}"


def name_key(name: str) -> str:
    quoted = urllib.parse.quote(name.lower(), safe="@:")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def expiry_prefix(*, role: str = "", name: str = "") -> str:
    """The index a window of expiries is read from: by name, by role, or all."""
    if name:
        return f"{NAME_INDEX}{name_key(name)}/"
    if role:
        return f"{ROLE_INDEX}{role}/"
    return EXPIRY_INDEX


def entry_keys(entry: IndexEntry) -> list[str]:
    leaf = f"{stamp(entry.not_after)}-{entry.key}"
    keys = [EXPIRY_INDEX + leaf, f"{ISSUE_INDEX}{stamp(LATEST_STAMP - entry.issued_at)}-{entry.key}"]
    if entry.role:
        keys.append(f"{ROLE_INDEX}{entry.role}/{leaf}")
    keys += [f"{NAME_INDEX}{name_key(n)}/{leaf}" for n in entry.index_names()]
    return keys


def put_ops(entry: IndexEntry) -> list[BatchOp]:
    return [Put(key, b"") for key in entry_keys(entry)]


def delete_ops(entry: IndexEntry) -> list[BatchOp]:
    return [Delete(key) for key in entry_keys(entry)]


# -- reading ---------------------------------------------------------------------------------


async def window(storage: Storage, prefix: str, after: float, before: float, *, cursor: str = "",
                 limit: int = 100, keep: Callable[[IndexEntry], bool] | None = None) -> Page:
    """Entries of an expiry index with ``after <= not_after < before``, soonest first, at most
    ``limit``; continue from a previous page's ``cursor``. ``keep`` filters (then a page may
    read more rows than it returns)."""
    return await _walk(storage, prefix, cursor or stamp(after), stamp(before), limit, keep)


async def newest(storage: Storage, *, cursor: str = "", limit: int = 100) -> Page:
    """Certificates by issue time, newest first."""
    return await _walk(storage, ISSUE_INDEX, cursor, "", limit, None)


async def count(storage: Storage, prefix: str, after: float, before: float) -> int:
    return await storage.count(prefix, stamp(after), stamp(before))


async def per_day(storage: Storage, prefix: str, start: float, days: int) -> list[int]:
    """How many certificates expire on each of ``days`` days from ``start``."""
    return list(await asyncio.gather(*(count(storage, prefix, start + d * DAY, start + (d + 1) * DAY)
                                       for d in range(days))))


async def _walk(storage: Storage, prefix: str, after: str, bound: str, limit: int,
                keep: Callable[[IndexEntry], bool] | None) -> Page:
    limit = min(max(limit, 1), MAX_PAGE)
    found: list[IndexEntry] = []
    while len(found) < limit:
        names = [n for n in await storage.list_page(prefix, after, limit - len(found))
                 if not n.endswith("/")]
        inside = [n for n in names if not bound or n < bound]
        for name, entry in zip(inside, await rows(storage, prefix, inside), strict=True):
            after = name
            if keep is None or keep(entry):
                found.append(entry)
        if len(inside) < len(names) or not names:
            return Page(tuple(found), "")
    more = await storage.list_page(prefix, after, 1)
    return Page(tuple(found), after if more and (not bound or more[0] < bound) else "")


async def rows(storage: Storage, prefix: str, names: Iterable[str]) -> list[IndexEntry]:
    """The records behind index leaves. A leaf whose record is missing (which an atomic
    batch never leaves behind) comes back with what its name says, so tidy can remove it."""
    names = list(names)
    raws = await asyncio.gather(*(storage.get(CERT_PREFIX + n.partition("-")[2]) for n in names))
    out = []
    for name, raw in zip(names, raws, strict=True):
        if raw is not None:
            out.append(IndexEntry.from_record_json(raw))
            continue
        stamp_text, _, key = name.partition("-")
        out.append(IndexEntry(key.replace("-", ":"), 0 if prefix == ISSUE_INDEX else int(stamp_text)))
    return out


# -- the layout before this one --------------------------------------------------------------

OLD_EXPIRY_INDEX = "index/expiry/"
OLD_ROLE_INDEX = "index/role/"
UPGRADE_CHUNK = 200


async def upgrade(storage: Storage, summarize: Callable[[str], Awaitable[IndexEntry | None]]) -> int:
    """Move a store's old day-bucketed index to this layout; returns how many certificates
    were re-indexed. ``summarize(serial_key)`` awaits the record's IndexEntry (None if the
    record is gone). Each chunk is one atomic batch, so a crash part-way resumes cleanly."""
    moved = 0
    for day in await _old_days(storage):
        names = [n for n in await storage.list(day) if not n.endswith("/")]
        for start in range(0, len(names), UPGRADE_CHUNK):
            ops: list[BatchOp] = []
            for name in names[start:start + UPGRADE_CHUNK]:
                entry = await summarize(name)
                ops += [Delete(day + name), *(put_ops(entry) if entry is not None else [])]
                moved += entry is not None
            await storage.batch(ops)
    for role in await storage.list(OLD_ROLE_INDEX):
        keys = [OLD_ROLE_INDEX + role + n for n in await storage.list(OLD_ROLE_INDEX + role)]
        for start in range(0, len(keys), UPGRADE_CHUNK):
            await storage.batch([Delete(k) for k in keys[start:start + UPGRADE_CHUNK]])
    return moved


async def _old_days(storage: Storage) -> list[str]:
    days = []
    for year in await storage.list(OLD_EXPIRY_INDEX):
        for month in await storage.list(OLD_EXPIRY_INDEX + year):
            days += [OLD_EXPIRY_INDEX + year + month + d
                     for d in await storage.list(OLD_EXPIRY_INDEX + year + month) if d.endswith("/")]
    return days
