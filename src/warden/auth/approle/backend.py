"""The AppRole auth method: one table of its API, plus the state a mount keeps in memory."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

from warden.auth.approle import path_login, path_role, path_secret_id
from warden.auth.mountkey import MountKey, MountKeyLoader
from warden.framework import Backend
from warden.logical.backend import BackendConfig, BackendType, SpecialPaths, SystemView
from warden.logical.storage import Storage

LOCK_STRIPES = 64

HELP = """\
The AppRole auth method lets machines and services log in with a role ID (like a user
name) and a secret ID (like a password, often handed out response-wrapped).
"""


class AppRoleBackend:
    def __init__(self, conf: BackendConfig) -> None:
        self.system: SystemView = conf.system
        self._keys = MountKeyLoader(conf.system.random_bytes)
        # Striped per-role locks (Vault's locksutil): bounded, no per-name growth.
        self._role_locks = [asyncio.Lock() for _ in range(LOCK_STRIPES)]
        # Serialises role-id changes so two roles can never claim the same role id.
        self.index_lock = asyncio.Lock()
        self.backend = Backend(
            paths=[*path_login.paths(self), *path_secret_id.paths(self), *path_role.paths(self)],
            backend_type=BackendType.CREDENTIAL,
            special_paths=SpecialPaths(unauthenticated=("login",)),
            help=HELP,
            auth_renew=path_login.renewer(self),
        )

    def now(self) -> float:
        return self.system.clock.time()

    def new_uuid(self) -> str:
        return str(uuid.UUID(bytes=self.system.random_bytes(16)))

    def role_lock(self, name: str) -> asyncio.Lock:
        index = hashlib.sha256(name.encode()).digest()[0] % LOCK_STRIPES
        return self._role_locks[index]

    async def key(self, storage: Storage) -> MountKey:
        return await self._keys.get(storage)


def factory(conf: BackendConfig) -> Backend:
    return AppRoleBackend(conf).backend
