"""sys/leases/* (and the older sys/renew, sys/revoke, sys/revoke-prefix): leases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.core.core import Core

R, U, D, L = Operation.READ, Operation.UPDATE, Operation.DELETE, Operation.LIST


class LeasePaths:
    def __init__(self, core: Core) -> None:
        self.core = core

    def paths(self) -> list[Path]:
        lease = {"lease_id": Field(FieldType.STRING, "The lease's id."),
                 "url_lease_id": Field(FieldType.STRING, "The lease's id, from the URL."),
                 "increment": Field(FieldType.DURATION, "Requested extension of the lease.")}
        prefix = {"prefix": Field(FieldType.STRING, "A path prefix of leases.")}
        return [
            Path("leases/lookup", fields=lease, operations={U: self.lease_lookup},
                 help_synopsis="Look up a lease."),
            Path(r"leases/lookup/(?P<prefix>.*)", fields=prefix, operations={L: self.lease_list},
                 help_synopsis="List leases under a prefix (sudo)."),
            *[Path(p + r"(?:/(?P<url_lease_id>.+))?", fields=lease,
                   operations={U: self.lease_renew}, help_synopsis="Renew a lease.")
              for p in ("leases/renew", "renew")],
            *[Path(p + r"(?:/(?P<url_lease_id>.+))?", fields=lease,
                   operations={U: self.lease_revoke}, help_synopsis="Revoke a lease.")
              for p in ("leases/revoke", "revoke")],
            *[Path(p + r"/(?P<prefix>.+)", fields=prefix, operations={U: self.lease_revoke_prefix},
                   help_synopsis="Revoke every lease under a prefix (sudo).")
              for p in ("leases/revoke-prefix", "revoke-prefix")],
            *[Path(p + r"/(?P<prefix>.+)", fields=prefix, operations={U: self.lease_revoke_force},
                   help_synopsis="Revoke every lease under a prefix, ignoring backend errors "
                                 "(sudo).",
                   help_description=_FORCE_HELP)
              for p in ("leases/revoke-force", "revoke-force")],
        ]

    @staticmethod
    def _lease_id(data: FieldData) -> str:
        lease_id = data.get("lease_id") or data.get("url_lease_id")
        if not lease_id:
            raise InvalidRequest('missing required field "lease_id"')
        return str(lease_id)

    def _lease_view(self, lease: Any) -> dict[str, Any]:
        from warden.logical.clock import to_rfc3339

        now = self.core.clock.time()
        return {
            "id": lease.lease_id,
            "issue_time": to_rfc3339(lease.issue_time),
            "expire_time": to_rfc3339(lease.expire_time),
            "last_renewal": to_rfc3339(lease.last_renewal_time) if lease.last_renewal_time else None,
            "renewable": lease.renewable,
            "ttl": max(0, int(lease.expire_time - now)),
        }

    async def lease_lookup(self, req: Request, data: FieldData) -> Response:
        return Response(data=self._lease_view(await self.core.leases.lookup(self._lease_id(data))))

    async def lease_list(self, req: Request, data: FieldData) -> Response:
        prefix = data.get("prefix").strip("/")
        ids = await self.core.leases.list_prefix(prefix)
        base = prefix + "/" if prefix else ""
        names = sorted({i[len(base):].split("/", 1)[0] + ("/" if "/" in i[len(base):] else "")
                        for i in ids})
        return Response.listing(names)

    async def lease_renew(self, req: Request, data: FieldData) -> Response:
        lease = await self.core.leases.renew(self._lease_id(data), data.get("increment"))
        return Response(secret=lease.secret(self.core.clock.time()))

    async def lease_revoke(self, req: Request, data: FieldData) -> None:
        await self.core.leases.revoke(self._lease_id(data))

    async def lease_revoke_prefix(self, req: Request, data: FieldData) -> None:
        await self._revoke_under(data.get("prefix"), force=False)

    async def lease_revoke_force(self, req: Request, data: FieldData) -> None:
        await self._revoke_under(data.get("prefix"), force=True)

    async def _revoke_under(self, prefix: str, *, force: bool) -> None:
        # Vault: leases, and tokens (by their creation path), generated under the prefix.
        prefix = prefix.strip("/")
        await self.core.leases.revoke_prefix(prefix, force=force)
        if prefix.startswith("auth/"):
            await self.core.tokens.revoke_by_path_prefix(prefix)


_FORCE_HELP = """
Like revoke-prefix, but a backend's failure to revoke a lease does not stop the sweep: the
lease is removed from warden anyway. Use it only when the secrets behind the leases are known
to be gone (or will be cleaned up by hand), e.g. after the system they lived in was destroyed.
"""
