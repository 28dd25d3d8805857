"""Test kit: an AppRole mount over in-memory storage with a frozen clock, driven by handle_request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from support.system import FakeSystem
from warden.auth.approle import factory
from warden.framework import Backend
from warden.logical.backend import BackendConfig
from warden.logical.clock import FrozenClock
from warden.logical.operation import Operation
from warden.logical.request import Connection, MountInfo, Request
from warden.logical.response import Auth, Response
from warden.logical.storage import BatchOp
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


class AppRole:
    def __init__(self) -> None:
        self.storage = YieldingStorage()
        self.system = FakeSystem(default_ttl=MOUNT.default_lease_ttl, max_ttl=MOUNT.max_lease_ttl)
        self.backend: Backend = factory(BackendConfig(
            mount_path=MOUNT.path, mount_type="approle", mount_accessor=MOUNT.accessor,
            storage=self.storage, system=self.system))

    @property
    def clock(self) -> FrozenClock:
        return self.system.frozen

    async def call(self, op: Operation, path: str, *, addr: str = "10.0.0.5",
                   **data: Any) -> Response | None:
        return await self.backend.handle_request(Request(
            operation=op, path=path, data=data, storage=self.storage, mount=MOUNT,
            connection=Connection(remote_addr=addr)))

    async def write(self, path: str, **data: Any) -> Response | None:
        return await self.call(Operation.UPDATE, path, **data)

    async def read(self, path: str) -> dict[str, Any]:
        resp = await self.call(Operation.READ, path)
        assert resp is not None and resp.data is not None
        return resp.data

    async def role(self, name: str = "web", **fields: Any) -> str:
        """Create a role; returns its role id."""
        await self.write(f"role/{name}", **fields)
        return str((await self.read(f"role/{name}/role-id"))["role_id"])

    async def secret_id(self, role: str = "web", **fields: Any) -> dict[str, Any]:
        resp = await self.write(f"role/{role}/secret-id", **fields)
        assert resp is not None and resp.data is not None
        return resp.data

    async def login(self, role_id: str, secret_id: str = "", *, addr: str = "10.0.0.5") -> Auth:
        data = {"role_id": role_id, **({"secret_id": secret_id} if secret_id else {})}
        resp = await self.call(Operation.UPDATE, "login", addr=addr, **data)
        assert resp is not None and resp.auth is not None
        return resp.auth

    async def renew(self, auth: Auth) -> Auth:
        resp = await self.backend.handle_request(Request(
            operation=Operation.RENEW, path="login", storage=self.storage, mount=MOUNT, auth=auth))
        assert resp is not None and resp.auth is not None
        return resp.auth

    def stored_bytes(self) -> bytes:
        return b"\n".join(k.encode() + b"=" + v for k, v in self.storage._data.items())
