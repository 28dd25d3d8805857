"""sys/remount and sys/remount/status/<id>: moving a mount to another path.

Vault queues the move and reports it under a migration id; warden moves the mount before it
answers (hvac's own suite reads the mount table right after ``move_backend`` returns), and
keeps the same report, in storage, so every node and process can answer for it.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Storage, get_json, put_json

if TYPE_CHECKING:
    from warden.core.core import Core

R, U = Operation.READ, Operation.UPDATE
STATUS_PREFIX = "remount-status/"


class RemountPaths:
    def __init__(self, core: Core) -> None:
        self.core = core

    def paths(self) -> list[Path]:
        return [
            Path("remount", fields={
                "from": Field(FieldType.STRING, "The mount to move, e.g. secret or auth/approle."),
                "to": Field(FieldType.STRING, "Where to move it (auth/... for an auth method)."),
            }, operations={U: self.remount},
                help_synopsis="Move a mount, with its data, to another path (sudo).",
                help_description=REMOUNT_HELP),
            Path(r"remount/status/(?P<migration_id>.+?)", fields={
                "migration_id": Field(FieldType.STRING, "The id sys/remount answered with."),
            }, operations={R: self.status},
                help_synopsis="How a move started by sys/remount went."),
        ]

    async def remount(self, req: Request, data: FieldData) -> Response:
        source, target = data.get("from"), data.get("to")
        if not source.strip() or not target.strip():
            raise InvalidRequest("both 'from' and 'to' path must be specified as a string")
        for name, value in (("from", source), ("to", target)):
            if value != value.strip():
                raise InvalidRequest(f"'{name}' path cannot contain trailing whitespace")
        moved_from, moved_to = await self.core.mounts.remount(source, target)
        migration_id = str(uuid.UUID(bytes=self.core.randbytes(16), version=4))
        await put_json(_storage(req), STATUS_PREFIX + migration_id, {
            "source_mount": moved_from, "target_mount": moved_to, "status": "success"})
        return Response(data={"migration_id": migration_id})

    async def status(self, req: Request, data: FieldData) -> Response | None:
        migration_id = data.get("migration_id")
        info = await get_json(_storage(req), STATUS_PREFIX + migration_id)
        if info is None:
            return None
        return Response(data={"migration_id": migration_id, "migration_info": info})


def _storage(req: Request) -> Storage:
    if req.storage is None:
        raise RuntimeError("request reached the system backend without its storage")
    return req.storage


REMOUNT_HELP = """
Moves a secrets engine or auth method (from and to both auth/... for an auth method) to a
new path. Its configuration, tuning, accessor and stored data move with it; leases issued
under the old path are revoked first (for an auth method, so are the tokens its logins
issued), as in Vault. The move is complete when the request returns; the migration_id it
answers with can be looked up at sys/remount/status/<id>.
"""
