"""``data/<path>``: read, write, patch and soft-delete the versions of a secret."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from warden.engines.kv.common import non_negative, secret_path_regex, storage_of
from warden.engines.kv.v2.shapes import merge_patch
from warden.engines.kv.v2.store import (
    CorruptRecord,
    KeyMetadata,
    KvConfig,
    VersionData,
    VersionInfo,
    change_secret,
    delete_version,
    load_config,
    load_metadata,
    load_version,
    put_metadata,
    put_version,
)
from warden.engines.kv.v2.versioning import (
    add_version,
    check_cas,
    deletion_deadline,
    new_metadata,
    soft_delete,
)
from warden.engines.kv.v2.views import not_found_with, version_metadata
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.errors import InvalidRequest, NotFound
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import BatchOp, Storage

if TYPE_CHECKING:
    from warden.engines.kv.v2.backend import KvV2Backend

PATH_FIELD = {"path": Field(FieldType.STRING, "Location of the secret.")}

DATA_FIELDS: dict[str, Field] = {
    **PATH_FIELD,
    "version": Field(FieldType.INT, "On read, the version to return; 0 or unset is the latest."),
    "options": Field(FieldType.MAP, 'Write options. "cas" makes the write a check-and-set: '
                     "0 writes only if the secret does not exist yet, n only if the current "
                     "version is n. Required when cas_required is set."),
    "data": Field(FieldType.MAP, "The secret's key/value pairs. A write stores them as a new "
                  "version; a PATCH merges them into the latest version (JSON merge patch)."),
}


def paths(b: KvV2Backend) -> list[Path]:
    h = DataHandlers(b)
    return [
        Path("data/" + secret_path_regex("path"), fields=DATA_FIELDS,
             operations={Operation.READ: h.read, Operation.UPDATE: h.write,
                         Operation.PATCH: h.patch, Operation.DELETE: h.delete_latest},
             existence_check=h.exists,
             help_synopsis=DATA_HELP_SYN, help_description=DATA_HELP_DESC),
    ]


@dataclass(frozen=True, slots=True)
class Located:
    """A version found through the metadata, with what the 404 of an unreadable one shows."""

    meta: KeyMetadata
    number: int
    info: VersionInfo

    @property
    def metadata(self) -> dict[str, Any]:
        return version_metadata(self.meta, self.number, self.info)


async def locate_version(storage: Storage, path: str, wanted: int) -> Located | None:
    """Version ``wanted`` (0: the current one) of a secret, if the metadata knows it."""
    meta = await load_metadata(storage, path)
    if meta is None:
        return None
    number = wanted or meta.current_version
    info = meta.versions.get(number)
    return None if info is None else Located(meta, number, info)


READ_ATTEMPTS = 8


async def read_version(
    storage: Storage, path: str, wanted: int, now: int
) -> tuple[Located, Mapping[str, Any] | None] | None:
    """A version and its data (None when deleted or destroyed), or None if unknown.

    Metadata and data are two reads: if another process removed the version in
    between (max_versions, destroy, delete), the metadata is read again.
    """
    for _ in range(READ_ATTEMPTS):
        found = await locate_version(storage, path, wanted)
        if found is None:
            return None
        if not found.info.readable(now):
            return found, None
        stored = await load_version(storage, found.meta.path, found.number)
        if stored is not None:
            return found, stored.data
        if await load_metadata(storage, path) == found.meta:
            break  # nothing changed: the data really is missing
    raise CorruptRecord("kv: the data of a live version is missing")


async def version_data(storage: Storage, found: Located) -> Mapping[str, Any]:
    stored = await load_version(storage, found.meta.path, found.number)
    if stored is None:
        raise CorruptRecord("kv: the data of a live version is missing")
    return stored.data


def new_version_ops(
    config: KvConfig, meta: KeyMetadata, secret: Mapping[str, Any], now: int
) -> tuple[list[BatchOp], KeyMetadata]:
    """The writes of a new current version, dropping versions beyond the limit."""
    updated, dropped = add_version(meta, now, deletion_deadline(now, config, meta), config)
    return [
        put_version(meta.path, updated.current_version, VersionData(dict(secret), now)),
        put_metadata(updated),
        *(delete_version(meta.path, n) for n in dropped),
    ], updated


def required_map(data: FieldData, name: str) -> dict[str, Any]:
    value, supplied = data.get_ok(name)
    if not supplied:
        raise InvalidRequest(f'no data provided: the "{name}" field is required')
    return dict(value)


def cas_option(data: FieldData) -> int | None:
    """``options.cas`` as a non-negative integer; None when not given."""
    options: dict[str, Any] = data.get("options")
    if "cas" not in options:
        return None
    cas = options["cas"]
    if isinstance(cas, str) and cas.strip().isdigit():
        return int(cas)
    if isinstance(cas, float) and cas.is_integer():
        cas = int(cas)
    if isinstance(cas, int) and not isinstance(cas, bool) and cas >= 0:
        return cas
    raise InvalidRequest('invalid "options": "cas" must be a non-negative integer')


class DataHandlers:
    def __init__(self, b: KvV2Backend) -> None:
        self.b = b

    async def exists(self, req: Request, data: FieldData) -> bool:
        return await load_metadata(storage_of(req), data.get("path")) is not None

    async def read(self, req: Request, data: FieldData) -> Response | None:
        path, wanted = data.get("path"), non_negative(data, "version")
        storage = storage_of(req)
        async with self.b.locks.for_path(path):
            result = await read_version(storage, path, wanted, self.b.now_ns())
        if result is None:
            return None
        found, secret = result
        if secret is None:
            return not_found_with(req, {"data": None, "metadata": found.metadata})
        return Response(data={"data": dict(secret), "metadata": found.metadata})

    async def write(self, req: Request, data: FieldData) -> Response:
        path, secret, cas = data.get("path"), required_map(data, "data"), cas_option(data)
        storage = storage_of(req)

        async def decide(meta: KeyMetadata | None) -> tuple[list[BatchOp], KeyMetadata]:
            config = await load_config(storage)
            now = self.b.now_ns()
            meta = meta or new_metadata(path, now)
            check_cas(cas, config, meta)
            return new_version_ops(config, meta, secret, now)

        async with self.b.locks.for_path(path):
            meta = await change_secret(storage, path, decide)
        return _written(meta)

    async def patch(self, req: Request, data: FieldData) -> Response:
        path, changes, cas = data.get("path"), required_map(data, "data"), cas_option(data)
        storage = storage_of(req)

        async def decide(meta: KeyMetadata | None) -> tuple[list[BatchOp], KeyMetadata | Response]:
            if meta is None or meta.versions.get(meta.current_version) is None:
                raise NotFound("no secret at this path: PATCH only changes an existing secret")
            found = Located(meta, meta.current_version, meta.versions[meta.current_version])
            config = await load_config(storage)
            check_cas(cas, config, meta)
            now = self.b.now_ns()
            if not found.info.readable(now):
                return [], not_found_with(req, found.metadata)
            merged = merge_patch(await version_data(storage, found), changes)
            return new_version_ops(config, meta, merged, now)

        async with self.b.locks.for_path(path):
            outcome = await change_secret(storage, path, decide)
        return outcome if isinstance(outcome, Response) else _written(outcome)

    async def delete_latest(self, req: Request, data: FieldData) -> None:
        path = data.get("path")
        storage = storage_of(req)
        now = self.b.now_ns()

        async def decide(meta: KeyMetadata | None) -> tuple[list[BatchOp], None]:
            if meta is None:
                return [], None
            updated = soft_delete(meta, [meta.current_version], now)
            return ([put_metadata(updated)] if updated != meta else []), None

        async with self.b.locks.for_path(path):
            await change_secret(storage, path, decide)


def _written(meta: KeyMetadata) -> Response:
    number = meta.current_version
    return Response(data=version_metadata(meta, number, meta.versions[number]))


DATA_HELP_SYN = "Write, patch, read and soft-delete the versions of a secret."
DATA_HELP_DESC = """\
A write (POST/PUT) stores "data" as a new version; with options.cas it only succeeds
if the current version matches. PATCH merges "data" into the latest version and
stores the result as a new version. GET returns the latest version, or the one named
by "version"; a deleted or destroyed version reads as 404. DELETE soft-deletes the
latest version (undelete/<path> restores it).
"""
