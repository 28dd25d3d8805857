"""CRL entries on a real etcd cluster: revocations from two clients (two processes or nodes
of a server) each land exactly once in the chunks, and reindex rewrites them in one
checked transaction."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from support.etcd_cluster import EtcdCluster
from warden.engines.pki import certstore, crlindex
from warden.engines.pki.certstore import RevokedEntry
from warden.engines.pki.store import format_serial
from warden.storage.etcd import EtcdBackend
from warden.storage.etcd_settings import EtcdOptions, EtcdSettings

pytestmark = pytest.mark.interop


@pytest.fixture
async def two_clients(etcd_cluster: EtcdCluster) -> AsyncIterator[tuple[EtcdBackend, EtcdBackend]]:
    settings = EtcdSettings(endpoints=tuple(etcd_cluster.endpoints), tls_ca_file=str(etcd_cluster.pki.ca),
                            tls_cert_file=str(etcd_cluster.pki.client_cert),
                            tls_key_file=str(etcd_cluster.pki.client_key))
    path = f"/crl-entries-{secrets.token_hex(4)}/"
    first = EtcdBackend(settings, EtcdOptions(path=path))
    second = EtcdBackend(settings, EtcdOptions(path=path))
    yield first, second
    await first.close()
    await second.close()


async def test_revocations_from_two_clients_land_once_and_reindex_keeps_them(
        two_clients: tuple[EtcdBackend, EtcdBackend], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crlindex, "CHUNK_BYTES", 400)  # several chunks from a few dozen entries
    first, second = two_clients
    serials = list(range(2**100, 2**100 + 60))

    def revocation(serial: int) -> RevokedEntry:
        return RevokedEntry(serial_number=format_serial(serial), revocation_time=1_800_000_000.0,
                            issuer_id="issuer-a", not_after=1_900_000_000)

    results = await asyncio.gather(*(certstore.revoke_once(store, revocation(s))
                                     for s in serials for store in (first, second)))
    assert sorted(r.entry.serial_number for r in results if r.created) == [format_serial(s) for s in serials]
    entries = _split((await crlindex.read(first, ["issuer-a"])).der)
    assert sorted(entries) == sorted(crlindex.entry_der(format_serial(s), 1_800_000_000.0) for s in serials)
    assert len(await first.list(f"{crlindex.ENTRIES_PREFIX}issuer-a/")) > 2
    assert await crlindex.reindex(second) == len(serials)
    assert sorted(_split((await crlindex.read(first, ["issuer-a"])).der)) == sorted(entries)


def _split(entries: bytes) -> list[bytes]:
    """The single entries (each a short DER SEQUENCE) of a run of them."""
    out, pos = [], 0
    while pos < len(entries):
        end = pos + 2 + entries[pos + 1]
        out.append(entries[pos:end])
        pos = end
    return out
