"""The mount tables: which backend type lives at which path, with its tuning."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson

from warden.logical.errors import InvalidRequest
from warden.logical.storage import Storage

SECRETS_TABLE_KEY = "core/mounts"
AUTH_TABLE_KEY = "core/auth"

# An auth mount's token_type (Vault): forced service or batch, or the role's choice with a
# default. "default" and "" mean "default-service".
MOUNT_TOKEN_TYPES = ("default-service", "default-batch", "service", "batch")


def login_token_type(mount_setting: str, requested: str) -> str:
    """The type of a login's token: the mount's forced type, or the role's (Vault's router)."""
    if mount_setting in ("service", "batch"):
        return mount_setting
    if mount_setting == "default-batch":
        return "service" if requested == "service" else "batch"
    return "batch" if requested == "batch" else "service"


def check_mount_token_type(value: str, *, table: str, mount_type: str) -> str:
    value = "default-service" if value in ("", "default") else value
    if value not in MOUNT_TOKEN_TYPES:
        raise InvalidRequest(f"invalid value for 'token_type': {value!r}; use one of "
                             + ", ".join(MOUNT_TOKEN_TYPES))
    if table != "auth":
        raise InvalidRequest("'token_type' can only be modified on auth mounts")
    if mount_type == "token":
        raise InvalidRequest("'token_type' cannot be set for 'token' auth mounts")
    return value


# Paths a secrets engine may never be mounted at or under.
PROTECTED_PREFIXES = ("sys/", "auth/", "cubbyhole/", "identity/")


@dataclass(frozen=True, slots=True)
class MountConfig:
    default_lease_ttl: int = 0
    max_lease_ttl: int = 0
    audit_non_hmac_request_keys: tuple[str, ...] = ()
    audit_non_hmac_response_keys: tuple[str, ...] = ()
    listing_visibility: str = ""
    passthrough_request_headers: tuple[str, ...] = ()
    # Auth mounts only (Vault): which tokens logins get. "" reads as "default-service".
    token_type: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MountConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("audit_non_hmac_request_keys", "audit_non_hmac_response_keys",
                    "passthrough_request_headers"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One mounted backend. ``path`` is relative to its table and ends in '/'."""

    path: str
    type: str
    uuid: str
    accessor: str
    table: str  # "secrets" or "auth"
    description: str = ""
    config: MountConfig = field(default_factory=MountConfig)
    options: Mapping[str, str] = field(default_factory=dict)
    local: bool = False
    seal_wrap: bool = False
    created: float = 0.0

    @property
    def route_prefix(self) -> str:
        """Where the router finds it: ``auth/approle/`` for auth, the path otherwise."""
        return ("auth/" + self.path) if self.table == "auth" else self.path

    @property
    def storage_prefix(self) -> str:
        """Keyed by UUID so a remount moves no data and mounts cannot see each other."""
        if self.type == "system":
            return "sys/"
        return ("auth/" if self.table == "auth" else "logical/") + self.uuid + "/"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["config"] = self.config.to_json()
        data["options"] = dict(self.options)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MountEntry:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        values["config"] = MountConfig.from_json(data.get("config") or {})
        values["options"] = dict(data.get("options") or {})
        return cls(**values)

    def tuned(self, **changes: Any) -> MountEntry:
        return replace(self, config=replace(self.config, **changes))


class MountTable:
    """A persisted, ordered set of mount entries (one for secrets, one for auth)."""

    def __init__(self, storage: Storage, key: str, table: str) -> None:
        self._storage = storage
        self._key = key
        self.table = table
        self._entries: dict[str, MountEntry] = {}

    @property
    def entries(self) -> dict[str, MountEntry]:
        return dict(self._entries)

    async def load(self) -> bool:
        """Load the table; False if it has never been written."""
        raw = await self._storage.get(self._key)
        if raw is None:
            return False
        self._entries = {
            e["path"]: MountEntry.from_json(e) for e in orjson.loads(raw)["entries"]
        }
        return True

    async def save(self, entries: Mapping[str, MountEntry]) -> None:
        payload = {"entries": [e.to_json() for e in entries.values()]}
        await self._storage.put(self._key, orjson.dumps(payload))
        self._entries = dict(entries)

    def get(self, path: str) -> MountEntry | None:
        return self._entries.get(path)
