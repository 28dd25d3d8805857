"""``metadata/<path>``: a secret's settings and version history; LIST walks the folders."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from warden.engines.kv.common import folder_of, non_negative, storage_of
from warden.engines.kv.v2.store import (
    METADATA_PREFIX,
    KeyMetadata,
    change_secret,
    delete_secret_ops,
    load_config,
    load_metadata,
    put_metadata,
)
from warden.engines.kv.v2.versioning import new_metadata
from warden.engines.kv.v2.views import metadata_view
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.errors import InvalidRequest, NotFound
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import BatchOp

if TYPE_CHECKING:
    from warden.engines.kv.v2.backend import KvV2Backend

MAX_CUSTOM_KEYS = 64
MAX_CUSTOM_KEY_LENGTH = 128
MAX_CUSTOM_VALUE_LENGTH = 512
CUSTOM_PREFIX = "custom_metadata validation failed"
CAS_IGNORED = '"cas_required" set to false, but is mandated by backend config. This value will be ignored.'

METADATA_FIELDS: dict[str, Field] = {
    "path": Field(FieldType.STRING, "Location of the secret; on LIST, the folder to list."),
    "max_versions": Field(FieldType.INT, "Versions to keep for this key; 0 uses the mount's "
                          "setting. Older versions are removed on the next write."),
    "cas_required": Field(FieldType.BOOL, "Require the cas option on every write of this key. "
                          "When false, the mount's setting applies."),
    "delete_version_after": Field(FieldType.DURATION, 'Soft-delete every new version this long '
                                  'after it is written ("0s": never). The mount\'s setting wins '
                                  "when it is shorter."),
    "custom_metadata": Field(FieldType.MAP, "Up to 64 string key/value pairs describing the "
                             "secret; shown with every data read. On PATCH, null removes a key."),
}


def paths(b: KvV2Backend) -> list[Path]:
    h = MetadataHandlers(b)
    return [
        Path("metadata(?:/(?P<path>.*))?", fields=METADATA_FIELDS,
             operations={Operation.READ: h.read, Operation.LIST: h.list,
                         Operation.UPDATE: h.write, Operation.PATCH: h.patch,
                         Operation.DELETE: h.delete},
             existence_check=h.exists,
             help_synopsis=METADATA_HELP_SYN, help_description=METADATA_HELP_DESC),
    ]


def written_path(data: FieldData) -> str:
    path: str = data.get("path")
    if not path or path.endswith("/"):
        raise InvalidRequest('invalid "path": a secret\'s path must be non-empty and not end in "/"')
    return path


def _as_string(value: Any) -> str:
    """Vault's weak decoding of a custom_metadata value: numbers and booleans become strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise InvalidRequest(f"{CUSTOM_PREFIX}: values must be strings")


def custom_metadata_values(raw: dict[str, Any]) -> dict[str, str]:
    values = {key: _as_string(value) for key, value in raw.items()}
    check_custom_metadata(values)
    return values


def custom_metadata_changes(raw: dict[str, Any]) -> dict[str, str | None]:
    """A PATCH of custom_metadata: None marks a key to remove."""
    return {key: None if value is None else _as_string(value) for key, value in raw.items()}


def check_custom_metadata(values: dict[str, str]) -> None:
    """Vault's limits; messages name the key, never the value."""
    if len(values) > MAX_CUSTOM_KEYS:
        raise InvalidRequest(f"{CUSTOM_PREFIX}: payload must contain at most {MAX_CUSTOM_KEYS} "
                             f"keys, provided {len(values)}")
    for key, value in values.items():
        if not 0 < len(key) <= MAX_CUSTOM_KEY_LENGTH or not key.isprintable():
            raise InvalidRequest(f"{CUSTOM_PREFIX}: key {key[:MAX_CUSTOM_KEY_LENGTH]!r} must be "
                                 f"1 to {MAX_CUSTOM_KEY_LENGTH} printable characters")
        if not 0 < len(value) <= MAX_CUSTOM_VALUE_LENGTH or not value.isprintable():
            raise InvalidRequest(f"{CUSTOM_PREFIX}: the value for key {key!r} must be 1 to "
                                 f"{MAX_CUSTOM_VALUE_LENGTH} printable characters")


def supplied_settings(data: FieldData) -> dict[str, Any]:
    """The scalar settings the request gives, validated, under KeyMetadata's names."""
    settings: dict[str, Any] = {}
    if data.supplied("max_versions"):
        settings["max_versions"] = non_negative(data, "max_versions")
    for name in ("cas_required", "delete_version_after"):
        if data.supplied(name):
            settings[name] = data.get(name)
    return settings


def cas_warning(data: FieldData, config_requires_cas: bool) -> Response | None:
    if config_requires_cas and data.supplied("cas_required") and not data.get("cas_required"):
        return Response(warnings=[CAS_IGNORED])
    return None


class MetadataHandlers:
    def __init__(self, b: KvV2Backend) -> None:
        self.b = b

    async def exists(self, req: Request, data: FieldData) -> bool:
        return await load_metadata(storage_of(req), data.get("path")) is not None

    async def read(self, req: Request, data: FieldData) -> Response | None:
        meta = await load_metadata(storage_of(req), data.get("path"))
        return None if meta is None else Response(data=metadata_view(meta))

    async def list(self, req: Request, data: FieldData) -> Response | None:
        keys = await storage_of(req).list(METADATA_PREFIX + folder_of(data.get("path")))
        return Response.listing(keys) if keys else None

    async def write(self, req: Request, data: FieldData) -> Response | None:
        path, settings = written_path(data), supplied_settings(data)
        if data.supplied("custom_metadata"):
            settings["custom_metadata"] = custom_metadata_values(data.get("custom_metadata"))
        if not settings:
            return None
        storage = storage_of(req)
        config = await load_config(storage)
        now = self.b.now_ns()

        async def decide(meta: KeyMetadata | None) -> tuple[list[BatchOp], None]:
            return [put_metadata(replace(meta or new_metadata(path, now), **settings))], None

        async with self.b.locks.for_path(path):
            await change_secret(storage, path, decide)
        return cas_warning(data, config.cas_required)

    async def patch(self, req: Request, data: FieldData) -> Response | None:
        path, settings = written_path(data), supplied_settings(data)
        changes = custom_metadata_changes(data.get("custom_metadata"))
        storage = storage_of(req)
        config = await load_config(storage)

        async def decide(meta: KeyMetadata | None) -> tuple[list[BatchOp], None]:
            if meta is None:
                raise NotFound("no metadata at this path: PATCH only changes existing metadata")
            changed = dict(settings)
            if changes:
                changed["custom_metadata"] = merged_custom(meta.custom_metadata, changes)
            return [put_metadata(replace(meta, **changed))], None

        async with self.b.locks.for_path(path):
            await change_secret(storage, path, decide)
        return cas_warning(data, config.cas_required)

    async def delete(self, req: Request, data: FieldData) -> None:
        path: str = data.get("path")
        storage = storage_of(req)

        async def decide(meta: KeyMetadata | None) -> tuple[list[BatchOp], None]:
            ops: list[BatchOp] = [] if meta is None else [*await delete_secret_ops(storage, path)]
            return ops, None

        async with self.b.locks.for_path(path):
            await change_secret(storage, path, decide)


def merged_custom(current: Mapping[str, str] | None, changes: dict[str, str | None]) -> dict[str, str]:
    merged = {**(current or {}), **changes}
    values = {k: v for k, v in merged.items() if v is not None}
    check_custom_metadata(values)
    return values


METADATA_HELP_SYN = "Read, write, patch or delete a secret's metadata; LIST the secrets in a folder."
METADATA_HELP_DESC = """\
GET returns the secret's settings and the created, deleted and destroyed state of
every version it keeps. A write (POST/PUT) sets max_versions, cas_required,
delete_version_after and custom_metadata without creating a version; PATCH changes
only what it names. DELETE permanently removes the metadata and every version.
LIST returns the keys below a folder; folders end in "/".
"""
