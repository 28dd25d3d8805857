"""Response wrapping: a response stored behind a single-use token, revealed once.

The wrapped response lives under the wrapping token's accessor in the core's
storage and disappears with the token (used, expired or revoked).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson

from warden.core.policy_store import RESPONSE_WRAPPING
from warden.core.tokens import CoreTokenStore
from warden.logical.clock import Clock, to_rfc3339
from warden.logical.errors import InvalidRequest
from warden.logical.response import Auth, Response, Secret, WrapInfo
from warden.logical.storage import Storage
from warden.logical.tokens import TokenEntry, TokenSpec

INVALID = "wrapping token is not valid or does not exist"


def response_to_json(resp: Response) -> dict[str, Any]:
    return {
        "data": resp.data,
        "auth": asdict(resp.auth) if resp.auth else None,
        "secret": asdict(resp.secret) if resp.secret else None,
        "warnings": resp.warnings,
        "mount_type": resp.mount_type,
    }


def response_from_json(data: dict[str, Any]) -> Response:
    return Response(
        data=data.get("data"),
        auth=Auth(**data["auth"]) if data.get("auth") else None,
        secret=Secret(**data["secret"]) if data.get("secret") else None,
        warnings=list(data.get("warnings") or []),
        mount_type=data.get("mount_type", ""),
    )


class Wrapper:
    def __init__(self, tokens: CoreTokenStore, storage: Storage, clock: Clock) -> None:
        self._tokens = tokens
        self._storage = storage
        self._clock = clock
        tokens.on_revoke(self._forget)

    async def _forget(self, entry: TokenEntry) -> None:
        if entry.wrapping:
            await self._storage.delete(entry.accessor)

    async def wrap(self, resp: Response, *, ttl: int, path: str) -> Response:
        spec = TokenSpec(
            policies=(RESPONSE_WRAPPING,), path=path, display_name="response-wrapping",
            ttl=ttl, explicit_max_ttl=ttl, num_uses=1, renewable=False, orphan=True,
            wrapping=True,
        )
        token, entry = await self._tokens.create(spec, parent=None)
        await self._storage.put(entry.accessor, orjson.dumps(response_to_json(resp)))
        info = WrapInfo(
            token=token, accessor=entry.accessor, ttl=ttl,
            creation_time=to_rfc3339(entry.creation_time), creation_path=path,
            wrapped_accessor=resp.auth.accessor if resp.auth else "",
        )
        return Response(wrap_info=info)

    async def _entry(self, token: str) -> TokenEntry:
        entry = await self._tokens.lookup(token) if token else None
        if entry is None or not entry.wrapping or entry.num_uses < 0:
            raise InvalidRequest(INVALID)
        return entry

    async def unwrap(self, token: str) -> Response:
        """Reveal a wrapped response; the token is spent even if reading fails."""
        entry = await self._entry(token)
        used, _ = await self._tokens.use(token)
        if used is None:
            raise InvalidRequest(INVALID)
        raw = await self._storage.get(entry.accessor)
        await self._tokens.revoke_token(token)
        if raw is None:
            raise InvalidRequest(INVALID)
        return response_from_json(orjson.loads(raw))

    async def lookup(self, token: str) -> dict[str, Any]:
        entry = await self._entry(token)
        return {
            "creation_ttl": entry.ttl,
            "creation_time": to_rfc3339(entry.creation_time),
            "creation_path": entry.path,
        }

    async def rewrap(self, token: str) -> Response:
        entry = await self._entry(token)
        inner = await self.unwrap(token)
        return await self.wrap(inner, ttl=entry.ttl, path=entry.path)
