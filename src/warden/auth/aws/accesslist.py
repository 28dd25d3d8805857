"""The identity access list: one entry per instance that logged in, holding its nonce.

An identity document is not secret (anything on the instance can read it), so a
second login from the same instance must prove it is the same client: it presents
the nonce of its first login. The nonce is stored only as an HMAC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from warden.logical.clock import to_rfc3339
from warden.logical.storage import Storage, get_json, put_json

ACCESSLIST_PREFIX = "accesslist/"
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class AccessListEntry:
    role: str
    creation_time: float
    pending_time: str
    expiration_time: float
    last_updated_time: float
    disallow_reauthentication: bool = False
    nonce_hmac: str = ""  # "" once reauthentication is disabled
    schema_version: int = SCHEMA_VERSION

    def view(self) -> dict[str, Any]:
        """A read's ``data``, in Vault's shape without the nonce itself (only its HMAC is kept)."""
        return {
            "role": self.role,
            "creation_time": to_rfc3339(self.creation_time),
            "pending_time": self.pending_time,
            "expiration_time": to_rfc3339(self.expiration_time),
            "last_updated_time": to_rfc3339(self.last_updated_time),
            "disallow_reauthentication": self.disallow_reauthentication,
        }

    def extended(self, now: float, ttl: int) -> AccessListEntry:
        return replace(self, last_updated_time=now, expiration_time=now + ttl)


async def load_entry(storage: Storage, instance_id: str) -> AccessListEntry | None:
    data = await get_json(storage, ACCESSLIST_PREFIX + instance_id)
    if data is None:
        return None
    data["schema_version"] = SCHEMA_VERSION
    return AccessListEntry(**{k: v for k, v in data.items()
                              if k in AccessListEntry.__dataclass_fields__})


async def save_entry(storage: Storage, instance_id: str, entry: AccessListEntry) -> None:
    await put_json(storage, ACCESSLIST_PREFIX + instance_id, asdict(entry))


async def list_instances(storage: Storage) -> list[str]:
    return sorted(k for k in await storage.list(ACCESSLIST_PREFIX) if not k.endswith("/"))


async def tidy(storage: Storage, now: float, safety_buffer: int) -> int:
    """Remove entries expired more than ``safety_buffer`` seconds ago; returns how many."""
    removed = 0
    for instance_id in await list_instances(storage):
        entry = await load_entry(storage, instance_id)
        if entry is not None and now > entry.expiration_time + safety_buffer:
            await storage.delete(ACCESSLIST_PREFIX + instance_id)
            removed += 1
    return removed
