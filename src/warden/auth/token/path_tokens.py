"""Looking tokens up, renewing and revoking them, by value, by accessor or as oneself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from warden.auth.token.path_create import auth_block
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.errors import InvalidRequest, PermissionDenied
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.tokens import TokenEntry

if TYPE_CHECKING:
    from warden.auth.token.backend import TokenBackend

R, U, L = Operation.READ, Operation.UPDATE, Operation.LIST

_TOKEN = {"token": Field(FieldType.STRING, "The token.")}
_ACCESSOR = {"accessor": Field(FieldType.STRING, "The token's accessor.")}
_INCREMENT = {"increment": Field(FieldType.DURATION, "Requested extension of the TTL.")}


def paths(b: TokenBackend) -> list[Path]:
    h = TokenHandlers(b)
    return [
        Path("lookup-self", operations={R: h.lookup_self, U: h.lookup_self},
             help_synopsis="Look up the calling token."),
        Path("lookup-accessor", fields=_ACCESSOR, operations={U: h.lookup_accessor},
             help_synopsis="Look up a token by its accessor (the id is not shown)."),
        Path("lookup", fields=_TOKEN, operations={R: h.lookup, U: h.lookup},
             help_synopsis="Look up a token."),
        Path("renew-self", fields=_INCREMENT, operations={U: h.renew_self},
             help_synopsis="Renew the calling token."),
        Path("renew-accessor", fields={**_ACCESSOR, **_INCREMENT},
             operations={U: h.renew_accessor}, help_synopsis="Renew a token by accessor."),
        Path("renew", fields={**_TOKEN, **_INCREMENT}, operations={U: h.renew},
             help_synopsis="Renew a token."),
        Path("revoke-self", operations={U: h.revoke_self},
             help_synopsis="Revoke the calling token and its children."),
        Path("revoke-accessor", fields=_ACCESSOR, operations={U: h.revoke_accessor},
             help_synopsis="Revoke a token and its children by accessor."),
        Path("revoke-orphan", fields=_TOKEN, operations={U: h.revoke_orphan},
             help_synopsis="Revoke a token but not its children, which become orphans."),
        Path("revoke", fields=_TOKEN, operations={U: h.revoke},
             help_synopsis="Revoke a token and its children."),
        Path("accessors/?", operations={L: h.list_accessors},
             help_synopsis="List the accessors of all tokens (sudo)."),
        Path("tidy", operations={U: h.tidy},
             help_synopsis="Remove expired tokens and dangling index entries."),
    ]


class TokenHandlers:
    def __init__(self, b: TokenBackend) -> None:
        self.b = b

    def _now(self) -> float:
        return self.b.system.clock.time()

    @staticmethod
    def _token(data: FieldData) -> str:
        token = data.get("token")
        if not token:
            raise InvalidRequest("missing token ID")
        return str(token)

    async def _by_token(self, data: FieldData, *, unknown: str = "token not found") -> TokenEntry:
        entry = await self.b.store.lookup(self._token(data))
        if entry is None:
            raise InvalidRequest(unknown)
        return entry

    async def _by_accessor(self, data: FieldData) -> TokenEntry | None:
        accessor = data.get("accessor")
        if not accessor:
            raise InvalidRequest("missing accessor")
        return await self.b.store.lookup_accessor(accessor)

    async def _known_accessor(self, data: FieldData) -> TokenEntry:
        entry = await self._by_accessor(data)
        if entry is None:
            raise InvalidRequest("invalid accessor")
        return entry

    def _lookup_response(self, entry: TokenEntry, token: str) -> Response:
        from warden.auth.token.backend import entry_data

        data = entry_data(entry, self._now())
        data["id"] = token
        return Response(data=data)

    async def lookup_self(self, req: Request, data: FieldData) -> Response:
        return self._lookup_response(await self.b.caller_entry(req), req.client_token)

    async def lookup(self, req: Request, data: FieldData) -> Response:
        # Vault: no token given looks up the calling one; an unknown, expired or revoked
        # token is a 403 "bad token" (hvac raises Forbidden), not a bad request.
        token = data.get("token") or req.client_token
        if not token:
            raise InvalidRequest("missing token ID")
        entry = await self.b.store.lookup(token)
        if entry is None:
            raise PermissionDenied("bad token")
        return self._lookup_response(entry, token)

    async def lookup_accessor(self, req: Request, data: FieldData) -> Response:
        return self._lookup_response(await self._known_accessor(data), "")

    async def _renew(self, entry: TokenEntry, data: FieldData, token: str) -> Response:
        if entry.token_type == BATCH:
            raise InvalidRequest("batch tokens cannot be renewed")
        renewed = await self.b.store.renew(entry.accessor, data.get("increment"))
        return Response(auth=auth_block(token, renewed, self._now()))

    async def renew_self(self, req: Request, data: FieldData) -> Response:
        return await self._renew(await self.b.caller_entry(req), data, req.client_token)

    async def renew(self, req: Request, data: FieldData) -> Response:
        return await self._renew(await self._by_token(data), data, data.get("token"))

    async def renew_accessor(self, req: Request, data: FieldData) -> Response:
        return await self._renew(await self._known_accessor(data), data, "")

    async def revoke_self(self, req: Request, data: FieldData) -> None:
        await self.b.store.revoke_tree(_revocable(await self.b.caller_entry(req)).accessor)

    async def revoke(self, req: Request, data: FieldData) -> None:
        # Vault: revoking a token that does not exist (any more) succeeds, with no answer.
        entry = await self.b.store.lookup(self._token(data))
        if entry is not None:
            await self.b.store.revoke_tree(_revocable(entry).accessor)

    async def revoke_accessor(self, req: Request, data: FieldData) -> Response | None:
        entry = await self._by_accessor(data)
        if entry is None:
            return Response(warnings=["No token found with this accessor"])  # Vault: 200
        await self.b.store.revoke_tree(entry.accessor)
        return None

    async def revoke_orphan(self, req: Request, data: FieldData) -> None:
        entry = await self._by_token(data, unknown="token to revoke not found")
        await self.b.store.revoke_orphan(_revocable(entry).accessor)

    async def list_accessors(self, req: Request, data: FieldData) -> Response:
        return Response.listing(await self.b.store.list_accessors())

    async def tidy(self, req: Request, data: FieldData) -> Response:
        removed = await self.b.store.tidy()
        return Response(data={"removed": removed})


BATCH = "batch"


def _revocable(entry: TokenEntry) -> TokenEntry:
    """Vault: a batch token has nothing stored to revoke; it ends with its TTL or parent."""
    if entry.token_type == BATCH:
        raise InvalidRequest("batch tokens cannot be revoked")
    return entry
