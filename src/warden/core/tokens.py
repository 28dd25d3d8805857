"""The token store: tokens kept only as keyed hashes, accessors as the public handle.

Layout under the store's view: ``salt`` (HMAC key), ``id/<hash>`` (the entry),
``accessor/<accessor>`` (-> hash), ``parent/<parent-hash>/<child-hash>`` (tree).

Revocation is effective for every request that starts after it returns, however many run
at once. Three rules make it so:

- A revocation marks the token (and its subtree, parents first) before it touches storage,
  and waits for the writes that depend on it to finish (``RevocationGate``). Lookups refuse a
  marked token; a child is only stored under a parent that is alive and not marked (a
  check-and-set on the parent's entry); an update of an entry is a check-and-set on it that
  never writes one back that is marked or gone.
- The mark is also written into the stored entry (``revoking``) before the children are
  listed, so the worker processes of one server (and nodes sharing a store) see it too: a
  child stored under the parent is a check-and-set on the parent's entry, which the mark
  changes; lookups and updates refuse a marked entry.
- Deletes go children first, each committed before the cached entry is dropped; every
  committed update or delete is announced (``on_change``) before the call returns, so the
  other processes of a server drop their cached copy before their next request.
- The cache of decoded entries is filled only by a read that no write has overtaken: every
  committed update or delete bumps a generation, and a read that began under an older one
  returns its record to its caller without caching it. (Before this, a lookup that read the
  row just before the delete committed re-cached the revoked token for good.)

Batch tokens (``core.batch_tokens``) are not stored at all: the token carries its entry,
sealed by the barrier. A lookup opens it, checks its expiry, and for one with a parent looks
the parent up exactly as any lookup does (marks, cache rules and all), so a batch token stops
working for every request that starts after its parent's revocation returned.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import string
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace

import orjson

from warden.core.batch_tokens import BATCH_TYPE, BatchTokenCodec, is_batch
from warden.core.revocation import RevocationGate
from warden.logical.clock import Clock
from warden.logical.errors import InvalidRequest, PermissionDenied
from warden.logical.storage import BatchOp, Delete, Put, Storage, atomic_update
from warden.logical.tokens import TokenEntry, TokenSpec
from warden.storage.base import StorageError

log = logging.getLogger("warden.tokens")

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
    revoking: bool = False  # its revocation has begun (the stored mark; see the docstring)


def _entry_to_json(rec: _Record) -> bytes:
    data = asdict(rec.entry)
    data["meta"] = dict(rec.entry.meta)
    data["internal_data"] = dict(rec.entry.internal_data)
    doc: dict[str, object] = {"hash": rec.hash, "parent_hash": rec.parent_hash, "entry": data}
    if rec.revoking:
        doc["revoking"] = True
    return orjson.dumps(doc)


def _entry_from_json(raw: bytes) -> _Record:
    data = orjson.loads(raw)
    e = data["entry"]
    e["policies"] = tuple(e["policies"])
    e["bound_cidrs"] = tuple(e.get("bound_cidrs") or ())
    known = {k: v for k, v in e.items() if k in TokenEntry.__dataclass_fields__}
    return _Record(hash=data["hash"], parent_hash=data["parent_hash"], entry=TokenEntry(**known),
                   revoking=bool(data.get("revoking")))


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
        batch: BatchTokenCodec | None = None,
    ) -> None:
        self._storage = storage
        self._batch = batch
        self._clock = clock
        self._randbytes = randbytes
        self.limits = limits
        self._salt: bytes | None = None
        # Read-modify-writes of entries (use counts, renewals, orphaning) one at a time.
        self._update_lock = asyncio.Lock()
        self._gate = RevocationGate()
        self._revoke_hooks: list[RevokeHook] = []
        self._renew_policy: RenewPolicy | None = None
        # Every request looks its token up; every write to an entry goes through this
        # class, so an in-process cache of decoded entries stays exact (see the docstring).
        self._cache: OrderedDict[str, _Record] = OrderedDict()
        self._cache_size = cache_size
        self._accessors: OrderedDict[str, str] = OrderedDict()  # accessor -> token hash
        self._generation = 0  # bumped after every committed update or delete of an entry
        self._on_change: Callable[[], None] = lambda: None

    def on_change(self, announce: Callable[[], None]) -> None:
        """Called after every committed update or delete of an entry (before the call that
        made it returns): the server's other processes must drop their cached copies."""
        self._on_change = announce

    def forget_cache(self) -> None:
        """Drop every cached entry (this node stood down: others may change the store)."""
        self._generation += 1  # and no read begun before now may fill the cache again
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
        if spec.token_type == BATCH_TYPE:
            return await self._create_batch(spec, None if spec.orphan else parent)
        token = spec.token_id or SERVICE_PREFIX + random_id(self._randbytes)
        token_hash = self.hash(token)
        if spec.token_id and await self._storage.get("id/" + token_hash) is not None:
            raise InvalidRequest("cannot create a token with a duplicate ID")
        if parent is None or spec.orphan:
            rec = _Record(hash=token_hash, parent_hash="", entry=self._new_entry(spec, None))
            await self._storage.batch(self._create_ops(rec))
            self._remember(rec)
            return token, rec.entry
        parent_rec = await self._record_by_accessor(parent.accessor)
        if parent_rec is None:
            raise PermissionDenied("parent token is no longer valid")
        rec = _Record(hash=token_hash, parent_hash=parent_rec.hash,
                      entry=self._new_entry(spec, parent))

        async def under_live_parent(raw: bytes | None) -> tuple[list[BatchOp], None]:
            stored = None if raw is None else _entry_from_json(raw)
            if stored is None or stored.revoking or self._expired(stored):
                raise PermissionDenied("parent token is no longer valid")
            return self._create_ops(rec), None

        with self._gate.held(parent_rec.hash) as alive:
            # Held: the parent's revocation lists its children only after this is stored;
            # and the store writes the child only if the parent's entry is unchanged.
            if not alive:
                raise PermissionDenied("parent token is no longer valid")
            await atomic_update(self._storage, "id/" + parent_rec.hash, under_live_parent)
            self._remember(rec)
        return token, rec.entry

    async def _create_batch(self, spec: TokenSpec, parent: TokenEntry | None
                            ) -> tuple[str, TokenEntry]:
        """Mint a batch token: checked against its parent, sealed, never stored."""
        if self._batch is None:
            raise InvalidRequest("batch tokens are not available on this server")
        _check_batch_spec(spec)
        parent_hash = ""
        if parent is not None:
            if parent.token_type == BATCH_TYPE:
                raise InvalidRequest("batch tokens cannot create more tokens")
            parent_rec = await self._record_by_accessor(parent.accessor)
            if parent_rec is None:
                raise PermissionDenied("parent token is no longer valid")
            parent_hash = parent_rec.hash
        entry = self._new_entry(replace(spec, renewable=False), parent, accessor="")
        return self._batch.mint(entry, parent_hash), entry

    @staticmethod
    def _create_ops(rec: _Record) -> list[BatchOp]:
        ops: list[BatchOp] = [
            Put("id/" + rec.hash, _entry_to_json(rec)),
            Put("accessor/" + rec.entry.accessor, rec.hash.encode()),
        ]
        if rec.parent_hash:
            ops.append(Put(f"parent/{rec.parent_hash}/{rec.hash}", b""))
        return ops

    def _new_entry(self, spec: TokenSpec, parent: TokenEntry | None, *,
                   accessor: str | None = None) -> TokenEntry:
        now = self._clock.time()
        ttl, expire, max_expire = self._initial_ttl(spec, now)
        return TokenEntry(
            accessor=random_id(self._randbytes) if accessor is None else accessor,
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
        if is_batch(token):
            return await self._lookup_batch(token)
        rec = await self.lookup_record(token)
        return rec.entry if rec else None

    async def lookup_record(self, token: str) -> _Record | None:
        """The stored record of a service token (a batch token has none)."""
        if not token or is_batch(token):
            return None
        return await self._live(await self._fetch(self.hash(token)))

    async def _lookup_batch(self, token: str) -> TokenEntry | None:
        claims = await self._batch.open(token) if self._batch is not None else None
        if claims is None:
            return None
        entry = claims.entry
        if self._clock.time() >= entry.expire_time:
            return None
        if claims.parent_hash and await self._live(await self._fetch(claims.parent_hash)) is None:
            return None  # the parent expired, was revoked, or is being revoked right now
        return entry

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
        return await self._live(await self._fetch(token_hash))

    async def _fetch(self, token_hash: str) -> _Record | None:
        """The entry as stored (cached or read), live or not."""
        key = "id/" + token_hash
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        generation = self._generation
        raw = await self._storage.get(key)
        if raw is None:
            return None
        rec = _entry_from_json(raw)
        if generation == self._generation:  # no update or delete overtook this read
            self._remember(rec)
        return rec

    def _expired(self, rec: _Record) -> bool:
        return bool(rec.entry.expire_time) and self._clock.time() >= rec.entry.expire_time

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

    def _forget(self, rec: _Record) -> None:
        self._generation += 1
        self._cache.pop("id/" + rec.hash, None)
        self._accessors.pop(rec.entry.accessor, None)
        self._on_change()

    async def _update(
        self, token_hash: str, change: Callable[[_Record], _Record | None],
        also: Sequence[Put | Delete] = (),
    ) -> tuple[_Record, _Record] | None:
        """Read-modify-write one entry: (before, after), or None (nothing written) if it is
        gone, expired, being revoked, or ``change`` declines. Never writes an entry back after
        its revocation began, and never loses a concurrent update: the write is a
        check-and-set in the store (``change`` may run more than once; it must be pure)."""
        key = "id/" + token_hash

        async def decide(raw: bytes | None) -> tuple[list[BatchOp], tuple[_Record, _Record] | None]:
            current = None if raw is None else _entry_from_json(raw)
            if current is None or current.revoking or self._expired(current):
                return [], None
            updated = change(current)
            if updated is None:
                return [], None
            return [Put(key, _entry_to_json(updated)), *also], (current, updated)

        with self._gate.held(token_hash) as alive:
            if not alive:
                return None
            async with self._update_lock:  # queues this process's updaters; the store decides
                changed = await atomic_update(self._storage, key, decide)
            if changed is not None:
                self._generation += 1
                self._remember(changed[1])
                self._on_change()
            return changed

    async def _live(self, rec: _Record | None) -> _Record | None:
        """The record if still valid; an expired token is revoked on sight."""
        if rec is None or rec.revoking or self._gate.revoking(rec.hash):
            return None
        if self._expired(rec):
            try:
                await self._revoke_record_tree(rec)
            except StorageError as exc:  # e.g. a read-only store: the token is expired anyway
                log.warning("could not revoke an expired token yet: %s", exc)
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

        def spend(current: _Record) -> _Record | None:
            if current.entry.num_uses <= 0:
                return None  # spent by a concurrent request (here or on another node)
            remaining = current.entry.num_uses - 1
            # The last use marks it spent (-1) so no concurrent request can use it again.
            return replace(current, entry=replace(current.entry, num_uses=remaining or -1))

        changed = await self._update(rec.hash, spend)
        if changed is None:
            return None, False
        before, after = changed
        last = after.entry.num_uses < 0
        return (before.entry if last else after.entry), last

    # -- renewal --------------------------------------------------------------

    async def renew(self, accessor: str, increment: int) -> TokenEntry:
        rec = await self._record_by_accessor(accessor)
        if rec is None:
            raise InvalidRequest("token not found or expired")
        entry = rec.entry
        if not entry.renewable or entry.expire_time == 0:
            raise InvalidRequest("token is not renewable")
        limits = await self._renew_policy(entry) if self._renew_policy else None
        renewed = await self._update(
            rec.hash, lambda current: replace(current, entry=self._renewed(
                current.entry, increment, limits)))
        if renewed is None:
            raise InvalidRequest("token not found or expired")
        return renewed[1].entry

    def _renewed(self, entry: TokenEntry, increment: int, limits: RenewLimits | None
                 ) -> TokenEntry:
        now = self._clock.time()
        period = limits.period if limits else entry.period
        ttl = period or increment or (limits.ttl if limits and limits.ttl else entry.ttl)
        max_expire = entry.max_expire_time
        if limits and limits.max_ttl and not period:
            cap = entry.creation_time + limits.max_ttl
            max_expire = min(max_expire, cap) if max_expire else cap
        if max_expire:
            ttl = max(0, min(ttl, int(max_expire - now)))
        return replace(entry, ttl=ttl, expire_time=now + ttl, last_renewal_time=now,
                       period=period, max_expire_time=max_expire)

    # -- revocation -----------------------------------------------------------

    async def revoke_token(self, token: str) -> None:
        rec = await self._fetch(self.hash(token))
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
        self._gate.mark(rec.hash)
        await self._gate.drain(rec.hash)
        await self._mark_stored(rec)

        def orphaned(child: _Record) -> _Record:
            return replace(child, parent_hash="",
                           entry=replace(child.entry, orphan=True, parent_accessor=""))

        for child_hash in await self._children(rec.hash):
            link = Delete(f"parent/{rec.hash}/{child_hash}")
            if await self._update(child_hash, orphaned, also=[link]) is None:
                await self._storage.delete(link.key)  # gone, expired or being revoked itself
        await self._delete_record(rec)

    async def _revoke_record_tree(self, root: _Record) -> None:
        # Children before parents, so a crash midway leaves no child whose parent
        # is already gone (tidy can still finish the job).
        for rec in reversed(await self._mark_subtree(root)):
            await self._delete_record(rec)

    async def _mark_subtree(self, root: _Record) -> list[_Record]:
        """Mark ``root`` and every descendant, each before its children are listed, so no
        child can be added anywhere in the tree; returns them parents first."""
        marked: list[_Record] = []
        stack = [root]
        while stack:
            rec = stack.pop()
            self._gate.mark(rec.hash)
            await self._gate.drain(rec.hash)  # children being stored under it are listed now
            await self._mark_stored(rec)  # ... and those of other processes (the entry changes)
            marked.append(rec)
            for child_hash in await self._children(rec.hash):
                child = await self._fetch(child_hash)
                if child is not None:
                    stack.append(child)
                else:
                    await self._storage.delete(f"parent/{rec.hash}/{child_hash}")
        return marked

    async def _mark_stored(self, rec: _Record) -> None:
        """Write the revocation mark into the stored entry (if it is still there)."""

        async def marked(raw: bytes | None) -> tuple[list[BatchOp], None]:
            current = None if raw is None else _entry_from_json(raw)
            if current is None or current.revoking:
                return [], None
            return [Put("id/" + rec.hash, _entry_to_json(replace(current, revoking=True)))], None

        await atomic_update(self._storage, "id/" + rec.hash, marked)

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
        await self._storage.batch(ops)
        self._forget(rec)  # only after the commit: a read before it could cache the entry again
        self._gate.unmark(rec.hash)  # storage alone answers from here: the token is gone

    async def revoke_by_path_prefix(self, prefix: str) -> int:
        """Revoke every token whose creation path lies under ``prefix`` (and its children)."""
        revoked = 0
        for name in await self._storage.list("id/"):
            rec = await self._fetch(name)
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
            rec = await self._fetch(name)
            if rec is not None and rec.revoking:  # a revocation that stopped part-way
                await self._revoke_record_tree(rec)
                removed += 1
            elif rec is not None and await self._live(rec) is None:
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


def _check_batch_spec(spec: TokenSpec) -> None:
    """What a token without an entry cannot carry (Vault's rules for batch tokens)."""
    if "root" in spec.policies:
        raise InvalidRequest("batch tokens cannot be root tokens")
    if spec.num_uses:
        raise InvalidRequest('batch tokens cannot have "num_uses" set')
    if spec.period:
        raise InvalidRequest('batch tokens cannot have "period" set')
    if spec.explicit_max_ttl:
        raise InvalidRequest('batch tokens cannot have "explicit_max_ttl" set')


def _under(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")
