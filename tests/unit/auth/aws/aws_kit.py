"""Test kit: an AWS (ec2) auth mount over in-memory storage, with a fake instance describer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from support.system import FakeSystem
from warden.auth.aws import SERVICE_NAME, InstanceDetails, factory
from warden.framework import Backend
from warden.logical.backend import BackendConfig
from warden.logical.clock import FrozenClock
from warden.logical.operation import Operation
from warden.logical.request import Connection, MountInfo, Request
from warden.logical.response import Auth, Response
from warden.storage.memory import MemoryBackend

MOUNT = MountInfo(path="auth/aws/", type="aws", accessor="auth_aws_test",
                  default_lease_ttl=3600, max_lease_ttl=86400)


@dataclass
class FakeDescriber:
    """EC2 as the test says it is: instance id -> details."""

    instances: dict[str, InstanceDetails] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    async def describe(self, *, instance_id: str, region: str,
                       account_id: str) -> InstanceDetails | None:
        self.calls.append(instance_id)
        return self.instances.get(instance_id)


class AwsAuth:
    def __init__(self, *, describer: FakeDescriber | None = None,
                 storage: MemoryBackend | None = None) -> None:
        self.storage = storage or MemoryBackend()
        self.system = FakeSystem(default_ttl=MOUNT.default_lease_ttl, max_ttl=MOUNT.max_lease_ttl)
        self.describer = describer
        services = {SERVICE_NAME: describer} if describer is not None else {}
        self.backend: Backend = factory(BackendConfig(
            mount_path=MOUNT.path, mount_type="aws", mount_accessor=MOUNT.accessor,
            storage=self.storage, system=self.system, services=services))

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

    async def login(self, pkcs7: str, role: str = "", *, addr: str = "10.0.0.5",
                    **extra: Any) -> Auth:
        data = {"pkcs7": pkcs7, **({"role": role} if role else {}), **extra}
        resp = await self.call(Operation.UPDATE, "login", addr=addr, **data)
        assert resp is not None and resp.auth is not None
        return resp.auth

    async def renew(self, auth: Auth) -> Auth:
        resp = await self.backend.handle_request(Request(
            operation=Operation.RENEW, path="login", storage=self.storage, mount=MOUNT, auth=auth))
        assert resp is not None and resp.auth is not None
        return resp.auth
