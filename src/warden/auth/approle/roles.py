"""AppRole roles and the role-id index, as stored in the mount's view.

Layout: ``role/<name>`` (the RoleEntry), ``role_id/<hmac(role_id)>`` (-> role name).
The index is keyed by an HMAC so a login finds its role by lookup, never by
comparing the presented role id against stored ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from warden.auth.mountkey import MountKey
from warden.auth.tokenutil import TokenParams, role_from_json, role_to_json
from warden.logical.request import Request
from warden.logical.storage import Delete, Put, Storage, encode_json, get_json

ROLE_PREFIX = "role/"
ROLE_ID_PREFIX = "role_id/"
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class RoleEntry:
    name: str
    role_id: str
    bind_secret_id: bool = True
    secret_id_bound_cidrs: tuple[str, ...] = ()
    secret_id_num_uses: int = 0
    secret_id_ttl: int = 0
    token: TokenParams = field(default_factory=TokenParams)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return role_to_json(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoleEntry:
        return role_from_json(
            cls, data, schema_version=SCHEMA_VERSION,
            tuples=("secret_id_bound_cidrs",))


async def load_role(storage: Storage, name: str) -> RoleEntry | None:
    data = await get_json(storage, ROLE_PREFIX + name.lower())
    return None if data is None else RoleEntry.from_json(data)


async def list_roles(storage: Storage) -> list[str]:
    return sorted(k for k in await storage.list(ROLE_PREFIX) if not k.endswith("/"))


async def role_name_for_id(storage: Storage, key: MountKey, role_id: str) -> str | None:
    data = await get_json(storage, ROLE_ID_PREFIX + key.digest("role_id", role_id))
    return None if data is None else str(data["name"])


async def save_role(storage: Storage, key: MountKey, role: RoleEntry,
                    previous: RoleEntry | None) -> None:
    """Write the role and move its role-id index entry in one atomic batch."""
    ops: list[Put | Delete] = [Put(ROLE_PREFIX + role.name, encode_json(role.to_json()))]
    if previous is not None and previous.role_id != role.role_id:
        ops.append(Delete(ROLE_ID_PREFIX + key.digest("role_id", previous.role_id)))
    ops.append(Put(ROLE_ID_PREFIX + key.digest("role_id", role.role_id),
                   encode_json({"name": role.name})))
    await storage.batch(ops)


async def delete_role(storage: Storage, key: MountKey, role: RoleEntry) -> None:
    await storage.batch([
        Delete(ROLE_PREFIX + role.name),
        Delete(ROLE_ID_PREFIX + key.digest("role_id", role.role_id)),
    ])


def storage_of(req: Request) -> Storage:
    if req.storage is None:
        raise RuntimeError("request reached the approle backend without its mount storage")
    return req.storage
