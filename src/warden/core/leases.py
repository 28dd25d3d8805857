"""The expiration manager: leases on secrets, revoked on expiry, on request, or with their token.

Layout under its view: ``lease/<lease id>`` (the lease) and
``by-token/<accessor>/<digest>`` (-> lease id) so a revoked token takes its leases along.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import orjson

from warden.core.tokens import random_id
from warden.logical.clock import Clock
from warden.logical.errors import InvalidRequest
from warden.logical.response import Secret
from warden.logical.storage import Delete, Put, Storage, scan

log = logging.getLogger("warden.leases")

RETRY_AFTER = 60.0


@dataclass(frozen=True, slots=True)
class Lease:
    lease_id: str
    path: str
    issue_time: float
    expire_time: float
    ttl: int
    renewable: bool
    internal_data: dict[str, Any]
    token_accessor: str = ""
    last_renewal_time: float = 0.0
    max_expire_time: float = 0.0

    def secret(self, now: float) -> Secret:
        return Secret(ttl=max(0, int(self.expire_time - now)), renewable=self.renewable,
                      internal_data=dict(self.internal_data), lease_id=self.lease_id)


# Asks the backend that issued a lease to revoke (or renew) it; raises on failure.
LeaseCallback = Callable[[Lease], Awaitable[None]]


def _digest(lease_id: str) -> str:
    return hashlib.sha256(lease_id.encode()).hexdigest()[:32]


class LeaseManager:
    def __init__(self, storage: Storage, *, clock: Clock,
                 randbytes: Callable[[int], bytes], revoke_backend: LeaseCallback) -> None:
        self._storage = storage
        self._clock = clock
        self._randbytes = randbytes
        self._revoke_backend = revoke_backend
        self._due: list[tuple[float, str]] = []
        self._on_change: Callable[[], None] = lambda: None

    def on_change(self, announce: Callable[[], None]) -> None:
        """Called after a lease is registered or renewed: the worker that expires leases
        (the server's first) reloads its schedule."""
        self._on_change = announce

    async def load(self) -> int:
        self._due = []
        keys = await scan(self._storage, "lease/")
        for key in keys:
            lease = await self._load(key)
            if lease is not None:
                heapq.heappush(self._due, (lease.expire_time, lease.lease_id))
        return len(keys)

    async def _load(self, lease_id: str) -> Lease | None:
        raw = await self._storage.get("lease/" + lease_id)
        return None if raw is None else Lease(**orjson.loads(raw))

    def _put_ops(self, lease: Lease) -> list[Put | Delete]:
        ops: list[Put | Delete] = [Put("lease/" + lease.lease_id, orjson.dumps(asdict(lease)))]
        if lease.token_accessor:
            ops.append(Put(f"by-token/{lease.token_accessor}/{_digest(lease.lease_id)}",
                           lease.lease_id.encode()))
        return ops

    async def register(self, path: str, secret: Secret, *, accessor: str, max_ttl: int) -> Lease:
        now = self._clock.time()
        ttl = min(secret.ttl, max_ttl) if max_ttl else secret.ttl
        lease = Lease(
            lease_id=f"{path}/{random_id(self._randbytes)}", path=path, issue_time=now,
            expire_time=now + ttl, ttl=ttl, renewable=secret.renewable,
            internal_data=dict(secret.internal_data), token_accessor=accessor,
            max_expire_time=now + max_ttl if max_ttl else 0.0,
        )
        await self._storage.batch(self._put_ops(lease))
        heapq.heappush(self._due, (lease.expire_time, lease.lease_id))
        self._on_change()
        secret.ttl, secret.lease_id = ttl, lease.lease_id
        return lease

    async def lookup(self, lease_id: str) -> Lease:
        lease = await self._load(lease_id) if lease_id else None
        if lease is None:
            raise InvalidRequest("invalid lease")
        return lease

    async def renew(self, lease_id: str, increment: int) -> Lease:
        lease = await self.lookup(lease_id)
        if not lease.renewable:
            raise InvalidRequest("lease is not renewable")
        now = self._clock.time()
        ttl = increment or lease.ttl
        if lease.max_expire_time:
            ttl = max(0, min(ttl, int(lease.max_expire_time - now)))
        renewed = replace(lease, ttl=ttl, expire_time=now + ttl, last_renewal_time=now)
        await self._storage.batch(self._put_ops(renewed))
        heapq.heappush(self._due, (renewed.expire_time, renewed.lease_id))
        self._on_change()
        return renewed

    async def revoke(self, lease_id: str) -> None:
        lease = await self.lookup(lease_id)
        await self._revoke_backend(lease)
        await self._drop(lease)

    async def _drop(self, lease: Lease) -> None:
        ops: list[Put | Delete] = [Delete("lease/" + lease.lease_id)]
        if lease.token_accessor:
            ops.append(Delete(f"by-token/{lease.token_accessor}/{_digest(lease.lease_id)}"))
        await self._storage.batch(ops)

    async def revoke_prefix(self, prefix: str, *, force: bool = False) -> int:
        """Revoke every lease under ``prefix``. A backend that fails to revoke one stops the
        sweep, unless ``force`` (Vault's revoke-force): then the failure is logged and the
        lease is removed all the same, for what it stood for may no longer exist anywhere."""
        ids = await self.list_prefix(prefix)
        for lease_id in ids:
            if not force:
                await self.revoke(lease_id)
                continue
            lease = await self._load(lease_id)
            if lease is None:
                continue
            try:
                await self._revoke_backend(lease)
            except Exception:
                log.warning("revoke-force: the backend failed to revoke lease %s; removing it "
                            "anyway", lease.lease_id, exc_info=True)
            await self._drop(lease)
        return len(ids)

    async def list_prefix(self, prefix: str) -> list[str]:
        base = prefix.rstrip("/") + "/" if prefix else ""
        return [base + k for k in await scan(self._storage, "lease/" + base)]

    async def revoke_by_token(self, accessor: str) -> None:
        for name in await self._storage.list(f"by-token/{accessor}/"):
            raw = await self._storage.get(f"by-token/{accessor}/{name}")
            lease = await self._load(raw.decode()) if raw else None
            if lease is not None:
                await self._revoke_or_retry(lease)
            else:
                await self._storage.delete(f"by-token/{accessor}/{name}")

    async def _revoke_or_retry(self, lease: Lease) -> bool:
        try:
            await self._revoke_backend(lease)
        except Exception:
            log.warning("revoking lease %s failed; will retry", lease.lease_id, exc_info=True)
            heapq.heappush(self._due, (self._clock.time() + RETRY_AFTER, lease.lease_id))
            return False
        await self._drop(lease)
        return True

    def next_due(self) -> float | None:
        return self._due[0][0] if self._due else None

    async def expire_due(self) -> int:
        """Revoke every lease whose time has come; returns how many were revoked."""
        now = self._clock.time()
        revoked = 0
        while self._due and self._due[0][0] <= now:
            _, lease_id = heapq.heappop(self._due)
            lease = await self._load(lease_id)
            if lease is None or lease.expire_time > now:
                continue  # already revoked, or renewed (a later heap entry exists)
            revoked += await self._revoke_or_retry(lease)
        return revoked
