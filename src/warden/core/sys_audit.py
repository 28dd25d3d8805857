"""sys/audit, sys/audit/<path>, sys/audit-hash/<path>: audit devices."""

from __future__ import annotations

from typing import TYPE_CHECKING

from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.core.core import Core

R, U, D, L = Operation.READ, Operation.UPDATE, Operation.DELETE, Operation.LIST


class AuditPaths:
    def __init__(self, core: Core) -> None:
        self.core = core

    def paths(self) -> list[Path]:
        fields = {
            "path": Field(FieldType.STRING, "Where the device is enabled (its name)."),
            "type": Field(FieldType.STRING, "file or socket."),
            "description": Field(FieldType.STRING, "A human-friendly description."),
            "options": Field(FieldType.KV_PAIRS, "Device options: file_path, mode, log_raw, "
                             "hmac_accessor, format, prefix, elide_list_responses; address."),
            "local": Field(FieldType.BOOL, "Accepted for compatibility."),
        }
        return [
            Path("audit/?", operations={R: self.list_audit},
                 help_synopsis="List the enabled audit devices (sudo)."),
            Path(r"audit/(?P<path>.+)", fields=fields,
                 operations={U: self.enable_audit, D: self.disable_audit},
                 help_synopsis="Enable or disable an audit device (sudo)."),
            Path(r"audit-hash/(?P<path>.+)",
                 fields={"path": fields["path"],
                         "input": Field(FieldType.STRING, "The value to hash.")},
                 operations={U: self.audit_hash},
                 help_synopsis="Hash a value as the audit log does, to search the log for it."),
        ]

    async def list_audit(self, req: Request, data: FieldData) -> Response:
        from warden.core.audit import device_view

        return Response(data={p: device_view(e) for p, e in self.core.audit.entries.items()},
                        top_level=True)

    async def enable_audit(self, req: Request, data: FieldData) -> None:
        from warden.core.audit import AuditDeviceEntry

        if not data.get("type"):
            raise InvalidRequest('missing required field "type"')
        await self.core.audit.enable(AuditDeviceEntry(
            path=data.get("path"), type=data.get("type"), description=data.get("description"),
            options=data.get("options"), local=data.get("local")))

    async def disable_audit(self, req: Request, data: FieldData) -> None:
        await self.core.audit.disable(data.get("path"))

    async def audit_hash(self, req: Request, data: FieldData) -> Response:
        if not data.supplied("input"):
            raise InvalidRequest('missing required field "input"')
        return Response(data={"hash": self.core.audit.hash(data.get("path"), data.get("input"))})
