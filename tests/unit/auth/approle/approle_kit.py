"""Test kit: an AppRole mount over in-memory storage with a frozen clock, driven by handle_request."""

from __future__ import annotations

from typing import Any

from support.authkit import AuthMountKit
from support.yielding import YieldingMemory
from warden.auth.approle import factory
from warden.logical.request import MountInfo
from warden.logical.response import Auth

MOUNT = MountInfo(path="auth/approle/", type="approle", accessor="auth_approle_test",
                  default_lease_ttl=3600, max_lease_ttl=86400)


class AppRole(AuthMountKit):
    def __init__(self, storage: YieldingMemory | None = None) -> None:
        super().__init__(factory, MOUNT, storage=storage or YieldingMemory())

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
