"""The etcd physical backend against a real 3-member etcd cluster with mutual TLS.

The same conformance suites as SQLite and memory, check-and-set between two clients (two
nodes), values above etcd's 1.5 MiB request limit, endpoint failover, and 503s without
quorum. The cluster's certificates were issued by warden itself (see conftest).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import AsyncIterator

import pytest

from support.etcd_cluster import EtcdCluster
from warden.core.barrier import Barrier
from warden.logical.storage import Check, Put
from warden.storage.base import StorageError, StorageUnavailable, ValueTooLarge
from warden.storage.etcd import EtcdBackend
from warden.storage.etcd_settings import EtcdOptions, EtcdSettings
from warden.storage.testing import (
    exercise_atomic_updates,
    exercise_backend,
    exercise_concurrency,
    exercise_transactions,
)

pytestmark = pytest.mark.interop

MIB = 1024 * 1024


def settings(cluster: EtcdCluster, *, endpoints: list[str] | None = None,
             timeout: float = 5.0, ca: str = "") -> EtcdSettings:
    return EtcdSettings(endpoints=tuple(endpoints or cluster.endpoints),
                        tls_ca_file=ca or str(cluster.pki.ca),
                        tls_cert_file=str(cluster.pki.client_cert),
                        tls_key_file=str(cluster.pki.client_key), request_timeout=timeout)


def unique_path() -> str:
    return f"/test-{secrets.token_hex(4)}/"


@pytest.fixture
async def backend(etcd_cluster: EtcdCluster) -> AsyncIterator[EtcdBackend]:
    store = EtcdBackend(settings(etcd_cluster), EtcdOptions(path=unique_path()))
    yield store
    await store.close()


async def test_conformance(backend: EtcdBackend) -> None:
    await exercise_backend(backend)
    await exercise_concurrency(backend, writers=200)
    await exercise_transactions(backend)


async def test_conformance_through_the_barrier(backend: EtcdBackend) -> None:
    barrier = Barrier(backend)
    await barrier.initialize(bytes(32))
    await barrier.unseal(bytes(32))
    await exercise_backend(barrier, root="logical/")
    await exercise_transactions(barrier, root="logical/")


async def test_check_and_set_holds_between_two_clients(etcd_cluster: EtcdCluster) -> None:
    """Two backends, two gRPC connections: two nodes. Counters and single-use tickets are
    decided by etcd's transaction, not by anything in one process."""
    path = unique_path()
    stores = [EtcdBackend(settings(etcd_cluster, endpoints=etcd_cluster.endpoints[i:] +
                                   etcd_cluster.endpoints[:i]), EtcdOptions(path=path))
              for i in range(2)]
    try:
        await exercise_atomic_updates(stores, racers=60)
    finally:
        for store in stores:
            await store.close()


async def test_values_above_the_request_limit_are_chunked_atomically(
        backend: EtcdBackend, etcd_cluster: EtcdCluster) -> None:
    big_a = secrets.token_bytes(3 * MIB + 17)
    big_b = secrets.token_bytes(2 * MIB)
    await backend.put("crl/big", big_a)
    assert await backend.get("crl/big") == big_a
    assert await backend.list("crl/") == ["big"]  # chunks are not listed
    chunks = etcd_cluster.etcdctl("get", "--prefix", "--keys-only",
                                  backend.layout.chunk_root.decode())
    assert chunks.returncode == 0 and chunks.stdout.count(".chunks/") == 4, chunks.stdout

    async def writer() -> None:
        for value in itertools.islice(itertools.cycle([big_b, big_a]), 6):
            await backend.put("crl/big", value)

    async def reader() -> set[int]:
        seen = set()
        for _ in range(12):
            got = await backend.get("crl/big")
            assert got in (big_a, big_b), "a reader saw a value mixed from two writes"
            seen.add(len(got))
        return seen

    await asyncio.gather(writer(), reader(), reader())
    version = (await backend.get_versioned("crl/big")).version
    assert not await backend.transaction([Check("crl/big", version - 1)], [Put("crl/big", b"x")])
    assert await backend.transaction([Check("crl/big", version)], [Put("crl/big", b"small")])
    assert await backend.get("crl/big") == b"small"
    await backend.delete("crl/big")
    left = etcd_cluster.etcdctl("get", "--prefix", "--keys-only", backend.layout.chunk_root.decode())
    assert left.stdout.strip() == "", "chunks of replaced and deleted values must be removed"


async def test_a_value_above_max_value_bytes_is_refused_clearly(etcd_cluster: EtcdCluster) -> None:
    store = EtcdBackend(settings(etcd_cluster), EtcdOptions(path=unique_path(), max_value_bytes=MIB))
    try:
        with pytest.raises(ValueTooLarge, match="at most 1048576"):
            await store.put("huge", bytes(MIB + 1))
        assert await store.get("huge") is None
    finally:
        await store.close()


async def test_a_dead_endpoint_is_skipped(etcd_cluster: EtcdCluster) -> None:
    dead = "https://127.0.0.31:1"  # nothing listens there
    store = EtcdBackend(settings(etcd_cluster, endpoints=[dead, *etcd_cluster.endpoints]),
                        EtcdOptions(path=unique_path()))
    try:
        await store.put("k", b"v")
        assert await store.get("k") == b"v"
    finally:
        await store.close()


async def test_an_untrusted_server_is_refused(etcd_cluster: EtcdCluster) -> None:
    """TLS verification is on: with another CA as trust anchor, no request succeeds."""
    store = EtcdBackend(settings(etcd_cluster, timeout=1.5, ca=str(etcd_cluster.pki.listener_ca)),
                        EtcdOptions(path=unique_path()))
    try:
        with pytest.raises(StorageError):
            await store.get("k")
    finally:
        await store.close()


async def test_without_quorum_requests_fail_with_503_and_resume(etcd_cluster: EtcdCluster) -> None:
    store = EtcdBackend(settings(etcd_cluster, timeout=2.0), EtcdOptions(path=unique_path()))
    await store.put("before", b"kept")
    survivors, victims = etcd_cluster.members[:1], etcd_cluster.members[1:]
    try:
        for member in victims:
            etcd_cluster.kill(member)
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match=r"no quorum|unavailable"):
            await store.put("during", b"lost")
        with pytest.raises(StorageUnavailable):
            await store.get("before")  # linearizable reads need quorum too: never stale
        assert time.monotonic() - started < 10
    finally:
        for member in victims:
            etcd_cluster.start_member(member)
        etcd_cluster.wait_healthy()
    deadline = time.monotonic() + 20
    while True:
        try:
            assert await store.get("before") == b"kept"
            break
        except StorageUnavailable:
            assert time.monotonic() < deadline, "etcd did not serve again after quorum returned"
            await asyncio.sleep(0.3)
    await store.put("after", b"ok")
    assert await store.get("after") == b"ok"
    assert survivors
    await store.close()
