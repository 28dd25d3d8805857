"""Storage layout and codecs: serial forms, entries, and the expiry/role indexes."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warden.engines.pki import certstore, store
from warden.engines.pki.certstore import CertRecord
from warden.engines.pki.store import IssuerEntry, UrlsConfig, format_serial, parse_serial, storage_serial
from warden.storage.memory import MemoryBackend

DAY = 86400
T0 = int(dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC).timestamp())


@given(st.integers(min_value=1, max_value=2**159 - 1))
def test_serial_forms_round_trip(serial: int) -> None:
    colon = format_serial(serial)
    assert colon == colon.lower() and all(len(p) == 2 for p in colon.split(":"))
    assert parse_serial(colon) == serial
    assert parse_serial(storage_serial(serial)) == serial
    assert parse_serial(colon.upper().replace(":", "")) == serial


@pytest.mark.parametrize("bad", ["", "xyz", "12:3", "12::34", "../../etc"])
def test_bad_serials_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_serial(bad)


async def test_issuer_and_config_codecs() -> None:
    storage = MemoryBackend()
    entry = IssuerEntry(id="i1", certificate="PEM", name="root-x1", key_id="k1", usage=("read-only",))
    await store.save_issuer(storage, entry)
    assert await store.load_issuer(storage, "i1") == entry
    assert await store.load_issuers(storage) == [entry]
    assert await store.load_config(storage, store.CONFIG_URLS, UrlsConfig) == UrlsConfig()
    urls = UrlsConfig(issuing_certificates=("http://x/ca",))
    await store.save_config(storage, store.CONFIG_URLS, urls)
    assert await store.load_config(storage, store.CONFIG_URLS, UrlsConfig) == urls


def _record(serial: int, not_after: int, role: str = "web", cn: str = "a") -> CertRecord:
    return CertRecord(serial_number=format_serial(serial), certificate="PEM", issuer_id="i1",
                      not_before=T0 - DAY, not_after=not_after, common_name=cn, role=role, accessor="acc")


async def test_one_batch_stores_a_record_and_both_indexes() -> None:
    storage = MemoryBackend()
    record = _record(0x1234, T0 + 3 * DAY)
    await storage.batch(certstore.record_ops(record))
    assert await certstore.load_record(storage, 0x1234) == record
    assert await certstore.list_serials(storage) == ["12:34"]
    assert await storage.list("index/expiry/2027/03/") == ["04/"]
    assert [e.serial_number for e in await certstore.by_role(storage, "web")] == ["12:34"]
    await storage.batch(certstore.removal_ops("12:34", record.not_after, "web"))
    assert await certstore.list_serials(storage) == [] and await certstore.by_role(storage, "web") == []
    assert await certstore.expiring_between(storage, 0, 2**40) == []


@given(st.lists(st.integers(min_value=0, max_value=800 * DAY), min_size=1, max_size=12, unique=True),
       st.integers(min_value=0, max_value=800 * DAY), st.integers(min_value=0, max_value=800 * DAY))
async def test_expiry_window_returns_exactly_what_is_inside(offsets: list[int], a: int, b: int) -> None:
    storage = MemoryBackend()
    for n, offset in enumerate(offsets, 1):
        await storage.batch(certstore.record_ops(_record(n, T0 + offset, role="r" if n % 2 else "")))
    lo, hi = T0 + min(a, b), T0 + max(a, b)
    found = await certstore.expiring_between(storage, lo, hi)
    assert sorted(e.not_after for e in found) == sorted(T0 + o for o in offsets if lo <= T0 + o < hi)
    assert [e.not_after for e in found] == sorted(e.not_after for e in found)
    assert len(await certstore.by_role(storage, "r")) == sum(1 for n in range(1, len(offsets) + 1) if n % 2)
