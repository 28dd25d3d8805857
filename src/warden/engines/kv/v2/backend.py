"""kv version 2: the one table of the versioned key/value API."""

from __future__ import annotations

import asyncio
import hashlib

from warden.engines.kv.v2 import (
    path_config,
    path_data,
    path_metadata,
    path_subkeys,
    path_versions,
)
from warden.engines.kv.v2.store import now_ns
from warden.engines.kv.v2.upgrade import migrate_v1_secrets
from warden.framework import Backend, FieldData, Path
from warden.logical.backend import BackendConfig
from warden.logical.clock import Clock
from warden.logical.errors import UnsupportedPath
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.storage import Storage


class KeyLocks:
    """A fixed pool of locks picked by a hash of the secret's path (Vault's locksutil).

    Atomicity comes from ``store.change_secret`` (a check-and-set in the store, which
    holds across processes and nodes); the lock only queues this process's writers of
    one path, so they do not lose races to each other and retry.
    """

    def __init__(self, size: int = 256) -> None:
        self._locks = tuple(asyncio.Lock() for _ in range(size))

    def for_path(self, path: str) -> asyncio.Lock:
        digest = hashlib.blake2b(path.encode(), digest_size=8).digest()
        return self._locks[int.from_bytes(digest, "big") % len(self._locks)]


class KvV2Backend:
    def __init__(self, conf: BackendConfig) -> None:
        self.clock: Clock = conf.system.clock
        self.storage: Storage = conf.storage
        self.locks = KeyLocks()
        self.backend = Backend(
            paths=[
                *path_config.paths(self),
                *path_data.paths(self),
                *path_metadata.paths(self),
                *path_versions.paths(self),
                *path_subkeys.paths(self),
                Path(r"(?P<path>.*)", fields=path_data.PATH_FIELD,
                     operations={op: invalid_path for op in _CLIENT_OPERATIONS},
                     help_synopsis="Anything else: not part of the versioned K/V API."),
            ],
            help=BACKEND_HELP,
            initialize=self._initialize,
        )

    def now_ns(self) -> int:
        return now_ns(self.clock)

    async def _initialize(self) -> None:
        await migrate_v1_secrets(self.storage, self.now_ns())


_CLIENT_OPERATIONS = (Operation.READ, Operation.UPDATE, Operation.PATCH, Operation.DELETE,
                      Operation.LIST)


_CLI_VERBS = {Operation.READ: "get", Operation.UPDATE: "put", Operation.CREATE: "put",
              Operation.PATCH: "patch", Operation.DELETE: "delete", Operation.LIST: "list"}


async def invalid_path(req: Request, data: FieldData) -> None:
    """A kv v1-style path (``write secret/foo``): Vault's words, naming the CLI command to use."""
    verb = _CLI_VERBS.get(req.operation, "get")
    raise UnsupportedPath(
        "Invalid path for a versioned K/V secrets engine: use data/, metadata/, delete/, "
        "undelete/, destroy/, subkeys/ or config (see the kv v2 API documentation). "
        f"If using the warden CLI, use 'warden kv {verb}' for this operation."
    )


BACKEND_HELP = """\
The versioned key/value store (kv version 2). Every write of data/<path> keeps a new
version; older versions can be read, soft-deleted, undeleted or destroyed, and
metadata/<path> holds each secret's settings and version history.
"""
