"""``subkeys/<path>``: the key structure of a version, without any of its values."""

from __future__ import annotations

from typing import TYPE_CHECKING

from warden.engines.kv.common import non_negative, secret_path_regex, storage_of
from warden.engines.kv.v2.path_data import read_version
from warden.engines.kv.v2.shapes import subkeys
from warden.engines.kv.v2.views import not_found_with
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.engines.kv.v2.backend import KvV2Backend

SUBKEYS_FIELDS: dict[str, Field] = {
    "path": Field(FieldType.STRING, "Location of the secret."),
    "version": Field(FieldType.INT, "The version to describe; 0 or unset is the latest."),
    "depth": Field(FieldType.INT, "The deepest nesting level to show; keys at this level are "
                   "null even if they hold objects. 0 means no limit."),
}


def paths(b: KvV2Backend) -> list[Path]:
    h = SubkeysHandlers(b)
    return [
        Path("subkeys/" + secret_path_regex("path"), fields=SUBKEYS_FIELDS,
             operations={Operation.READ: h.read},
             help_synopsis="Read the keys of a secret version, with every value replaced by null."),
    ]


class SubkeysHandlers:
    def __init__(self, b: KvV2Backend) -> None:
        self.b = b

    async def read(self, req: Request, data: FieldData) -> Response | None:
        path, wanted, depth = data.get("path"), non_negative(data, "version"), non_negative(data, "depth")
        storage = storage_of(req)
        async with self.b.locks.for_path(path):
            result = await read_version(storage, path, wanted, self.b.now_ns())
        if result is None:
            return None
        found, secret = result
        if secret is None:
            return not_found_with(req, {"subkeys": None, "metadata": found.metadata})
        return Response(data={"subkeys": subkeys(secret, depth), "metadata": found.metadata})
