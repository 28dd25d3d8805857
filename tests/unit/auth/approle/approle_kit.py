"""Test kit: an AppRole mount over in-memory storage with a frozen clock, driven by handle_request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from support.authkit import AuthMountKit
from warden.auth.approle import factory
from warden.logical.request import MountInfo
from warden.logical.response import Auth
from warden.logical.storage import BatchOp, Check, Versioned
from warden.storage.memory import MemoryBackend

MOUNT = MountInfo(path="auth/approle/", type="approle", accessor="auth_approle_test",
                  default_lease_ttl=3600, max_lease_ttl=86400)


class YieldingStorage(MemoryBackend):
    """Gives the event loop a turn on every call, so unlocked read-modify-writes would race."""

    async def get(self, key: str) -> bytes | None:
        await asyncio.sleep(0)
        return await super().get(key)

    async def put(self, key: str, value: bytes) -> None:
        await asyncio.sleep(0)
        await super().put(key, value)

    async def batch(self, ops: Sequence[BatchOp]) -> None:
        await asyncio.sleep(0)
        await super().batch(ops)

    async def get_versioned(self, key: str) -> Versioned:
        await asyncio.sleep(0)
        found = await super().get_versioned(key)
        await asyncio.sleep(0)
        return found

    async def transaction(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bool:
        await asyncio.sleep(0)
        return await super().transaction(checks, ops)


class AppRole(AuthMountKit):
    def __init__(self, storage: YieldingStorage | None = None) -> None:
        super().__init__(factory, MOUNT, storage=storage or YieldingStorage())

    async def role(self, name: str = "web", **fields: Any) -> str:
        """Create a role; returns its role id."""
        await self.write(f"role/{name}", **fields)
        return str((await self.read(f"role/{name}/role-id"))["role_id"])

    async def secret_id(self, role: str = "web", **fields: Any) -> dict[str, Any]:
        resp = await self.write(f"role/{role}/secret-id", **fields)
        assert resp is not None and resp.data is not None
        return resp.data

    async def login(self, role_id: str, secret_id: str = "", *, addr: str = "10.0.0.5") -> Auth:
        return await self.login_with(addr=addr, role_id=role_id,
                                     **({"secret_id": secret_id} if secret_id else {}))

    def stored_bytes(self) -> bytes:
        return b"\n".join(k.encode() + b"=" + v for k, v in self.storage._data.items())
