"""CRL entries kept encoded in chunks: appended once per revocation under any concurrency,
rebuilt from the records by reindex, and large CRLs stored in parts (crlindex.py, crl.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence
from functools import cache
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from support.pki import PkiKit
from warden.engines.pki import certstore, crl, crlindex
from warden.engines.pki.certstore import RevokedEntry
from warden.engines.pki.store import format_serial
from warden.engines.pki.x509util import CertSpec, Signer, Subject, crl_encode
from warden.engines.pki.x509util.build import issue_certificate
from warden.engines.pki.x509util.model import AltNames
from warden.logical.storage import BatchOp, Check, Storage, Versioned, scan
from warden.storage.memory import MemoryBackend

NOW = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


class Yielding:
    """A store that lets other tasks run inside every call, so concurrent read-modify-writes
    really interleave (MemoryBackend alone never suspends)."""

    def __init__(self, inner: MemoryBackend) -> None:
        self.inner = inner

    async def get(self, key: str) -> bytes | None:
        await asyncio.sleep(0)
        return await self.inner.get(key)

    async def get_versioned(self, key: str) -> Versioned:
        await asyncio.sleep(0)
        return await self.inner.get_versioned(key)

    async def list(self, prefix: str) -> list[str]:
        await asyncio.sleep(0)
        return await self.inner.list(prefix)

    async def list_page(self, prefix: str, after: str, limit: int) -> list[str]:
        await asyncio.sleep(0)
        return await self.inner.list_page(prefix, after, limit)

    async def transaction(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bool:
        await asyncio.sleep(0)
        return await self.inner.transaction(checks, ops)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@cache
def _signer() -> Signer:
    key = ec.generate_private_key(ec.SECP256R1())
    spec = CertSpec(subject=Subject(common_name="CRL test CA"), alt_names=AltNames(), serial=1,
                    not_before=NOW, not_after=NOW + dt.timedelta(days=30), is_ca=True,
                    key_usage=frozenset({"key_cert_sign", "crl_sign"}))
    return Signer(key, issue_certificate(spec, key.public_key(), Signer(key))[0])


def _listed(entries: bytes) -> list[int]:
    """The serials of concatenated entries, through a signed CRL that cryptography parses."""
    der = crl_encode.signed_crl(_signer(), entries, number=1, this_update=NOW,
                                next_update=NOW + dt.timedelta(days=1))
    return [r.serial_number for r in x509.load_der_x509_crl(der)]


def _revocation(serial: int, issuer: str = "issuer-a", when: float = 1_800_000_000.0) -> RevokedEntry:
    return RevokedEntry(serial_number=format_serial(serial), revocation_time=when, issuer_id=issuer,
                        not_after=int(when) + 86400)


async def _chunk_sizes(storage: Storage, issuer: str) -> list[int]:
    names = await storage.list(f"{crlindex.ENTRIES_PREFIX}{issuer}/")
    return [len(await storage.get(f"{crlindex.ENTRIES_PREFIX}{issuer}/{n}") or b"") for n in names]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crlindex, "CHUNK_BYTES", 400)  # about ten entries a chunk


@pytest.mark.usefixtures("small_chunks")
async def test_revocations_append_across_chunks_and_reindex_writes_the_same_entries() -> None:
    storage = MemoryBackend()
    serials = [2**150 + 7 * i for i in range(57)]
    for serial in serials:
        assert (await certstore.revoke_once(storage, _revocation(serial)))[1]
    sizes = await _chunk_sizes(storage, "issuer-a")
    assert len(sizes) > 3 and max(sizes) <= 400
    appended = await crlindex.read(storage, ["issuer-a"])
    assert _listed(appended.der) == serials  # in the order they were revoked
    assert crlindex.count(appended.der) == len(serials)
    assert appended.ends["issuer-a"].chunk == len(sizes) - 1

    assert await crlindex.epoch(storage) is None  # never reindexed: a store from before the chunks
    assert await crlindex.ensure(storage) == 1 and await crlindex.ensure(storage) == 1
    rebuilt = await crlindex.read(storage, ["issuer-a"])
    assert sorted(_listed(rebuilt.der)) == serials  # reindex goes in serial order

    for serial in serials[:20]:  # tidy removes revocations: reindex drops their entries
        await storage.delete(certstore.REVOKED_PREFIX + format_serial(serial).replace(":", "-"))
    assert await crlindex.reindex(storage) == 37
    assert sorted(_listed((await crlindex.read(storage, ["issuer-a"])).der)) == serials[20:]
    assert await crlindex.epoch(storage) == 2


@pytest.mark.usefixtures("small_chunks")
async def test_a_read_after_a_position_is_what_was_revoked_since() -> None:
    storage = MemoryBackend()
    for serial in range(1, 26):
        await certstore.revoke_once(storage, _revocation(serial))
    base = await crlindex.read(storage, ["issuer-a", "issuer-b"])
    for serial in range(26, 40):
        await certstore.revoke_once(storage, _revocation(serial, "issuer-b" if serial % 2 else "issuer-a"))
    since = await crlindex.read(storage, ["issuer-a", "issuer-b"], base.ends)
    assert sorted(_listed(since.der)) == list(range(26, 40))
    assert not (await crlindex.read(storage, ["issuer-a", "issuer-b"], since.ends)).der


@pytest.mark.usefixtures("small_chunks")
async def test_concurrent_revocations_each_land_exactly_once() -> None:
    storage = Yielding(MemoryBackend())
    serials = list(range(1000, 1120))
    attempts = [certstore.revoke_once(storage, _revocation(s, f"issuer-{s % 3}")) for s in serials * 2]
    results = await asyncio.gather(*attempts)
    created = [entry.serial_number for entry, first, _ in results if first]
    assert sorted(created) == sorted(format_serial(s) for s in serials)  # one winner per serial
    listed = _listed((await crlindex.read(storage, ["issuer-0", "issuer-1", "issuer-2"])).der)
    assert sorted(listed) == serials


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("issuer", ["issuer-a", "issuer-new"])
@pytest.mark.parametrize("moment", ["before the records", "after the records"])
@pytest.mark.parametrize("indexed", [True, False])
async def test_reindex_keeps_a_revocation_that_lands_while_it_reads(issuer: str, moment: str,
                                                                    indexed: bool) -> None:
    storage = MemoryBackend()
    for serial in range(100, 140):  # two full chunks: the next revocation starts a third
        await certstore.revoke_once(storage, _revocation(serial))
    if not indexed:  # a store written before the chunks: only the records
        for key in await scan(storage, crlindex.ENTRIES_PREFIX):
            await storage.delete(crlindex.ENTRIES_PREFIX + key)
    landed = []

    class RevokingDuringRead(Yielding):
        async def list_page(self, prefix: str, after: str, limit: int) -> list[str]:
            late = moment == "after the records"
            if prefix == certstore.REVOKED_PREFIX and not landed and bool(after) == late:
                # serial 5 sorts before the others: after the records were read, reindex misses it
                landed.append(await certstore.revoke_once(self.inner, _revocation(5, issuer)))
            return await super().list_page(prefix, after, limit)

    await crlindex.reindex(RevokingDuringRead(storage))
    assert landed
    everything = await crlindex.read(storage, await crlindex.issuers(storage))
    assert sorted(_listed(everything.der)) == [5, *range(100, 140)]  # once each


async def _leaf_serials(kit: PkiKit, path: str = "crl") -> tuple[x509.CertificateRevocationList, list[int]]:
    resp = await kit.read(path)
    assert resp is not None and resp.raw is not None
    loaded = x509.load_der_x509_crl(resp.raw.body)
    return loaded, sorted(r.serial_number for r in loaded)


async def test_a_large_crl_is_stored_in_parts_and_served_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crl, "INLINE_BYTES", 2000)
    monkeypatch.setattr(crl, "PART_BYTES", 1500)
    kit = PkiKit()
    root = await kit.root("ec", common_name="Parts Root")
    serials = [3 * 2**100 + i for i in range(200)]
    for serial in serials:
        await certstore.revoke_once(kit.storage, _revocation(serial, root["issuer_id"]))
    await kit.get("crl/rotate")
    served, listed = await _leaf_serials(kit)
    assert listed == serials
    ca = x509.load_pem_x509_certificate(root["certificate"].encode())
    assert served.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    parts = [k for k in await scan(kit.storage) if k.startswith(crl.DER_PREFIX)]
    assert len(parts) >= 5
    assert max([len(await kit.storage.get(k) or b"") for k in parts]) <= 1500
    kit.pki.invalidate()  # as another process would: read the parts back from the store
    assert (await _leaf_serials(kit))[1] == serials

    await kit.get("crl/rotate")  # the new CRL's parts replace the old ones
    again = [k for k in await scan(kit.storage) if k.startswith(crl.DER_PREFIX)]
    assert len(again) == len(parts) and not set(again) & set(parts)
    assert (await _leaf_serials(kit))[1] == serials


async def test_a_revocation_whose_entry_a_stored_crl_lists_does_not_rebuild_it() -> None:
    kit = PkiKit()
    root = await kit.root("ec", common_name="Coalescing Root")
    issuer = root["issuer_id"]
    first = await certstore.revoke_once(kit.storage, _revocation(11, issuer))
    second = await certstore.revoke_once(kit.storage, _revocation(12, issuer))
    assert first.landed is not None and second.landed is not None
    # the second revocation's rebuild ran first: it lists both
    assert await crl.rebuild(kit.pki, kit.storage, issuer, unless_listing=second.landed) is not None
    number = (await _leaf_serials(kit))[0].extensions.get_extension_for_class(x509.CRLNumber).value
    assert await crl.rebuild(kit.pki, kit.storage, issuer, unless_listing=first.landed) is None
    served, listed = await _leaf_serials(kit)
    assert listed == [11, 12] and served.extensions.get_extension_for_class(x509.CRLNumber).value == number
    third = await certstore.revoke_once(kit.storage, _revocation(13, issuer))
    assert await crl.rebuild(kit.pki, kit.storage, issuer, unless_listing=third.landed) is not None
    assert (await _leaf_serials(kit))[1] == [11, 12, 13]


async def test_revocations_written_around_the_entries_are_listed_after_a_restart() -> None:
    """A bulk load writes revocation records only (e.g. a benchmark's fill of a stopped
    server's store): the mount's start notices and rebuilds the entries."""
    kit = PkiKit()
    root = await kit.root("ec", common_name="Bulk Root")
    await kit.get("crl/rotate")
    serials = [5 * 2**90 + i for i in range(30)]
    for serial in serials:
        entry = _revocation(serial, root["issuer_id"])
        await kit.storage.put(certstore.REVOKED_PREFIX + format_serial(serial).replace(":", "-"),
                              orjson.dumps(dataclasses.asdict(entry)))
    await kit.pki.initialize()  # as at the next start
    third = await certstore.revoke_once(kit.storage, _revocation(7, root["issuer_id"]))
    await crl.after_revocation(kit.pki, kit.storage, root["issuer_id"], third.landed)
    assert (await _leaf_serials(kit))[1] == sorted([7, *serials])
    assert not await crl.reindex_if_stale(kit.storage)  # agreeing now: nothing to do
