"""The AWS auth method (ec2): one table of its API, and the services it was handed."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

from warden.auth.aws import path_accesslist, path_config_cert, path_login, path_role
from warden.auth.aws.describer import SERVICE_NAME, InstanceDescriber
from warden.auth.aws.identity import IdentityDocument
from warden.auth.aws.path_role import AwsRole
from warden.auth.mountkey import MountKey, MountKeyLoader
from warden.framework import Backend
from warden.logical.backend import BackendConfig, BackendType, SpecialPaths, SystemView
from warden.logical.errors import InvalidRequest
from warden.logical.storage import Storage

LOCK_STRIPES = 64

HELP = """\
The AWS auth method (ec2 flavour) lets EC2 instances log in with the identity document
AWS signs for them. No AWS API is ever called: the signature is checked against the
AWS public certificates registered under config/certificate/.
"""


class AwsBackend:
    def __init__(self, conf: BackendConfig) -> None:
        self.system: SystemView = conf.system
        # None in production: roles binding VPC, subnet or instance profile are refused.
        self.describer: InstanceDescriber | None = conf.services.get(SERVICE_NAME)
        self._keys = MountKeyLoader(conf.system.random_bytes)
        # Striped per-instance locks: a login's access-list read-check-write is atomic.
        self._locks = [asyncio.Lock() for _ in range(LOCK_STRIPES)]
        self.backend = Backend(
            paths=[*path_login.paths(self), *path_config_cert.paths(), *path_role.paths(self),
                   *path_accesslist.paths(self)],
            backend_type=BackendType.CREDENTIAL,
            special_paths=SpecialPaths(unauthenticated=("login",)),
            help=HELP,
            auth_renew=path_login.renewer(self),
        )

    def now(self) -> float:
        return self.system.clock.time()

    def new_uuid(self) -> str:
        return str(uuid.UUID(bytes=self.system.random_bytes(16)))

    def instance_lock(self, instance_id: str) -> asyncio.Lock:
        return self._locks[hashlib.sha256(instance_id.encode()).digest()[0] % LOCK_STRIPES]

    async def key(self, storage: Storage) -> MountKey:
        return await self._keys.get(storage)

    async def check_instance(self, role: AwsRole, doc: IdentityDocument, *,
                             renewing: bool = False) -> None:
        """The role's bindings against the document, then (if bound) the described instance."""
        if role.auth_type != "ec2":
            raise InvalidRequest(f'role "{role.name}" is not an ec2 role')
        suffix = "; not renewing" if renewing else ""
        reason = role.document_refusal(doc)
        if not reason and role.needs_describer:
            reason = await self._described_refusal(role, doc)
        if reason:
            raise InvalidRequest(f"Error validating instance: {reason}{suffix}")

    async def _described_refusal(self, role: AwsRole, doc: IdentityDocument) -> str:
        if self.describer is None:
            return ("the role binds a VPC, subnet or instance profile, but this server has no "
                    "EC2 instance describer to check them")
        details = await self.describer.describe(
            instance_id=doc.instance_id, region=doc.region, account_id=doc.account_id)
        if details is None:
            return f'instance "{doc.instance_id}" was not found in EC2'
        return role.details_refusal(details)


def factory(conf: BackendConfig) -> Backend:
    return AwsBackend(conf).backend
