"""``delete/``, ``undelete/`` and ``destroy/<path>``: change chosen versions of a secret."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from warden.engines.kv.common import secret_path_regex, storage_of
from warden.engines.kv.v2.store import (
    KeyMetadata,
    change_secret,
    delete_version,
    put_metadata,
)
from warden.engines.kv.v2.versioning import destroy, soft_delete, undelete
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.storage import BatchOp

if TYPE_CHECKING:
    from warden.engines.kv.v2.backend import KvV2Backend


def _fields(effect: str) -> dict[str, Field]:
    return {
        "path": Field(FieldType.STRING, "Location of the secret."),
        "versions": Field(FieldType.COMMA_INT_SLICE, f"The version numbers to {effect}."),
    }


def paths(b: KvV2Backend) -> list[Path]:
    h = VersionHandlers(b)
    return [
        Path("delete/" + secret_path_regex("path"),
             fields=_fields("soft-delete; their data is kept and can be undeleted"),
             operations={Operation.UPDATE: h.delete},
             help_synopsis="Soft-delete versions of a secret: reads of them answer 404."),
        Path("undelete/" + secret_path_regex("path"),
             fields=_fields("restore after a soft delete"),
             operations={Operation.UPDATE: h.undelete},
             help_synopsis="Undo the soft delete of versions of a secret."),
        Path("destroy/" + secret_path_regex("path"),
             fields=_fields("destroy; their data is removed for good"),
             operations={Operation.UPDATE: h.destroy},
             help_synopsis="Permanently remove the data of versions of a secret."),
    ]


def version_numbers(data: FieldData) -> list[int]:
    numbers: list[int] = data.get("versions")
    if not numbers:
        raise InvalidRequest('no version number provided: "versions" must list at least one')
    if any(n <= 0 for n in numbers):
        raise InvalidRequest('invalid "versions": version numbers are positive integers')
    return numbers


class VersionHandlers:
    def __init__(self, b: KvV2Backend) -> None:
        self.b = b

    async def delete(self, req: Request, data: FieldData) -> None:
        now = self.b.now_ns()
        await self._update(req, data, lambda meta, numbers: soft_delete(meta, numbers, now))

    async def undelete(self, req: Request, data: FieldData) -> None:
        await self._update(req, data, undelete)

    async def _update(
        self, req: Request, data: FieldData,
        change: Callable[[KeyMetadata, Sequence[int]], KeyMetadata],
    ) -> None:
        path, numbers = data.get("path"), version_numbers(data)
        storage = storage_of(req)

        async def decide(meta: KeyMetadata | None) -> tuple[list[BatchOp], None]:
            return ([] if meta is None else [put_metadata(change(meta, numbers))]), None

        async with self.b.locks.for_path(path):
            await change_secret(storage, path, decide)

    async def destroy(self, req: Request, data: FieldData) -> None:
        path, numbers = data.get("path"), version_numbers(data)
        storage = storage_of(req)

        async def decide(meta: KeyMetadata | None) -> tuple[list[BatchOp], None]:
            if meta is None:
                return [], None
            updated, destroyed = destroy(meta, numbers)
            return [put_metadata(updated), *(delete_version(path, n) for n in destroyed)], None

        async with self.b.locks.for_path(path):
            await change_secret(storage, path, decide)
