"""Test kit: an AWS (ec2) auth mount over in-memory storage, with a fake instance describer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from support.authkit import AuthMountKit
from warden.auth.aws import SERVICE_NAME, InstanceDetails, factory
from warden.logical.request import MountInfo
from warden.logical.response import Auth
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


class AwsAuth(AuthMountKit):
    def __init__(self, *, describer: FakeDescriber | None = None,
                 storage: MemoryBackend | None = None) -> None:
        self.describer = describer
        super().__init__(factory, MOUNT, storage=storage,
                         services={SERVICE_NAME: describer} if describer is not None else {})

    async def login(self, pkcs7: str, role: str = "", *, addr: str = "10.0.0.5",
                    **extra: Any) -> Auth:
        return await self.login_with(addr=addr, pkcs7=pkcs7, **({"role": role} if role else {}),
                                     **extra)

