"""kv v2 at rest: the stored records, their JSON codec and the storage layout.

Everything a v2 mount keeps lives under ``V2_ROOT``, so an upgrade from v1 can
tell v2 state from v1 secrets by key alone (the v1 backend refuses paths under it):

    _kv2/config                      KvConfig
    _kv2/upgrade                     UpgradeState (v1 -> v2 migration finished)
    _kv2/metadata/<path>             KeyMetadata, keyed by the secret's path so LIST
                                     sees its folders
    _kv2/versions/<sha256(path)>/<n> VersionData of version n

Metadata and the version data it describes are always written in one
transaction, so a crash can never leave them disagreeing. Every change of a secret
goes through ``change_secret``: it decides from the metadata it read and commits
only if that metadata is still the stored one (a check on its version), so two
writers, in this process or any other sharing the store, can never both create
version n+1 or lose each other's changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from warden.logical.clock import Clock
from warden.logical.errors import WardenError
from warden.logical.storage import BatchOp, Delete, Put, Storage, atomic_update

V2_ROOT = "_kv2/"
CONFIG_KEY = V2_ROOT + "config"
UPGRADE_KEY = V2_ROOT + "upgrade"
METADATA_PREFIX = V2_ROOT + "metadata/"
VERSIONS_PREFIX = V2_ROOT + "versions/"

SCHEMA = 1
Record = TypeVar("Record")
Result = TypeVar("Result")
DEFAULT_MAX_VERSIONS = 10


class CorruptRecord(WardenError):
    """A stored kv record that cannot be decoded (500; names the kind, never the content)."""

    @classmethod
    def default_message(cls) -> str:
        return "kv: a stored record is unreadable"


@dataclass(frozen=True, slots=True)
class KvConfig:
    """The mount-wide settings of ``config``; 0 means "not set"."""

    max_versions: int = 0
    cas_required: bool = False
    delete_version_after: int = 0
    schema: int = SCHEMA


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """What the metadata remembers of one version. Times are ns since the epoch, 0 = unset."""

    created_ns: int
    deletion_ns: int = 0
    destroyed: bool = False

    def deleted(self, now_ns: int) -> bool:
        """Soft-deleted: a deletion time is set and has passed (it may lie in the future)."""
        return self.deletion_ns != 0 and self.deletion_ns <= now_ns

    def readable(self, now_ns: int) -> bool:
        return not self.destroyed and not self.deleted(now_ns)


@dataclass(frozen=True, slots=True)
class KeyMetadata:
    """Everything about one secret except its data (Vault's KeyMetadata)."""

    path: str
    created_ns: int
    updated_ns: int
    versions: Mapping[int, VersionInfo] = field(default_factory=dict)
    current_version: int = 0
    oldest_version: int = 0
    max_versions: int = 0
    cas_required: bool = False
    delete_version_after: int = 0
    custom_metadata: Mapping[str, str] | None = None
    schema: int = SCHEMA


@dataclass(frozen=True, slots=True)
class VersionData:
    """The data of one version, stored apart from the metadata."""

    data: Mapping[str, Any]
    created_ns: int
    schema: int = SCHEMA


@dataclass(frozen=True, slots=True)
class UpgradeState:
    """Written once every v1 secret of the mount has been moved into v2 records."""

    done: bool
    finished_ns: int = 0
    schema: int = SCHEMA


def now_ns(clock: Clock) -> int:
    """The clock's time in ns, kept to microseconds so float noise never shows in timestamps."""
    return round(clock.time() * 1_000_000) * 1000


# -- storage keys -------------------------------------------------------------------------


def metadata_key(path: str) -> str:
    return METADATA_PREFIX + path


def versions_folder(path: str) -> str:
    return VERSIONS_PREFIX + hashlib.sha256(path.encode()).hexdigest() + "/"


def version_key(path: str, version: int) -> str:
    return versions_folder(path) + str(version)


# -- codec ---------------------------------------------------------------------------------


def encode_metadata(meta: KeyMetadata) -> bytes:
    return orjson.dumps({
        "schema": meta.schema,
        "path": meta.path,
        "created_ns": meta.created_ns,
        "updated_ns": meta.updated_ns,
        "versions": {str(n): _encode_info(v) for n, v in meta.versions.items()},
        "current_version": meta.current_version,
        "oldest_version": meta.oldest_version,
        "max_versions": meta.max_versions,
        "cas_required": meta.cas_required,
        "delete_version_after": meta.delete_version_after,
        "custom_metadata": None if meta.custom_metadata is None else dict(meta.custom_metadata),
    })


def decode_metadata(raw: bytes) -> KeyMetadata:
    doc = _decode(raw, "metadata")
    try:
        versions = {int(n): VersionInfo(**v) for n, v in doc.pop("versions").items()}
        return KeyMetadata(versions=versions, **doc)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise CorruptRecord("kv: a metadata record is unreadable") from None


def _encode_info(info: VersionInfo) -> dict[str, Any]:
    return {"created_ns": info.created_ns, "deletion_ns": info.deletion_ns,
            "destroyed": info.destroyed}


def encode_version(version: VersionData) -> bytes:
    return orjson.dumps({"schema": version.schema, "data": dict(version.data),
                         "created_ns": version.created_ns})


def decode_version(raw: bytes) -> VersionData:
    return _record(VersionData, _decode(raw, "version"), "version")


def encode_config(config: KvConfig) -> bytes:
    return orjson.dumps({"schema": config.schema, "max_versions": config.max_versions,
                         "cas_required": config.cas_required,
                         "delete_version_after": config.delete_version_after})


def decode_config(raw: bytes) -> KvConfig:
    return _record(KvConfig, _decode(raw, "config"), "config")


def encode_upgrade(state: UpgradeState) -> bytes:
    return orjson.dumps({"schema": state.schema, "done": state.done,
                         "finished_ns": state.finished_ns})


def decode_upgrade(raw: bytes) -> UpgradeState:
    return _record(UpgradeState, _decode(raw, "upgrade"), "upgrade")


def _decode(raw: bytes, kind: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise CorruptRecord(f"kv: a {kind} record is unreadable")
    return doc


def _record(cls: type[Record], doc: dict[str, Any], kind: str) -> Record:
    try:
        return cls(**doc)
    except TypeError:
        raise CorruptRecord(f"kv: a {kind} record is unreadable") from None


# -- reading and the batch operations that write ------------------------------------------


async def load_metadata(storage: Storage, path: str) -> KeyMetadata | None:
    raw = await storage.get(metadata_key(path))
    return None if raw is None else decode_metadata(raw)


async def load_version(storage: Storage, path: str, version: int) -> VersionData | None:
    raw = await storage.get(version_key(path, version))
    return None if raw is None else decode_version(raw)


async def load_config(storage: Storage) -> KvConfig:
    raw = await storage.get(CONFIG_KEY)
    return KvConfig() if raw is None else decode_config(raw)


async def save_config(storage: Storage, config: KvConfig) -> None:
    await storage.put(CONFIG_KEY, encode_config(config))


async def change_secret(
    storage: Storage, path: str,
    decide: Callable[[KeyMetadata | None], Awaitable[tuple[Sequence[BatchOp], Result]]],
) -> Result:
    """Read the secret's metadata, let ``decide`` return ``(ops, result)``, commit the ops
    if the metadata is unchanged, else decide again from the new metadata."""

    async def from_raw(raw: bytes | None) -> tuple[Sequence[BatchOp], Result]:
        return await decide(None if raw is None else decode_metadata(raw))

    return await atomic_update(storage, metadata_key(path), from_raw)


def put_metadata(meta: KeyMetadata) -> Put:
    return Put(metadata_key(meta.path), encode_metadata(meta))


def put_version(path: str, version: int, data: VersionData) -> Put:
    return Put(version_key(path, version), encode_version(data))


def delete_version(path: str, version: int) -> Delete:
    return Delete(version_key(path, version))


async def delete_secret_ops(storage: Storage, path: str) -> list[Delete]:
    """Deletes of a secret's metadata and of every version key still stored for it."""
    folder = versions_folder(path)
    stored = [name for name in await storage.list(folder) if not name.endswith("/")]
    return [Delete(metadata_key(path)), *(Delete(folder + name) for name in stored)]
