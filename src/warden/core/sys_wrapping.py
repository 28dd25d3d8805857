"""sys/wrapping/*: wrap data, unwrap, look up and rewrap wrapped responses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.core.core import Core

R, U, D, L = Operation.READ, Operation.UPDATE, Operation.DELETE, Operation.LIST


class WrappingPaths:
    def __init__(self, core: Core) -> None:
        self.core = core

    def paths(self) -> list[Path]:
        token = {"token": Field(FieldType.STRING, "The wrapping token (default: the request's).")}
        return [
            Path("wrapping/wrap", operations={U: self.wrap},
                 help_synopsis="Wrap the request's data (default TTL 5m)."),
            Path("wrapping/unwrap", fields=token, operations={U: self.unwrap},
                 help_synopsis="Reveal a wrapped response; the wrapping token is then spent."),
            Path("wrapping/lookup", fields=token, operations={U: self.wrap_lookup,
                                                              R: self.wrap_lookup},
                 help_synopsis="Look up a wrapping token without spending it."),
            Path("wrapping/rewrap", fields=token, operations={U: self.rewrap},
                 help_synopsis="Move a wrapped response behind a new wrapping token."),
        ]

    @staticmethod
    def _wrapping_token(req: Request, data: FieldData) -> str:
        return data.get("token") or req.client_token

    async def wrap(self, req: Request, data: FieldData) -> Response:
        # Vault wraps whatever was sent, the empty object included (hvac's sys.wrap() sends {}).
        # Without X-Vault-Wrap-TTL Vault refuses; warden wraps for 5 minutes, as Vault's CLI
        # asks for by default.
        return Response(data=dict(req.data), wrap_ttl=300)

    async def unwrap(self, req: Request, data: FieldData) -> Response:
        return await self.core.wrapper.unwrap(self._wrapping_token(req, data))

    async def wrap_lookup(self, req: Request, data: FieldData) -> Response:
        return Response(data=await self.core.wrapper.lookup(self._wrapping_token(req, data)))

    async def rewrap(self, req: Request, data: FieldData) -> Response:
        return await self.core.wrapper.rewrap(self._wrapping_token(req, data))
