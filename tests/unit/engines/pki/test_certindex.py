"""The certificate index: time-ordered keys, pages, counts, names, and the upgrade from the
day-bucketed layout."""

from __future__ import annotations

import dataclasses
import datetime as dt

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from warden.engines.pki import certindex, certstore
from warden.engines.pki.certindex import EXPIRY_INDEX, ISSUE_INDEX, expiry_prefix
from warden.engines.pki.certstore import CertRecord
from warden.engines.pki.store import format_serial
from warden.logical.storage import Put, scan
from warden.storage.memory import MemoryBackend

DAY = 86400
T0 = int(dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC).timestamp())


def _record(serial: int, not_after: int, role: str = "web", cn: str = "a", *, dns: tuple[str, ...] = (),
            ips: tuple[str, ...] = (), issued_at: int = T0 - DAY, by: str = "token") -> CertRecord:
    return CertRecord(serial_number=format_serial(serial), certificate="PEM", issuer_id="i1",
                      not_before=T0 - DAY, not_after=not_after, common_name=cn, dns_names=dns,
                      ip_addresses=ips, role=role, accessor="acc", issued_at=issued_at, issued_by=by)


async def _store(storage: MemoryBackend, *records: CertRecord) -> None:
    for record in records:
        await storage.batch(certstore.record_ops(record))


async def test_one_batch_stores_the_record_and_every_index_entry_and_removal_takes_all() -> None:
    storage = MemoryBackend()
    record = _record(0x1234, T0 + 3 * DAY, cn="Node-1.example.com", dns=("node-1.example.com", "n1"),
                     ips=("10.0.0.1",))
    await _store(storage, record)
    assert await certstore.load_record(storage, 0x1234) == record
    assert await certstore.list_serials(storage) == ["12:34"]
    leaf = f"{T0 + 3 * DAY:012d}-12-34"
    assert await storage.list(EXPIRY_INDEX) == [leaf]
    assert await storage.list(expiry_prefix(role="web")) == [leaf]
    for name in ("node-1.example.com", "N1", "10.0.0.1"):
        assert await storage.list(expiry_prefix(name=name)) == [leaf], name
    assert await storage.list(ISSUE_INDEX) == [f"{certindex.LATEST_STAMP - (T0 - DAY):012d}-12-34"]
    await storage.batch(certstore.removal_ops(record.summary()))
    assert await scan(storage) == []


async def test_index_entries_carry_the_summary_a_listing_shows() -> None:
    storage = MemoryBackend()
    await _store(storage, _record(0xAB, T0, cn="kube-apiserver", dns=("cp1",), ips=("10.0.0.10",),
                                  issued_at=T0 - 5, by="approle"))
    page = await certindex.window(storage, EXPIRY_INDEX, 0, T0 + 1)
    (entry,) = page.entries
    assert entry.serial_number == "ab" and entry.not_after == T0 and entry.role == "web"
    assert entry.names == ("cp1", "10.0.0.10") and entry.issued_at == T0 - 5
    assert entry.issued_by == "approle" and entry.issuer_id == "i1" and page.cursor == ""


def test_names_are_quoted_into_single_safe_segments() -> None:
    assert certindex.name_key("a/b") == "a%2Fb"
    assert certindex.name_key("..") == "%2E%2E" and certindex.name_key(".") == "%2E"
    assert certindex.name_key("System:Node:CP1") == "system:node:cp1"
    assert certindex.name_key("ops@example.com") == "ops@example.com"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=800 * DAY), min_size=1, max_size=15),
       st.integers(min_value=0, max_value=800 * DAY), st.integers(min_value=0, max_value=800 * DAY),
       st.integers(min_value=1, max_value=4))
async def test_pages_of_a_window_are_exactly_what_is_inside_in_order(
        offsets: list[int], a: int, b: int, limit: int) -> None:
    storage = MemoryBackend()
    await _store(storage, *(_record(n, T0 + o, role="r" if n % 2 else "") for n, o in enumerate(offsets, 1)))
    lo, hi = T0 + min(a, b), T0 + max(a, b)
    found, cursor = [], ""
    while True:
        page = await certindex.window(storage, EXPIRY_INDEX, lo, hi, cursor=cursor, limit=limit)
        assert len(page.entries) <= limit
        found += page.entries
        if not page.cursor:
            break
        assert len(page.entries) == limit
        cursor = page.cursor
    want = sorted((T0 + o, format_serial(n)) for n, o in enumerate(offsets, 1) if lo <= T0 + o < hi)
    assert [(e.not_after, e.serial_number) for e in found] == want
    assert await certindex.count(storage, EXPIRY_INDEX, lo, hi) == len(want)
    role_want = sum(1 for n, o in enumerate(offsets, 1) if n % 2 and lo <= T0 + o < hi)
    assert await certindex.count(storage, expiry_prefix(role="r"), lo, hi) == role_want


async def test_a_fractional_window_edge_counts_whole_seconds() -> None:
    storage = MemoryBackend()
    await _store(storage, _record(1, T0), _record(2, T0 + 1))
    page = await certindex.window(storage, EXPIRY_INDEX, T0 - 0.5, T0 + 0.5)
    assert [e.not_after for e in page.entries] == [T0]
    assert await certindex.count(storage, EXPIRY_INDEX, T0 + 0.5, T0 + 1.5) == 1


async def test_newest_lists_by_issue_time_newest_first() -> None:
    storage = MemoryBackend()
    await _store(storage, *(_record(n, T0 + n * DAY, issued_at=T0 - 100 * n) for n in (3, 1, 2)))
    page = await certindex.newest(storage, limit=2)
    assert [e.serial_number for e in page.entries] == ["01", "02"] and page.cursor
    rest = await certindex.newest(storage, cursor=page.cursor, limit=2)
    assert [e.serial_number for e in rest.entries] == ["03"] and rest.cursor == ""


async def test_per_day_counts_each_utc_day() -> None:
    storage = MemoryBackend()
    start = T0 - T0 % DAY
    await _store(storage, *(_record(n, start + d * DAY + 3600 * n, role="x")
                            for n, d in enumerate([0, 0, 2, 2, 2, 5], 1)))
    assert await certindex.per_day(storage, EXPIRY_INDEX, start, 4) == [2, 0, 3, 0]
    assert sum(await certindex.per_day(storage, expiry_prefix(role="x"), start, 7)) == 6


async def test_expired_pages_feed_tidy_soonest_first() -> None:
    storage = MemoryBackend()
    await _store(storage, *(_record(n, T0 + n) for n in range(1, 8)))
    first = await certstore.expired_page(storage, T0 + 5, limit=3)
    assert [e.not_after for e in first] == [T0 + 1, T0 + 2, T0 + 3]
    await storage.batch([op for e in first for op in certstore.removal_ops(e)])
    assert [e.not_after for e in await certstore.expired_page(storage, T0 + 5)] == [T0 + 4]


async def test_upgrade_moves_the_day_bucketed_index_and_forgets_it() -> None:
    storage = MemoryBackend()
    old = [_record(n, T0 + n * DAY, role="web", cn=f"h{n}", dns=(f"h{n}.example",), issued_at=0)
           for n in (1, 2)]
    for record in old:  # as warden wrote them before the time-ordered index
        day = dt.datetime.fromtimestamp(record.not_after, dt.UTC).strftime("%Y/%m/%d")
        value = orjson.dumps({"t": record.not_after, "r": record.role, "cn": record.common_name})
        await storage.batch([Put(certstore.CERT_PREFIX + record.key, record.to_json()),
                             Put(f"index/expiry/{day}/{record.key}", value),
                             Put(f"index/role/web/{record.key}", value)])
    await storage.put("index/expiry/2027/03/09/ff", b'{"t": 1, "r": "", "cn": ""}')  # record gone
    assert await certstore.upgrade_index(storage) == 2
    assert await storage.list("index/expiry/") == [] and await storage.list("index/role/") == []
    page = await certindex.window(storage, expiry_prefix(name="h2.example"), 0, T0 + 10 * DAY)
    assert [e.serial_number for e in page.entries] == ["02"]
    assert page.entries[0].issued_at == T0 - DAY  # records without issued_at use not_before
    assert await certindex.count(storage, expiry_prefix(role="web"), 0, T0 + 10 * DAY) == 2
    assert await certstore.upgrade_index(storage) == 0


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=20), st.lists(st.text(min_size=1, max_size=10), max_size=3), st.booleans())
def test_a_record_read_as_a_row_is_its_summary(cn: str, dns: list[str], is_ca: bool) -> None:
    record = dataclasses.replace(_record(0xBEEF, T0, cn=cn, dns=tuple(dns), ips=("10.1.2.3",)), is_ca=is_ca)
    assert certindex.IndexEntry.from_record_json(record.to_json()) == record.summary()
    older = dataclasses.replace(record, issued_at=0)  # records before issued_at: not_before
    assert certindex.IndexEntry.from_record_json(older.to_json()) == older.summary()


async def test_a_leaf_without_its_record_is_still_listed_so_tidy_can_remove_it() -> None:
    storage = MemoryBackend()
    await _store(storage, _record(1, T0 + 5), _record(2, T0 + 6))
    await storage.delete(certstore.CERT_PREFIX + "01")  # never left by an atomic batch
    orphan, kept = (await certindex.window(storage, EXPIRY_INDEX, 0, T0 + 10)).entries
    assert (orphan.serial_number, orphan.not_after, orphan.common_name) == ("01", T0 + 5, "")
    assert kept.common_name == "a"
    await storage.batch(certstore.removal_ops(orphan))
    left = await certindex.window(storage, EXPIRY_INDEX, 0, T0 + 10)
    assert [e.serial_number for e in left.entries] == ["02"]
