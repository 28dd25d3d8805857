"""The listings behind the dashboard: certs/expiring (pages, totals, filters, renewals),
certs/recent, certs/by-name, certs/expiry-counts, certs/revoked and issuers' key_info."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from support.pki import HOUR, PkiKit
from warden.logical.clock import FrozenClock
from warden.logical.errors import WardenError
from warden.logical.operation import Operation
from warden.logical.request import Caller
from warden.logical.response import Response

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
DAY = 24 * HOUR


async def _kit() -> tuple[PkiKit, FrozenClock]:
    clock = FrozenClock(start=T0)
    kit = PkiKit(clock=clock, max_ttl=87600 * HOUR)
    await kit.root("ec", ttl="87600h", common_name="Cluster CA")
    for role in ("web", "db"):
        await kit.write(f"roles/{role}", allowed_domains="example.com", allow_subdomains=True,
                        key_type="ec", allow_ip_sans=True, max_ttl="8760h")
    return kit, clock


async def _issue(kit: PkiKit, role: str, cn: str, ttl: str, **extra: Any) -> str:
    return str((await kit.data(f"issue/{role}", common_name=cn, ttl=ttl, **extra))["serial_number"])


async def _listing(kit: PkiKit, path: str, **data: Any) -> dict[str, Any]:
    resp = await kit.call(Operation.LIST, path, **data)
    assert resp is not None and resp.data is not None
    return resp.data


async def _refused(kit: PkiKit, op: Operation, path: str, **data: Any) -> str:
    with pytest.raises(WardenError) as err:
        await kit.call(op, path, **data)
    assert err.value.status == 400
    return str(err.value)


async def test_expiring_pages_soonest_first_with_a_total_and_a_cursor() -> None:
    kit, _ = await _kit()
    serials = {ttl: await _issue(kit, "web", f"h{ttl}.example.com", ttl)
               for ttl in ("50h", "2h", "30h", "10h", "400h")}
    first = await _listing(kit, "certs/expiring", within="100h", limit=2)
    assert first["keys"] == [serials["2h"], serials["10h"]]
    assert first["total"] == 4 and first["next_cursor"]
    rest = await _listing(kit, "certs/expiring", within="100h", limit=2, cursor=first["next_cursor"])
    assert rest["keys"] == [serials["30h"], serials["50h"]] and rest["next_cursor"] == ""
    info = first["key_info"][serials["2h"]]
    assert info["common_name"] == "h2h.example.com" and info["role"] == "web"
    assert info["not_after"] == int(T0) + 2 * HOUR
    assert info["not_after_rfc3339"] == "2027-01-15T10:00:00.000000Z"
    assert info["expired"] is False and info["issued_at"] == int(T0) and info["renewed_by"] == ""
    assert info["names"] == ["h2h.example.com"]


async def test_expiring_by_role_and_by_name_use_their_own_index() -> None:
    kit, _ = await _kit()
    web = await _issue(kit, "web", "a.example.com", "5h", alt_names="node1.example.com", ip_sans="10.0.0.7")
    db = await _issue(kit, "db", "b.example.com", "6h", alt_names="node1.example.com")
    await _issue(kit, "db", "c.example.com", "7h")
    by_role = await _listing(kit, "certs/expiring", within="24h", role="web")
    assert by_role["keys"] == [web] and by_role["total"] == 1
    by_name = await _listing(kit, "certs/expiring", within="24h", name="NODE1.example.com")
    assert by_name["keys"] == [web, db] and by_name["total"] == 2
    by_ip = await _listing(kit, "certs/by-name/10.0.0.7")
    assert by_ip["keys"] == [web]
    assert (await _listing(kit, "certs/by-role/db"))["keys"] == [db, await _second(kit, "db")]
    assert "role or name, not both" in await _refused(kit, Operation.LIST, "certs/expiring", within="1h",
                                                      role="web", name="x")


async def _second(kit: PkiKit, role: str) -> str:
    return (await _listing(kit, f"certs/by-role/{role}"))["keys"][1]


async def test_a_renewed_certificate_names_its_successor_and_can_be_hidden() -> None:
    kit, clock = await _kit()
    old = await _issue(kit, "web", "api.example.com", "10h", alt_names="api2.example.com")
    other = await _issue(kit, "web", "api.example.com", "12h")  # other SANs: another identity
    clock.advance(HOUR)
    new = await _issue(kit, "web", "api.example.com", "10h", alt_names="api2.example.com")
    listing = await _listing(kit, "certs/expiring", within="24h")
    assert listing["keys"] == [old, new, other]
    assert listing["key_info"][old]["renewed_by"] == new
    assert listing["key_info"][new]["renewed_by"] == "" and listing["key_info"][other]["renewed_by"] == ""
    current = await _listing(kit, "certs/expiring", within="24h", hide_renewed=True)
    assert current["keys"] == [new, other] and current["total"] == 3  # total counts the window


async def test_hide_renewed_pages_continue_where_they_stopped() -> None:
    kit, clock = await _kit()
    for n in range(4):
        await _issue(kit, "web", f"h{n}.example.com", "10h")
    clock.advance(HOUR)
    fresh = [await _issue(kit, "web", f"h{n}.example.com", "10h") for n in range(4)]
    seen, cursor = [], ""
    while True:
        page = await _listing(kit, "certs/expiring", within="24h", hide_renewed=True, limit=3,
                              **({"cursor": cursor} if cursor else {}))
        seen += page["keys"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(fresh)  # they all expire in the same second: serial order


async def test_recent_lists_newest_first_with_who_asked() -> None:
    kit, clock = await _kit()
    clock.advance(10)
    first = await _issue(kit, "web", "one.example.com", "5h")
    clock.advance(60)
    request = dataclasses.replace(
        kit.request(Operation.UPDATE, "issue/db", common_name="two.example.com", ttl="5h"),
        caller=Caller(accessor="acc-ops", policies=("ops",), display_name="approle-ops"))
    second = str((await kit.pki.backend.handle_request(request)).data["serial_number"])  # type: ignore[union-attr, index]
    recent = await _listing(kit, "certs/recent", limit=2)
    assert recent["keys"] == [second, first] and recent["next_cursor"]
    info = recent["key_info"][second]
    assert info["issued_by"] == "approle-ops" and info["accessor"] == "acc-ops" and info["role"] == "db"
    assert info["issued_at_rfc3339"] == "2027-01-15T08:01:10.000000Z"
    tail = await _listing(kit, "certs/recent", cursor=recent["next_cursor"])
    assert len(tail["keys"]) == 1 and tail["key_info"][tail["keys"][0]]["is_ca"] is True  # the root


async def test_expiry_counts_per_utc_day_from_today() -> None:
    kit, clock = await _kit()
    for ttl in ("1h", "2h", "40h", "70h", "71h"):  # 08:00 + 40h is 00:00 two days on
        await _issue(kit, "web", "x.example.com", ttl)
    clock.advance(2 * HOUR + 30)  # the first two have expired
    counts = await kit.get("certs/expiry-counts", days=5)
    assert counts["start"] == "2027-01-15T00:00:00.000000Z"
    assert counts["days"] == [2, 0, 1, 2, 0] and counts["total"] == 5 and counts["expired"] == 2
    by_role = await kit.get("certs/expiry-counts", days=5, role="db")
    assert by_role["total"] == 0
    assert "between 1 and 366" in await _refused(kit, Operation.READ, "certs/expiry-counts", days=400)


async def test_bad_listing_parameters_are_named() -> None:
    kit, _ = await _kit()
    assert "cursor" in await _refused(kit, Operation.LIST, "certs/expiring", within="1h", cursor="../x")
    assert "limit" in await _refused(kit, Operation.LIST, "certs/recent", limit=5000)
    assert "before" in await _refused(kit, Operation.LIST, "certs/expiring", before="tomorrow")
    assert "within" in await _refused(kit, Operation.LIST, "certs/expiring")


async def test_revoked_listing_pages_and_says_what_was_revoked() -> None:
    kit, clock = await _kit()
    serials = sorted([await _issue(kit, "web", f"r{n}.example.com", "50h") for n in range(3)])
    clock.advance(120)
    for serial in serials:
        await kit.data("revoke", serial_number=serial)
    listing = await _listing(kit, "certs/revoked", limit=2)
    assert listing["keys"] == serials[:2]
    info = listing["key_info"][serials[0]]
    assert info["revocation_time_rfc3339"] == "2027-01-15T08:02:00.000000Z" and info["role"] == "web"
    assert info["common_name"].startswith("r") and info["not_after"] == int(T0) + 50 * HOUR
    assert (await _listing(kit, "certs/revoked", after=serials[1]))["keys"] == serials[2:]


async def test_certs_listing_pages_with_after_and_limit() -> None:
    kit, _ = await _kit()
    for n in range(4):
        await _issue(kit, "web", f"p{n}.example.com", "5h")
    everything = await kit.list("certs")
    assert everything == sorted(everything) and len(everything) == 5
    assert await kit.list("certs", limit=2) == everything[:2]
    assert await kit.list("certs", after=everything[1], limit=2) == everything[2:4]


async def test_issuer_listing_tells_what_an_operator_checks_about_a_ca() -> None:
    kit, _ = await _kit()
    resp: Response | None = await kit.call(Operation.LIST, "issuers")
    assert resp is not None and resp.data is not None
    (info,) = resp.data["key_info"].values()
    assert info["common_name"] == "Cluster CA" and info["key_type"] == "ec" and info["key_bits"] == 256
    assert info["is_default"] is True and info["is_root"] is True and info["revoked"] is False
    assert info["not_after"] == int(T0) + 87600 * HOUR
    assert info["not_after_rfc3339"] == "2037-01-12T08:00:00.000000Z"


async def test_revoked_certificates_are_marked_and_can_be_hidden() -> None:
    kit, clock = await _kit()
    gone = await _issue(kit, "web", "gone.example.com", "5h")
    kept = await _issue(kit, "web", "kept.example.com", "6h")
    clock.advance(60)
    await kit.data("revoke", serial_number=gone)
    listing = await _listing(kit, "certs/expiring", within="24h")
    assert listing["keys"] == [gone, kept]
    assert listing["key_info"][gone]["revoked"] is True
    assert listing["key_info"][gone]["revocation_time"] == int(T0) + 60
    assert listing["key_info"][kept]["revoked"] is False
    assert (await _listing(kit, "certs/expiring", within="24h", hide_revoked=True))["keys"] == [kept]
