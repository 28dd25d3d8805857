"""Listings from the certificate index (warden extensions; see certindex.py for the layout).

``certs/expiring`` (a window of expiries, soonest first, by role or by name),
``certs/by-role/<role>``, ``certs/by-name/<name>``, ``certs/recent`` (newest issuance
first) and ``certs/expiry-counts`` (how many expire on each of the next days). Every
listing is a page: ``limit`` (at most 1000) entries and a ``next_cursor`` to continue from.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from warden.engines.pki import certindex, certstore
from warden.engines.pki.certindex import DAY, IndexEntry, Page
from warden.engines.pki.certstore import RevokedEntry
from warden.engines.pki.fields import storage_of
from warden.engines.pki.store import parse_serial
from warden.framework import Field, FieldData, FieldType, Path, generic_name_regex
from warden.framework.durations import parse_duration
from warden.logical.clock import to_rfc3339
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Storage

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

S, INT, B = FieldType.STRING, FieldType.INT, FieldType.BOOL
R, L = Operation.READ, Operation.LIST
FAR_FUTURE = float(certindex.LATEST_STAMP)
RENEWAL_LOOKAHEAD = 8  # newer entries under the same name checked for a renewal
FILTER_PAGES = 5  # pages read at most for one filtered page

PAGE = {
    "limit": Field(INT, "At most this many entries (default 100, at most 1000).", default=100),
    "cursor": Field(S, "Continue after the previous page: its next_cursor."),
}
FILTERS = {
    "role": Field(S, "Only certificates issued under this role."),
    "name": Field(S, "Only certificates whose CN, DNS, IP or e-mail SAN is this name."),
}
WINDOW = {
    "after": Field(S, "Only certificates expiring at or after this time (RFC 3339; default: now)."),
    "before": Field(S, "Only certificates expiring before this time (RFC 3339)."),
    "within": Field(S, "Only certificates expiring within this duration from now, e.g. 72h."),
    "hide_renewed": Field(B, "Leave out certificates already renewed (see renewed_by)."),
    "hide_revoked": Field(B, "Leave out revoked certificates."),
}
COUNT_FIELDS = {
    "days": Field(INT, "How many days, from the start of today (UTC); 1 to 366.", default=90),
    **FILTERS,
}


def paths(b: PkiBackend) -> list[Path]:
    async def expiring(req: Request, data: FieldData) -> Response:
        after, before = _window(b.now(), data)
        prefix = _prefix(data.get("role"), data.get("name"))
        storage = storage_of(req)
        page, total = await asyncio.gather(
            _expiring_page(storage, prefix, after, before, data),
            certindex.count(storage, prefix, after, before))
        return await _listing(storage, page, b.now(), total=total)

    async def by_role(req: Request, data: FieldData) -> Response:
        return await _whole_index(b, req, data, certindex.expiry_prefix(role=data.get("role")))

    async def by_name(req: Request, data: FieldData) -> Response:
        return await _whole_index(b, req, data, certindex.expiry_prefix(name=data.get("name")))

    async def recent(req: Request, data: FieldData) -> Response:
        storage = storage_of(req)
        page = await certindex.newest(storage, cursor=_cursor(data), limit=_limit(data))
        return await _listing(storage, page, b.now())

    async def expiry_counts(req: Request, data: FieldData) -> Response:
        days = data.get("days")
        if not 1 <= days <= 366:
            raise InvalidRequest("days must be between 1 and 366")
        now = b.now()
        start = float(int(now) - int(now) % DAY)
        prefix = _prefix(data.get("role"), data.get("name"))
        storage = storage_of(req)
        counts, expired = await asyncio.gather(certindex.per_day(storage, prefix, start, days),
                                               certindex.count(storage, prefix, 0, now))
        return Response(data={"start": to_rfc3339(start), "days": counts, "total": sum(counts),
                              "expired": expired})

    return [
        Path("certs/expiring/?", fields={**WINDOW, **FILTERS, **PAGE}, operations={L: expiring},
             help_synopsis="Issued certificates expiring in a window, soonest first (warden extension).",
             help_description=EXPIRING_DESC),
        Path("certs/expiry-counts", fields=COUNT_FIELDS, operations={R: expiry_counts},
             help_synopsis="How many stored certificates expire on each coming day (warden extension)."),
        Path("certs/recent/?", fields=PAGE, operations={L: recent},
             help_synopsis="Issued certificates, newest first: who asked, under which role, when."),
        Path("certs/by-role/" + generic_name_regex("role") + "/?",
             fields={"role": Field(S, "The role.", required=True), **PAGE}, operations={L: by_role},
             help_synopsis="Issued certificates of one role, soonest expiry first (warden extension)."),
        Path(r"certs/by-name/(?P<name>[^/]+)/?",
             fields={"name": Field(S, "A CN, DNS name, IP address or e-mail address.", required=True),
                     **PAGE},
             operations={L: by_name},
             help_synopsis="Issued certificates naming a host or person, soonest expiry first."),
    ]


def _prefix(role: str, name: str) -> str:
    if role and name:
        raise InvalidRequest("give role or name, not both")
    return certindex.expiry_prefix(role=role, name=name)


def _limit(data: FieldData) -> int:
    limit = data.get("limit")
    if not 1 <= limit <= certindex.MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {certindex.MAX_PAGE}")
    return int(limit)


def _cursor(data: FieldData) -> str:
    cursor = data.get("cursor")
    stamp, _, serial = cursor.partition("-")
    if cursor and not (len(stamp) == certindex.STAMP_DIGITS and stamp.isdigit() and serial
                       and all(c in "0123456789abcdef-" for c in serial)):
        raise InvalidRequest("cursor must be a next_cursor returned by the previous page")
    return str(cursor)


async def _expiring_page(storage: Storage, prefix: str, after: float, before: float,
                         data: FieldData) -> Page:
    hide_renewed, hide_revoked = data.get("hide_renewed"), data.get("hide_revoked")
    if not hide_renewed and not hide_revoked:
        return await certindex.window(storage, prefix, after, before, cursor=_cursor(data),
                                      limit=_limit(data))

    async def shown(entry: IndexEntry) -> bool:
        if hide_revoked and await _revocation(storage, entry) is not None:
            return False
        return not (hide_renewed and await renewal_of(storage, entry) is not None)

    return await _filtered(storage, prefix, after, before, _cursor(data), _limit(data), shown)


async def _filtered(storage: Storage, prefix: str, after: float, before: float, cursor: str,
                    limit: int, shown: Callable[[IndexEntry], Awaitable[bool]]) -> Page:
    """A page of the entries ``shown`` keeps. Reads at most five pages' worth of rows, so a
    window full of hidden certificates returns a short page (and its cursor) in bounded time."""
    found: list[IndexEntry] = []
    for _ in range(FILTER_PAGES):
        page = await certindex.window(storage, prefix, after, before, cursor=cursor, limit=limit)
        keep = await asyncio.gather(*(shown(e) for e in page.entries))
        found += [e for e, k in zip(page.entries, keep, strict=True) if k]
        cursor = page.cursor
        if len(found) >= limit or not cursor:
            break
    if len(found) > limit:  # the cursor must point at the last entry returned
        found = found[:limit]
        cursor = f"{certindex.stamp(found[-1].not_after)}-{found[-1].key}"
    return Page(tuple(found), cursor)


async def renewal_of(storage: Storage, entry: IndexEntry) -> IndexEntry | None:
    """A newer certificate for the same identity (role, CN and SANs) that expires later."""
    names = entry.index_names()
    if not names:
        return None
    prefix = certindex.expiry_prefix(name=names[0])
    leaf = f"{certindex.stamp(entry.not_after)}-{entry.key}"
    later = await storage.list_page(prefix, leaf, RENEWAL_LOOKAHEAD)
    same = sorted(set(names))
    for name in later:  # one at a time: the next certificate under the name is usually the renewal
        (other,) = await certindex.rows(storage, prefix, [name])
        if (other.role == entry.role and other.issued_at >= entry.issued_at
                and sorted(set(other.index_names())) == same and other.key != entry.key):
            return other
    return None


async def _whole_index(b: PkiBackend, req: Request, data: FieldData, prefix: str) -> Response:
    storage = storage_of(req)
    page = await certindex.window(storage, prefix, 0, FAR_FUTURE, cursor=_cursor(data), limit=_limit(data))
    return await _listing(storage, page, b.now())


async def _revocation(storage: Storage, entry: IndexEntry) -> RevokedEntry | None:
    return await certstore.load_revoked(storage, parse_serial(entry.serial_number))


async def _listing(storage: Storage, page: Page, now: float, *, total: int | None = None) -> Response:
    renewals, revocations = await asyncio.gather(
        asyncio.gather(*(renewal_of(storage, e) for e in page.entries)),
        asyncio.gather(*(_revocation(storage, e) for e in page.entries)))
    info = {e.serial_number: entry_info(e, now, r, v)
            for e, r, v in zip(page.entries, renewals, revocations, strict=True)}
    data: dict[str, Any] = {"keys": list(info), "key_info": info, "next_cursor": page.cursor}
    if total is not None:
        data["total"] = total
    return Response(data=data)


def entry_info(e: IndexEntry, now: float, renewed_by: IndexEntry | None,
               revoked: RevokedEntry | None) -> dict[str, Any]:
    return {
        "common_name": e.common_name, "role": e.role, "names": list(e.names), "issuer_id": e.issuer_id,
        "not_after": e.not_after, "not_after_rfc3339": to_rfc3339(e.not_after),
        "expired": e.not_after < now, "issued_at": e.issued_at,
        "issued_at_rfc3339": to_rfc3339(e.issued_at) if e.issued_at else "",
        "issued_by": e.issued_by, "accessor": e.accessor, "is_ca": e.is_ca,
        "renewed_by": renewed_by.serial_number if renewed_by else "",
        "revoked": revoked is not None,
        "revocation_time": int(revoked.revocation_time) if revoked else 0,
    }


def _window(now: float, data: FieldData) -> tuple[float, float]:
    after = _time(data.get("after"), "after") if data.get("after") else now
    if data.get("before"):
        before = _time(data.get("before"), "before")
    elif data.get("within"):
        try:
            before = now + parse_duration(data.get("within"))
        except ValueError as exc:
            raise InvalidRequest(f"within: {exc}") from None
    else:
        raise InvalidRequest("give before (RFC 3339) or within (a duration such as 72h)")
    return after, before


def _time(text: str, field: str) -> float:
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f'{field} must be an RFC 3339 time such as "2030-01-01T00:00:00Z"') from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


EXPIRING_DESC = """
LIST certs/expiring?within=72h lists the stored certificates that expire in the next 72
hours, soonest first (after defaults to now; after/before take RFC 3339 times). role= or
name= reads the role's or the name's index instead. A page holds limit entries (default 100,
at most 1000); total counts the whole window and next_cursor, given back as cursor, continues.
Each key's key_info holds the CN, SANs, role, issuer, expiry, when and by whom it was issued,
renewed_by: the serial of a newer certificate for the same identity (role, CN and SANs)
that expires later, if there is one, and whether it is revoked; hide_renewed=true and
hide_revoked=true leave those out. Served from the index (certificates issued with no_store
are not stored and so not listed).
"""
