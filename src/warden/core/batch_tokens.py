"""Batch tokens: the token carries its own entry, sealed by the barrier; nothing is stored.

A batch token is ``wb.`` followed by the base64url of a detached barrier blob (AES-256-GCM
under a key derived from the barrier's keyring, see ``core.barrier``) holding the entry:
policies, path, metadata, creation and expiry, role, and for a token with a parent that
parent's hash and accessor. Only a server with this keyring can make or read one, so it
needs no storage write to create and no read to check, except one: a token with a parent is
valid only while its parent is (the token store checks that on every lookup). What a batch
token cannot do follows from having no entry: it has no accessor, cannot be renewed, revoked
or used to create tokens, and carries no use limit (as in Vault).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from warden.logical.tokens import TokenEntry

BATCH_PREFIX = "wb."
BATCH_TYPE = "batch"
_PURPOSE = b"batch-token/v1"
_FORMAT = 1
# Far more than any entry needs (policies, metadata); refused before any decoding work.
MAX_TOKEN_LENGTH = 16 * 1024


class DetachedSealer(Protocol):
    """What the codec needs of the barrier."""

    def seal_detached(self, purpose: bytes, value: bytes) -> bytes: ...

    async def open_detached(self, purpose: bytes, blob: bytes) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class BatchClaims:
    entry: TokenEntry
    parent_hash: str  # the parent's key in the token store; "" for an orphan


def is_batch(token: str) -> bool:
    return token.startswith(BATCH_PREFIX)


class BatchTokenCodec:
    def __init__(self, sealer: DetachedSealer) -> None:
        self._sealer = sealer

    def mint(self, entry: TokenEntry, parent_hash: str) -> str:
        body = orjson.dumps(_claims_json(entry, parent_hash))
        blob = self._sealer.seal_detached(_PURPOSE, body)
        return BATCH_PREFIX + base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii")

    async def open(self, token: str) -> BatchClaims | None:
        """The claims of a token this server made; None for anything else."""
        if not is_batch(token) or len(token) > MAX_TOKEN_LENGTH:
            return None
        text = token[len(BATCH_PREFIX):]
        try:
            blob = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return None
        plain = await self._sealer.open_detached(_PURPOSE, blob)
        if plain is None:
            return None
        return _claims_from_json(orjson.loads(plain))


def _claims_json(entry: TokenEntry, parent_hash: str) -> dict[str, Any]:
    return {
        "f": _FORMAT, "pol": list(entry.policies), "path": entry.path, "dn": entry.display_name,
        "meta": dict(entry.meta), "ct": entry.creation_time, "ttl": entry.ttl,
        "exp": entry.expire_time, "role": entry.role, "ent": entry.entity_id,
        "cidr": list(entry.bound_cidrs), "pa": entry.parent_accessor, "ph": parent_hash,
    }


def _claims_from_json(data: Mapping[str, Any]) -> BatchClaims | None:
    if data.get("f") != _FORMAT:
        return None
    parent_hash = str(data["ph"])
    entry = TokenEntry(
        accessor="", policies=tuple(data["pol"]), path=data["path"], display_name=data["dn"],
        meta=dict(data["meta"]), num_uses=0, creation_time=data["ct"], ttl=data["ttl"],
        expire_time=data["exp"], explicit_max_ttl=0, period=0, renewable=False,
        orphan=not parent_hash, role=data["role"], token_type=BATCH_TYPE,
        bound_cidrs=tuple(data["cidr"]), entity_id=data["ent"], issue_time=data["ct"],
        parent_accessor=data["pa"])
    return BatchClaims(entry=entry, parent_hash=parent_hash)
