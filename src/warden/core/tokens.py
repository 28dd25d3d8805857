"""The token store: tokens kept only as keyed hashes, accessors as the public handle.

Layout under the store's view: ``salt`` (HMAC key), ``id/<hash>`` (the entry),
``accessor/<accessor>`` (-> hash), ``parent/<parent-hash>/<child-hash>`` (tree).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import string
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace

import orjson

from warden.logical.clock import Clock
from warden.logical.errors import InvalidRequest, PermissionDenied
from warden.logical.storage import Delete, Put, Storage, atomic_update
from warden.logical.tokens import TokenEntry, TokenSpec

_ALPHABET = string.ascii_letters + string.digits
SERVICE_PREFIX = "ws."

RevokeHook = Callable[[TokenEntry], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RenewLimits:
    """What the auth method that issued a login token allows at renewal time."""

    ttl: int = 0
    max_ttl: int = 0
    period: int = 0


RenewPolicy = Callable[[TokenEntry], Awaitable["RenewLimits | None"]]


def random_id(randbytes: Callable[[int], bytes], length: int = 24) -> str:
    """A base62 string from unbiased random bytes (rejection sampling)."""
    out: list[str] = []
    while len(out) < length:
        for b in randbytes(length * 2):
            if b < 248:  # 248 = 4 * 62: keeps the distribution uniform
                out.append(_ALPHABET[b % 62])
                if len(out) == length:
                    break
    return "".join(out)


@dataclass(frozen=True, slots=True)
class TtlLimits:
    """The system-wide defaults, in seconds (Vault: 768h each)."""

    default_ttl: int = 768 * 3600
    max_ttl: int = 768 * 3600


@dataclass(frozen=True, slots=True)
class _Record:
    hash: str
    parent_hash: str
    entry: TokenEntry


@dataclass(frozen=True, slots=True)
class _Spent:
    """One use spent: the record before and after, and whether that was the last use."""

    before: _Record
    after: _Record
    last: bool


def _entry_to_json(rec: _Record) -> bytes:
    data = asdict(rec.entry)
    data["meta"] = dict(rec.entry.meta)
    data["internal_data"] = dict(rec.entry.internal_data)
    return orjson.dumps({"hash": rec.hash, "parent_hash": rec.parent_hash, "entry": data})


def _entry_from_json(raw: bytes) -> _Record:
    data = orjson.loads(raw)
    e = data["entry"]
    e["policies"] = tuple(e["policies"])
    e["bound_cidrs"] = tuple(e.get("bound_cidrs") or ())
    known = {k: v for k, v in e.items() if k in TokenEntry.__dataclass_fields__}
    return _Record(hash=data["hash"], parent_hash=data["parent_hash"], entry=TokenEntry(**known))


class CoreTokenStore:
    """Implements ``warden.logical.tokens.TokenStore`` over a barrier view."""

    def __init__(
        self,
        storage: Storage,
        *,
        clock: Clock,
        randbytes: Callable[[int], bytes],
        limits: TtlLimits = TtlLimits(),
        cache_size: int = 10_000,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._randbytes = randbytes
        self.limits = limits
        self._salt: bytes | None = None
        self._use_lock = asyncio.Lock()
        self._revoke_hooks: list[RevokeHook] = []
        self._renew_policy: RenewPolicy | None = None
        # Every request looks its token up; every write to an entry goes through this
        # class, so an in-process cache of decoded entries stays exact.
        self._cache: OrderedDict[str, _Record] = OrderedDict()
        self._cache_size = cache_size
        self._accessors: OrderedDict[str, str] = OrderedDict()  # accessor -> token hash

    def forget_cache(self) -> None:
        """Drop every cached entry (this node stood down: others may change the store)."""
        self._cache.clear()
        self._accessors.clear()

    def set_renew_policy(self, policy: RenewPolicy) -> None:
        """Consulted on every renewal: the issuing auth method may change or refuse it."""
        self._renew_policy = policy

    def on_revoke(self, hook: RevokeHook) -> None:
        """Called for every revoked token (to revoke its leases, drop cached data...)."""
        self._revoke_hooks.append(hook)

    async def setup(self) -> None:
        salt = await self._storage.get("salt")
        if salt is None:
            salt = self._randbytes(32)
            await self._storage.put("salt", salt)
        self._salt = salt

    def hash(self, token: str) -> str:
        if self._salt is None:
            raise RuntimeError("token store used before setup")
        return hmac.new(self._salt, token.encode(), hashlib.sha256).hexdigest()

    # -- creation -----------------------------------------------------------

    async def create(self, spec: TokenSpec, parent: TokenEntry | None) -> tuple[str, TokenEntry]:
        token = spec.token_id or SERVICE_PREFIX + random_id(self._randbytes)
        token_hash = self.hash(token)
        if spec.token_id and await self._storage.get("id/" + token_hash) is not None:
            raise InvalidRequest("cannot create a token with a duplicate ID")
        parent_hash = ""
        if parent is not None and not spec.orphan:
            parent_rec = await self._record_by_accessor(parent.accessor)
            if parent_rec is None:
                raise PermissionDenied("parent token is no longer valid")
            parent_hash = parent_rec.hash
        entry = self._new_entry(spec, parent if parent_hash else None)
        rec = _Record(hash=token_hash, parent_hash=parent_hash, entry=entry)
        ops: list[Put | Delete] = [
            Put("id/" + token_hash, _entry_to_json(rec)),
            Put("accessor/" + entry.accessor, token_hash.encode()),
        ]
        if parent_hash:
            ops.append(Put(f"parent/{parent_hash}/{token_hash}", b""))
        await self._storage.batch(ops)
        self._remember(rec)
        return token, entry

    def _new_entry(self, spec: TokenSpec, parent: TokenEntry | None) -> TokenEntry:
        now = self._clock.time()
        ttl, expire, max_expire = self._initial_ttl(spec, now)
        return TokenEntry(
            accessor=random_id(self._randbytes),
            policies=spec.policies,
            path=spec.path,
            display_name=spec.display_name,
            meta=dict(spec.meta),
            num_uses=spec.num_uses,
            creation_time=now,
            ttl=ttl,
            expire_time=expire,
            explicit_max_ttl=spec.explicit_max_ttl,
            period=spec.period,
            renewable=spec.renewable and expire != 0,
            orphan=parent is None,
            role=spec.role,
            token_type=spec.token_type,
            bound_cidrs=spec.bound_cidrs,
            internal_data=dict(spec.internal_data),
            entity_id=spec.entity_id,
            issue_time=now,
            last_renewal_time=0.0,
            max_expire_time=max_expire,
            parent_accessor=parent.accessor if parent else "",
            wrapping=spec.wrapping,
        )

    def _initial_ttl(self, spec: TokenSpec, now: float) -> tuple[int, float, float]:
        """(ttl, expire_time, max_expire_time) following Vault's token TTL rules."""
        never = "root" in spec.policies and not (spec.ttl or spec.period or spec.explicit_max_ttl)
        if never:
            return 0, 0.0, 0.0
        ceilings = [c for c in (spec.explicit_max_ttl,) if c > 0]
        if not spec.period:
            ceilings.append(spec.max_ttl or self.limits.max_ttl)
        ceiling = min(ceilings) if ceilings else 0
        ttl = spec.period or spec.ttl or self.limits.default_ttl
        if ceiling:
            ttl = min(ttl, ceiling)
        max_expire = now + ceiling if ceiling else 0.0
        return ttl, now + ttl, max_expire

    # -- lookup -------------------------------------------------------------

    async def lookup(self, token: str) -> TokenEntry | None:
        rec = await self.lookup_record(token)
        return rec.entry if rec else None

    async def lookup_record(self, token: str) -> _Record | None:
        if not token:
            return None
        return await self._live(await self._load("id/" + self.hash(token)))

    async def lookup_accessor(self, accessor: str) -> TokenEntry | None:
        rec = await self._record_by_accessor(accessor)
        return rec.entry if rec else None

    async def _record_by_accessor(self, accessor: str) -> _Record | None:
        if not accessor or "/" in accessor:
            return None
        token_hash = self._accessors.get(accessor)
        if token_hash is None:
            raw = await self._storage.get("accessor/" + accessor)
            if raw is None:
                return None
            token_hash = raw.decode()
        rec = await self._live(await self._load("id/" + token_hash))
        return rec

    async def _load(self, key: str) -> _Record | None:
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        raw = await self._storage.get(key)
        if raw is None:
            return None
        rec = _entry_from_json(raw)
        self._remember(rec)
        return rec

    def _remember(self, rec: _Record) -> None:
        key = "id/" + rec.hash
        self._cache[key] = rec
        self._cache.move_to_end(key)
        self._accessors[rec.entry.accessor] = rec.hash
        self._accessors.move_to_end(rec.entry.accessor)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        if len(self._accessors) > self._cache_size:
            self._accessors.popitem(last=False)

    async def _save(self, rec: _Record) -> None:
        await self._storage.put("id/" + rec.hash, _entry_to_json(rec))
        self._remember(rec)

    async def _live(self, rec: _Record | None) -> _Record | None:
        """The record if still valid; an expired token is revoked on sight."""
        if rec is None:
            return None
        if rec.entry.expire_time and self._clock.time() >= rec.entry.expire_time:
            await self._revoke_record_tree(rec)
            return None
        return rec

    # -- use counting ---------------------------------------------------------

    async def use(self, token: str) -> tuple[TokenEntry | None, bool]:
        """Spend one use of a limited-use token.

        Returns the entry and whether that was its last use (the caller revokes
        it once the request is done). Unlimited tokens pass straight through.
        """
        rec = await self.lookup_record(token)
        if rec is None or rec.entry.num_uses < 0:
            return None, False
        if rec.entry.num_uses == 0:
            return rec.entry, False
        key = "id/" + rec.hash

        async def spend(raw: bytes | None) -> tuple[list[Put | Delete], _Spent | None]:
            # Decided on the stored entry, committed only if nobody spent a use meanwhile
            # (in this process or another node): a check-and-set in the store.
            current = None if raw is None else _entry_from_json(raw)
            if current is None or current.entry.num_uses < 0:
                return [], None
            remaining = current.entry.num_uses - 1
            # The last use marks it spent (-1) so no concurrent request can use it again.
            updated = replace(current, entry=replace(current.entry, num_uses=remaining or -1))
            return [Put(key, _entry_to_json(updated))], _Spent(current, updated, remaining <= 0)

        async with self._use_lock:  # only queues this process's spenders; atomicity is the store's
            spent = await atomic_update(self._storage, key, spend)
        if spent is None:
            return None, False
        self._remember(spent.after)
        return (spent.before.entry if spent.last else spent.after.entry), spent.last

    # -- renewal --------------------------------------------------------------

    async def renew(self, accessor: str, increment: int) -> TokenEntry:
        rec = await self._record_by_accessor(accessor)
        if rec is None:
            raise InvalidRequest("token not found or expired")
        entry = rec.entry
        if not entry.renewable or entry.expire_time == 0:
            raise InvalidRequest("token is not renewable")
        limits = await self._renew_policy(entry) if self._renew_policy else None
        now = self._clock.time()
        period = limits.period if limits else entry.period
        ttl = period or increment or (limits.ttl if limits and limits.ttl else entry.ttl)
        max_expire = entry.max_expire_time
        if limits and limits.max_ttl and not period:
            cap = entry.creation_time + limits.max_ttl
            max_expire = min(max_expire, cap) if max_expire else cap
        if max_expire:
            ttl = max(0, min(ttl, int(max_expire - now)))
        updated = replace(entry, ttl=ttl, expire_time=now + ttl, last_renewal_time=now,
                          period=period, max_expire_time=max_expire)
        await self._save(replace(rec, entry=updated))
        return updated

    # -- revocation -----------------------------------------------------------

    async def revoke_token(self, token: str) -> None:
        rec = await self._load("id/" + self.hash(token))
        if rec is not None:
            await self._revoke_record_tree(rec)

    async def revoke_tree(self, accessor: str) -> None:
        rec = await self._record_by_accessor(accessor)
        if rec is None:
            raise InvalidRequest("token not found")
        await self._revoke_record_tree(rec)

    async def revoke_orphan(self, accessor: str) -> None:
        rec = await self._record_by_accessor(accessor)
        if rec is None:
            raise InvalidRequest("token not found")
        for child_hash in await self._children(rec.hash):
            child = await self._load("id/" + child_hash)
            if child is not None:
                orphaned = replace(
                    child, parent_hash="",
                    entry=replace(child.entry, orphan=True, parent_accessor=""),
                )
                await self._save(orphaned)
        await self._delete_record(rec)

    async def _revoke_record_tree(self, root: _Record) -> None:
        # Depth-first, children before parents, so a crash midway leaves no
        # child whose parent is already gone (tidy can still finish the job).
        stack: list[tuple[_Record, bool]] = [(root, False)]
        while stack:
            rec, expanded = stack.pop()
            if expanded:
                await self._delete_record(rec)
                continue
            stack.append((rec, True))
            for child_hash in await self._children(rec.hash):
                child = await self._load("id/" + child_hash)
                if child is not None:
                    stack.append((child, False))
                else:
                    await self._storage.delete(f"parent/{rec.hash}/{child_hash}")

    async def _children(self, token_hash: str) -> list[str]:
        return [k for k in await self._storage.list(f"parent/{token_hash}/") if not k.endswith("/")]

    async def _delete_record(self, rec: _Record) -> None:
        for hook in self._revoke_hooks:
            await hook(rec.entry)
        ops: list[Put | Delete] = [
            Delete("id/" + rec.hash),
            Delete("accessor/" + rec.entry.accessor),
        ]
        if rec.parent_hash:
            ops.append(Delete(f"parent/{rec.parent_hash}/{rec.hash}"))
        self._cache.pop("id/" + rec.hash, None)
        self._accessors.pop(rec.entry.accessor, None)
        await self._storage.batch(ops)

    async def revoke_by_path_prefix(self, prefix: str) -> int:
        """Revoke every token whose creation path lies under ``prefix`` (and its children)."""
        revoked = 0
        for name in await self._storage.list("id/"):
            rec = await self._load("id/" + name)
            if rec is not None and _under(rec.entry.path, prefix):
                await self._revoke_record_tree(rec)
                revoked += 1
        return revoked

    # -- listing and upkeep -----------------------------------------------------

    async def list_accessors(self) -> list[str]:
        return sorted(await self._storage.list("accessor/"))

    async def tidy(self) -> int:
        removed = 0
        for name in await self._storage.list("id/"):
            rec = await self._load("id/" + name)
            if rec is not None and await self._live(rec) is None:
                removed += 1
        for accessor in await self._storage.list("accessor/"):
            target = await self._storage.get("accessor/" + accessor)
            if target is None or await self._storage.get("id/" + target.decode()) is None:
                await self._storage.delete("accessor/" + accessor)
                removed += 1
        for parent in await self._storage.list("parent/"):
            for child in await self._children(parent.rstrip("/")):
                if await self._storage.get("id/" + child) is None:
                    await self._storage.delete(f"parent/{parent}{child}")
                    removed += 1
        return removed


def _under(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")
