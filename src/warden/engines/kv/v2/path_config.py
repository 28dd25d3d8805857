"""``config``: mount-wide settings that apply to every secret of a kv v2 mount."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from warden.engines.kv.common import non_negative, storage_of
from warden.engines.kv.v2.store import load_config, save_config
from warden.engines.kv.v2.views import config_view
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.engines.kv.v2.backend import KvV2Backend

CONFIG_FIELDS: dict[str, Field] = {
    "max_versions": Field(FieldType.INT, "Versions to keep per key unless the key's metadata "
                          "says otherwise; 0 keeps 10."),
    "cas_required": Field(FieldType.BOOL, "Require the cas option on every write of every key."),
    "delete_version_after": Field(FieldType.DURATION, "Soft-delete every new version this long "
                                  'after it is written ("0s": never).'),
}


def paths(b: KvV2Backend) -> list[Path]:
    return [
        Path("config", fields=CONFIG_FIELDS,
             operations={Operation.READ: read_config, Operation.UPDATE: write_config},
             help_synopsis="Read or change the settings of the whole kv mount.",
             help_description=CONFIG_HELP_DESC),
    ]


async def read_config(req: Request, data: FieldData) -> Response:
    return Response(data=config_view(await load_config(storage_of(req))))


async def write_config(req: Request, data: FieldData) -> None:
    changes: dict[str, Any] = {}
    if data.supplied("max_versions"):
        changes["max_versions"] = non_negative(data, "max_versions")
    for name in ("cas_required", "delete_version_after"):
        if data.supplied(name):
            changes[name] = data.get(name)
    storage = storage_of(req)
    await save_config(storage, replace(await load_config(storage), **changes))


CONFIG_HELP_DESC = """\
max_versions, cas_required and delete_version_after apply to every key; a key's own
metadata may set a different max_versions, require cas, or shorten
delete_version_after. Only the settings a write names are changed.
"""
