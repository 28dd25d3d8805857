"""The token backend: one table of the token API, over the core's TokenStore."""

from __future__ import annotations

from typing import Any

from warden.auth.token import path_create, path_roles, path_tokens
from warden.framework import Backend
from warden.logical.backend import BackendConfig, BackendType, SpecialPaths, SystemView
from warden.logical.clock import to_rfc3339
from warden.logical.errors import PermissionDenied
from warden.logical.request import Request
from warden.logical.tokens import TokenEntry, TokenStore


class TokenBackend:
    def __init__(self, conf: BackendConfig) -> None:
        store = conf.system.token_store
        if store is None:
            raise RuntimeError("the token backend needs the core's token store")
        self.store: TokenStore = store
        self.system: SystemView = conf.system
        self.backend = Backend(
            paths=[*path_create.paths(self), *path_tokens.paths(self), *path_roles.paths(self)],
            backend_type=BackendType.CREDENTIAL,
            special_paths=SpecialPaths(root=("revoke-orphan", "accessors", "accessors/")),
            help="Tokens: the core authentication method. Create, look up, renew, revoke.",
        )

    async def caller_entry(self, req: Request) -> TokenEntry:
        if req.accessor:
            entry = await self.store.lookup_accessor(req.accessor)
        else:  # a batch token has no accessor: it is its own entry
            entry = await self.store.lookup(req.client_token) if req.client_token else None
        if entry is None:
            raise PermissionDenied()
        return entry


def factory(conf: BackendConfig) -> Backend:
    return TokenBackend(conf).backend


def entry_data(entry: TokenEntry, now: float) -> dict[str, Any]:
    """A token lookup's ``data``, in Vault's shape (never the token value itself)."""
    return {
        "accessor": entry.accessor,
        "creation_time": int(entry.creation_time),
        "creation_ttl": entry.ttl,
        "display_name": entry.display_name,
        "entity_id": entry.entity_id,
        "expire_time": to_rfc3339(entry.expire_time) if entry.expire_time else None,
        "explicit_max_ttl": entry.explicit_max_ttl,
        "issue_time": to_rfc3339(entry.issue_time),
        "last_renewal_time": int(entry.last_renewal_time) if entry.last_renewal_time else None,
        "meta": dict(entry.meta) or None,
        "num_uses": max(entry.num_uses, 0),
        "orphan": entry.orphan,
        "path": entry.path,
        "period": entry.period or None,
        "policies": list(entry.policies),
        "renewable": entry.renewable,
        "role": entry.role or None,
        "ttl": entry.remaining_ttl(now),
        "type": entry.token_type,
        "bound_cidrs": list(entry.bound_cidrs) or None,
    }
