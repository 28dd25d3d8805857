"""Upgrading a kv mount from version 1: every v1 secret becomes version 1 of a v2 secret.

Runs when a v2 backend initialises over the mount's storage. Each secret moves in
one atomic batch (new metadata, new version, old key deleted), so a crash leaves
every key either untouched or fully moved and a rerun picks up the rest. Once all
are moved, a marker makes later starts skip the scan.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from warden.engines.kv.v2.store import (
    UPGRADE_KEY,
    V2_ROOT,
    KvConfig,
    UpgradeState,
    VersionData,
    decode_upgrade,
    encode_upgrade,
    load_metadata,
    put_metadata,
    put_version,
)
from warden.engines.kv.v2.versioning import add_version, new_metadata
from warden.logical.storage import Delete, Storage, scan

log = logging.getLogger("warden.engines.kv")


async def migrate_v1_secrets(storage: Storage, now: int) -> int:
    """Move every v1 secret into v2 records; returns how many moved."""
    raw = await storage.get(UPGRADE_KEY)
    if raw is not None and decode_upgrade(raw).done:
        return 0
    moved = 0
    for key in await v1_keys(storage):
        moved += await migrate_one(storage, key, now)
    await storage.put(UPGRADE_KEY, encode_upgrade(UpgradeState(done=True, finished_ns=now)))
    if moved:
        log.info("kv upgrade: moved %d version 1 secrets into version 2", moved)
    return moved


async def v1_keys(storage: Storage) -> list[str]:
    """Every key outside the v2 root: v1 never writes under it."""
    keys: list[str] = []
    for name in await storage.list(""):
        if name == V2_ROOT:
            continue
        if name.endswith("/"):
            keys += [name + rest for rest in await scan(storage, name)]
        else:
            keys.append(name)
    return keys


async def migrate_one(storage: Storage, key: str, now: int) -> int:
    """Move one secret atomically; 0 if there was nothing (left) to move."""
    raw = await storage.get(key)
    if raw is None:
        return 0
    secret = _v1_secret(raw)
    if secret is None:
        log.warning("kv upgrade: left an entry that is not a JSON object in place: %s", key)
        return 0
    if await load_metadata(storage, key) is not None:
        log.warning("kv upgrade: a version 2 secret already exists; left the v1 entry: %s", key)
        return 0
    meta, _ = add_version(new_metadata(key, now), now, 0, KvConfig())
    await storage.batch([
        put_version(key, 1, VersionData(secret, now)),
        put_metadata(meta),
        Delete(key),
    ])
    return 1


def _v1_secret(raw: bytes) -> dict[str, Any] | None:
    try:
        secret = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return secret if isinstance(secret, dict) else None
