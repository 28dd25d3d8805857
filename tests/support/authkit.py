"""An auth method mounted over in-memory storage with a frozen clock, driven by handle_request."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from support.system import FakeSystem
from warden.framework import Backend
from warden.logical.backend import BackendConfig
from warden.logical.clock import FrozenClock
from warden.logical.operation import Operation
from warden.logical.request import Connection, MountInfo, Request
from warden.logical.response import Auth, Response
from warden.storage.memory import MemoryBackend


class AuthMountKit:
    """Subclasses add their method's own helpers (login shapes, roles, configuration)."""

    def __init__(self, factory: Callable[[BackendConfig], Backend], mount: MountInfo, *,
                 storage: MemoryBackend | None = None, system: FakeSystem | None = None,
                 services: Mapping[str, Any] | None = None) -> None:
        self.mount = mount
        self.storage = storage or MemoryBackend()
        self.system = system or FakeSystem(default_ttl=mount.default_lease_ttl,
                                           max_ttl=mount.max_lease_ttl)
        self.backend: Backend = factory(BackendConfig(
            mount_path=mount.path, mount_type=mount.type, mount_accessor=mount.accessor,
            storage=self.storage, system=self.system, services=dict(services or {})))

    @property
    def clock(self) -> FrozenClock:
        return self.system.frozen

    async def call(self, op: Operation, path: str, *, addr: str = "10.0.0.5",
                   **data: Any) -> Response | None:
        return await self.backend.handle_request(Request(
            operation=op, path=path, data=data, storage=self.storage, mount=self.mount,
            connection=Connection(remote_addr=addr)))

    async def write(self, path: str, **data: Any) -> Response | None:
        return await self.call(Operation.UPDATE, path, **data)

    async def read(self, path: str) -> dict[str, Any]:
        resp = await self.call(Operation.READ, path)
        assert resp is not None and resp.data is not None
        return resp.data

    async def login_with(self, *, addr: str = "10.0.0.5", **data: Any) -> Auth:
        resp = await self.call(Operation.UPDATE, "login", addr=addr, **data)
        assert resp is not None and resp.auth is not None
        return resp.auth

    async def renew(self, auth: Auth) -> Auth:
        resp = await self.backend.handle_request(Request(
            operation=Operation.RENEW, path="login", storage=self.storage, mount=self.mount,
            auth=auth))
        assert resp is not None and resp.auth is not None
        return resp.auth
