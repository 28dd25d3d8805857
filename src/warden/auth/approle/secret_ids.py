"""Secret-ids and their accessors, stored only under HMACs of their values.

Layout: ``secret_id/<hmac(role)>/<hmac(secret_id)>`` (the SecretIdEntry) and
``accessor/<hmac(accessor)>`` (-> role name and the secret-id's HMAC). A secret-id
is found by computing its HMAC and reading that one key: no stored value is ever
compared with a presented one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson

from warden.auth.mountkey import MountKey
from warden.logical.clock import to_rfc3339
from warden.logical.storage import (
    BatchOp,
    Check,
    Delete,
    Put,
    Storage,
    atomic_update,
    encode_json,
    get_json,
)

SECRET_ID_PREFIX = "secret_id/"
ACCESSOR_PREFIX = "accessor/"
SCHEMA_VERSION = 1
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class SecretIdEntry:
    accessor: str
    creation_time: float
    metadata: Mapping[str, str] = field(default_factory=dict)
    cidr_list: tuple[str, ...] = ()
    token_bound_cidrs: tuple[str, ...] = ()
    num_uses: int = 0
    ttl: int = 0
    expiration_time: float = 0.0  # 0: never expires
    last_updated_time: float = 0.0
    schema_version: int = SCHEMA_VERSION

    def expired(self, now: float) -> bool:
        return bool(self.expiration_time) and now >= self.expiration_time

    def used_once(self, now: float) -> SecretIdEntry:
        return replace(self, num_uses=self.num_uses - 1, last_updated_time=now)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["metadata"] = dict(self.metadata)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SecretIdEntry:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("cidr_list", "token_bound_cidrs"):
            values[key] = tuple(values.get(key) or ())
        values["schema_version"] = SCHEMA_VERSION
        return cls(**values)

    def view(self) -> dict[str, Any]:
        """A lookup's ``data``, in Vault's shape (never the secret-id itself)."""
        return {
            "secret_id_accessor": self.accessor,
            "metadata": dict(self.metadata),
            "cidr_list": list(self.cidr_list),
            "token_bound_cidrs": list(self.token_bound_cidrs),
            "secret_id_num_uses": self.num_uses,
            "secret_id_ttl": self.ttl,
            "creation_time": to_rfc3339(self.creation_time),
            "last_updated_time": to_rfc3339(self.last_updated_time or self.creation_time),
            "expiration_time": (to_rfc3339(self.expiration_time)
                                if self.expiration_time else ZERO_TIME),
        }


@dataclass(frozen=True, slots=True)
class Spend:
    """What a login decides about a stored secret-id: refuse, destroy it, or use it once."""

    entry: SecretIdEntry | None  # the entry the login gets; None refuses it
    after: SecretIdEntry | None  # what to store: None deletes (spent or expired)
    changes: bool

    @classmethod
    def refuse(cls) -> Spend:
        return cls(None, None, False)

    @classmethod
    def destroy_and_refuse(cls, entry: SecretIdEntry) -> Spend:
        return cls(None, None, True)

    @classmethod
    def use(cls, entry: SecretIdEntry, now: float) -> Spend:
        if entry.num_uses <= 0:  # unlimited
            return cls(entry, entry, False)
        used = entry.used_once(now)
        return cls(entry, used if used.num_uses > 0 else None, True)


@dataclass(frozen=True, slots=True)
class SecretIdStore:
    """The secret-ids of one mount, addressed through its HMAC key."""

    storage: Storage
    key: MountKey

    def _dir(self, role: str) -> str:
        return SECRET_ID_PREFIX + self.key.digest("role", role) + "/"

    def _entry_key(self, role: str, sid_hmac: str) -> str:
        return self._dir(role) + sid_hmac

    def _accessor_key(self, accessor: str) -> str:
        return ACCESSOR_PREFIX + self.key.digest("accessor", accessor)

    def hmac_of(self, secret_id: str) -> str:
        return self.key.digest("secret_id", secret_id)

    async def get(self, role: str, sid_hmac: str) -> SecretIdEntry | None:
        data = await get_json(self.storage, self._entry_key(role, sid_hmac))
        return None if data is None else SecretIdEntry.from_json(data)

    async def create(self, role: str, secret_id: str, entry: SecretIdEntry) -> bool:
        """Store a new secret-id; False if that value is already registered on the role."""
        sid_hmac = self.hmac_of(secret_id)
        key = self._entry_key(role, sid_hmac)
        return await self.storage.transaction([Check(key, 0)], [  # create only if absent
            Put(key, encode_json(entry.to_json())),
            Put(self._accessor_key(entry.accessor),
                encode_json({"role": role, "secret_id_hmac": sid_hmac})),
        ])

    async def spend(self, role: str, sid_hmac: str,
                    decide: Callable[[SecretIdEntry | None], Spend]) -> SecretIdEntry | None:
        """Apply ``decide`` to the stored entry as one check-and-set; the entry it grants."""
        key = self._entry_key(role, sid_hmac)

        async def apply(raw: bytes | None) -> tuple[list[BatchOp], SecretIdEntry | None]:
            stored = None if raw is None else SecretIdEntry.from_json(orjson.loads(raw))
            outcome = decide(stored)
            if not outcome.changes or stored is None:
                return [], outcome.entry
            if outcome.after is None:
                return [Delete(key), Delete(self._accessor_key(stored.accessor))], outcome.entry
            return [Put(key, encode_json(outcome.after.to_json()))], outcome.entry

        return await atomic_update(self.storage, key, apply)

    async def put(self, role: str, sid_hmac: str, entry: SecretIdEntry) -> None:
        await self.storage.put(self._entry_key(role, sid_hmac), encode_json(entry.to_json()))

    async def by_accessor(self, role: str, accessor: str) -> tuple[str, SecretIdEntry] | None:
        index = await get_json(self.storage, self._accessor_key(accessor))
        if index is None or index.get("role") != role:
            return None
        entry = await self.get(role, index["secret_id_hmac"])
        return None if entry is None else (index["secret_id_hmac"], entry)

    async def destroy(self, role: str, sid_hmac: str, entry: SecretIdEntry) -> None:
        await self.storage.batch([
            Delete(self._entry_key(role, sid_hmac)),
            Delete(self._accessor_key(entry.accessor)),
        ])

    async def entries(self, role: str) -> list[tuple[str, SecretIdEntry]]:
        return await self._entries_in(self._dir(role))

    async def _entries_in(self, directory: str) -> list[tuple[str, SecretIdEntry]]:
        found: list[tuple[str, SecretIdEntry]] = []
        for name in await self.storage.list(directory):
            data = None if name.endswith("/") else await get_json(self.storage, directory + name)
            if data is not None:
                found.append((name, SecretIdEntry.from_json(data)))
        return found

    async def destroy_all(self, role: str) -> None:
        await self._destroy_dir(self._dir(role))

    async def _destroy_dir(self, directory: str) -> int:
        ops: list[Put | Delete] = []
        for name, entry in await self._entries_in(directory):
            ops += [Delete(directory + name), Delete(self._accessor_key(entry.accessor))]
        if ops:
            await self.storage.batch(ops)
        return len(ops) // 2

    async def tidy(self, live_roles: Iterable[str], now: float) -> dict[str, int]:
        """Drop expired secret-ids, those of deleted roles, and dangling accessor entries."""
        live_dirs = {self._dir(r) for r in live_roles}
        expired = orphaned = 0
        for name in await self.storage.list(SECRET_ID_PREFIX):
            directory = SECRET_ID_PREFIX + name
            if directory not in live_dirs:
                orphaned += await self._destroy_dir(directory)
                continue
            for sid_hmac, entry in await self._entries_in(directory):
                if entry.expired(now):
                    await self.storage.batch([Delete(directory + sid_hmac),
                                              Delete(self._accessor_key(entry.accessor))])
                    expired += 1
        return {"expired_secret_ids": expired, "orphaned_secret_ids": orphaned,
                "dangling_accessors": await self._tidy_accessors()}

    async def _tidy_accessors(self) -> int:
        removed = 0
        for name in await self.storage.list(ACCESSOR_PREFIX):
            index = await get_json(self.storage, ACCESSOR_PREFIX + name)
            if index is None:
                continue
            target = self._entry_key(str(index.get("role", "")), str(index.get("secret_id_hmac", "")))
            if await self.storage.get(target) is None:
                await self.storage.delete(ACCESSOR_PREFIX + name)
                removed += 1
        return removed
