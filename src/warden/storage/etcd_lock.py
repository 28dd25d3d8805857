"""The HA lock on etcd: one key, created only if absent, bound to this node's lease.

``acquire`` grants a lease of ``ttl`` seconds, keeps it alive (every ttl/4), and creates
the lock key with that lease in a transaction that succeeds only if the key does not
exist; until then it retries every ``POLL_S``. If the node dies, its lease expires after
``ttl`` and etcd deletes the key, so a standby takes over within about ``ttl`` plus one
poll. The holder declares the lock lost (and must stop acting as the active node at
once) when the lease has not been renewed for ``ttl`` minus a margin, when etcd says the
lease is gone, or when the key no longer carries its create_revision.

Once acquired, the backend adds a fence to every write: the lock key must still have
this holder's create_revision, so a node that lost the lock cannot write, even before it
notices. The fence stays after the lock is released or lost (a standby has nothing to
write) until the node acquires the lock again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import grpc
from aetcd import rpc  # type: ignore[import-untyped]

from warden.storage.base import StorageError, StorageUnavailable

if TYPE_CHECKING:
    from warden.storage.etcd import EtcdBackend

_log = logging.getLogger(__name__)

POLL_S: Final = 0.2


class NotActive(StorageUnavailable):
    """This node lost the HA lock; its write was refused by the fence (503, retry)."""

    @classmethod
    def default_message(cls) -> str:
        return "this node is no longer the active node; retry the request"


@dataclass(frozen=True, slots=True)
class Fence:
    """The lock key and the create_revision every write of the holder must still see."""

    key: bytes
    create_revision: int

    def compare(self) -> Any:
        return rpc.Compare(key=self.key, target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL,
                           create_revision=self.create_revision)

    def probe(self) -> Any:
        return rpc.RequestOp(request_range=rpc.RangeRequest(key=self.key))

    def check_failure(self, answer: Any) -> None:
        """After a failed transaction: raise NotActive if the fence is what failed."""
        found = answer.responses[0].response_range.kvs if answer.responses else []
        if not found or found[0].create_revision != self.create_revision:
            raise NotActive()


class EtcdLock:
    """One named lock (Vault's ``physical.Lock``) on an etcd backend."""

    def __init__(self, backend: EtcdBackend, key: bytes, value: str, ttl: float) -> None:
        self._backend = backend
        self._key = key
        self._value = value.encode()
        self._ttl = ttl
        self._lease = 0
        self._lost = asyncio.Event()
        self._keepalive: asyncio.Task[None] | None = None
        self._fence: Fence | None = None

    async def acquire(self) -> asyncio.Event:
        try:
            while True:
                if self._lease == 0 or self._lost.is_set():
                    await self._new_lease()
                with contextlib.suppress(StorageUnavailable):
                    if await self._try_create():
                        return self._lost
                await asyncio.sleep(POLL_S)
        except BaseException:
            await self.release()
            raise

    async def release(self) -> None:
        # The backend keeps the fence: once the lock is gone, stray writes of this node fail.
        self._fence = None
        task, self._keepalive = self._keepalive, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        lease, self._lease = self._lease, 0
        if lease:
            # Revoking deletes the key at once, so a standby need not wait for the TTL.
            with contextlib.suppress(StorageError):
                await self._backend.client.call(lambda s: s.lease.LeaseRevoke(
                    rpc.LeaseRevokeRequest(ID=lease), metadata=s.metadata), timeout=2.0)

    async def value(self) -> tuple[bool, str]:
        found = await self._backend.client.call(lambda s: s.kv.Range(
            rpc.RangeRequest(key=self._key), metadata=s.metadata))
        if not found.kvs:
            return False, ""
        return True, found.kvs[0].value.decode()

    async def _new_lease(self) -> None:
        await self.release()
        self._lost = asyncio.Event()
        granted = await self._backend.client.call(lambda s: s.lease.LeaseGrant(
            rpc.LeaseGrantRequest(TTL=math.ceil(self._ttl)), metadata=s.metadata))
        self._lease = granted.ID
        self._keepalive = asyncio.get_running_loop().create_task(self._keep_alive(granted.ID))

    async def _try_create(self) -> bool:
        request = rpc.TxnRequest(
            compare=[rpc.Compare(key=self._key, target=rpc.Compare.CREATE,
                                 result=rpc.Compare.EQUAL, create_revision=0)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(
                key=self._key, value=self._value, lease=self._lease))],
        )
        answer = await self._backend.client.call(
            lambda s: s.kv.Txn(request, metadata=s.metadata), idempotent=False)
        if not answer.succeeded:
            return False
        self._fence = Fence(self._key, answer.header.revision)
        self._backend.fence = self._fence
        return True

    async def _keep_alive(self, lease: int) -> None:
        """Renew every ttl/4; give up (set lost) before the lease can have expired.

        Frequent renewals let a renewal land between two failures (an etcd leader election
        takes a second or two; etcd extends leases when it elects a leader).
        """
        interval = self._ttl / 4
        margin = min(0.5, interval)
        renewed = time.monotonic()
        while True:
            sent = time.monotonic()
            try:
                ttl = await self._renew(lease, timeout=max(0.2, renewed + self._ttl - margin - sent))
                if ttl <= 0:
                    return self._lose("etcd says the lease expired")
                renewed = sent
                if self._fence is not None and not await self._still_holds():
                    return self._lose("the lock key changed hands")
            except StorageError as exc:
                if time.monotonic() >= renewed + self._ttl - margin:
                    return self._lose(f"the lease could not be renewed in time ({exc})")
                await asyncio.sleep(min(POLL_S, interval))
                continue
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - sent)))

    async def _renew(self, lease: int, *, timeout: float) -> int:
        async def once(s: Any) -> int:
            call = s.lease.LeaseKeepAlive(metadata=s.metadata)
            try:
                await call.write(rpc.LeaseKeepAliveRequest(ID=lease))
                await call.done_writing()
                reply = await call.read()
            finally:
                call.cancel()
            return 0 if reply is grpc.aio.EOF else int(reply.TTL)

        return await self._backend.client.call(once, timeout=timeout)

    async def _still_holds(self) -> bool:
        assert self._fence is not None
        found = await self._backend.client.call(lambda s: s.kv.Range(
            rpc.RangeRequest(key=self._key), metadata=s.metadata), timeout=self._ttl / 3)
        return bool(found.kvs) and found.kvs[0].create_revision == self._fence.create_revision

    def _lose(self, why: str) -> None:
        if self._fence is not None:
            _log.warning("HA lock lost: %s", why)
        self._lost.set()
