"""Revocation as a race at the core: many concurrent requests with token T while it is
revoked (by token, by accessor, through its parent, as an orphan, by expiry), over storage
that hands the event loop over mid-operation as the threaded SQLite driver does. No request
that starts after the revocation returned may be served, and nothing T created may outlive
it in storage."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

import pytest

from support.corekit import Kit, unsealed_core
from support.yielding import YieldingPhysical
from warden.core.tokens import CoreTokenStore
from warden.core.view import StorageView
from warden.logical.clock import FrozenClock
from warden.logical.errors import WardenError
from warden.logical.operation import Operation
from warden.logical.tokens import TokenSpec
from warden.storage.memory import MemoryBackend

R, U = Operation.READ, Operation.UPDATE
TRIALS = 10
VARIANTS = ("token", "accessor", "parent", "orphan", "expiry")
WORKERS = 12
POLICY = 'path "auth/token/create" { capabilities = ["update"] }'


@dataclass
class Race:
    revoked: bool = False
    stop: bool = False
    sent: list[tuple[bool, bool]] = field(default_factory=list)  # (after revoke, served)
    children: list[str] = field(default_factory=list)

    def served_after(self) -> int:
        return sum(1 for after, served in self.sent if after and served)


async def _worker(kit: Kit, token: str, kind: str, race: Race) -> None:
    while not race.stop:
        await asyncio.sleep(0)  # a cached lookup never yields: let the others (and the revoke) in
        after = race.revoked
        try:
            if kind == "create":
                resp = await kit.call(U, "auth/token/create", as_token=token, ttl="2h")
                assert resp is not None and resp.auth is not None
                race.children.append(resp.auth.accessor)
            elif kind == "renew":
                await kit.call(U, "auth/token/renew-self", as_token=token, increment="1h")
            else:
                await kit.call(R, "auth/token/lookup-self", as_token=token)
        except WardenError:
            race.sent.append((after, False))
        else:
            race.sent.append((after, True))


async def _until(race: Race, count: int) -> None:
    while len(race.sent) < count:
        await asyncio.sleep(0)


async def _revoke(kit: Kit, variant: str, token: str, accessor: str, parent: str) -> None:
    if variant == "token":
        await kit.call(U, "auth/token/revoke", token=token)
    elif variant == "accessor":
        await kit.call(U, "auth/token/revoke-accessor", accessor=accessor)
    elif variant == "parent":
        await kit.call(U, "auth/token/revoke", token=parent)
    elif variant == "orphan":
        await kit.call(U, "auth/token/revoke-orphan", token=token)
    else:
        kit.clock.advance(3601)


async def _restarted_store(kit: Kit) -> CoreTokenStore:
    """A token store fresh from storage, as after a restart: nothing cached."""
    store = CoreTokenStore(StorageView(kit.core.barrier, "sys/").sub_view("token/"),
                           clock=kit.clock, randbytes=os.urandom)
    await store.setup()
    return store


async def _trial(kit: Kit, variant: str) -> list[str]:
    parent = await kit.token(policies=["racer"], ttl="3h") if variant == "parent" else ""
    resp = await kit.call(U, "auth/token/create", as_token=parent or None, policies=["racer"],
                          ttl="1h")
    assert resp is not None and resp.auth is not None
    token, accessor = resp.auth.client_token, resp.auth.accessor
    race = Race()
    kinds = ("lookup", "create", "renew")
    tasks = [asyncio.create_task(_worker(kit, token, kinds[i % 3], race)) for i in range(WORKERS)]
    await _until(race, 2 * WORKERS)
    await _revoke(kit, variant, token, accessor, parent)
    race.revoked = True
    await _until(race, len(race.sent) + 3 * WORKERS)
    race.stop = True
    await asyncio.gather(*tasks)
    problems = []
    if race.served_after():
        problems.append(f"{race.served_after()} requests after the revocation were served")
    if await kit.core.tokens.lookup_accessor(accessor) is not None:
        problems.append("lookup-accessor still finds T")
    stored = set(await (await _restarted_store(kit)).list_accessors())
    if accessor in stored or await kit.core.barrier.get(f"sys/token/id/{kit.core.tokens.hash(token)}"):
        problems.append("T is still in storage")
    survivors = [c for c in race.children if c in stored]
    if variant == "orphan":
        fresh = await _restarted_store(kit)
        survivors = [c for c in survivors
                     if not (entry := await fresh.lookup_accessor(c)) or not entry.orphan]
    if survivors:
        problems.append(f"{len(survivors)} of {len(race.children)} children outlived T in storage")
    return problems


@pytest.mark.parametrize("variant", VARIANTS)
async def test_revocation_holds_under_concurrent_use(variant: str) -> None:
    kit = await unsealed_core(physical=YieldingPhysical(MemoryBackend(), VARIANTS.index(variant)))
    await kit.policy("racer", POLICY)
    await kit.call(R, "auth/token/lookup-self", as_token=await kit.token(policies=["racer"]))
    failures = {trial: p for trial in range(TRIALS) if (p := await _trial(kit, variant))}
    assert not failures, failures


class _HeldRead:
    """Storage whose next read of one key takes its value, then waits to be released: a
    lookup that read the row just before a revocation committed, and resumes after it."""

    def __init__(self, inner: MemoryBackend) -> None:
        self.inner = inner
        self.hold_key = ""
        self.taken = asyncio.Event()
        self.release = asyncio.Event()

    async def get(self, key: str) -> bytes | None:
        value = await self.inner.get(key)
        if key == self.hold_key:
            self.hold_key = ""
            self.taken.set()
            await self.release.wait()
        return value

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_a_lookup_that_read_before_the_revocation_cannot_cache_the_token() -> None:
    storage = _HeldRead(MemoryBackend())
    store = CoreTokenStore(storage, clock=FrozenClock(), randbytes=os.urandom)  # type: ignore[arg-type]
    await store.setup()
    token, entry = await store.create(TokenSpec(policies=("default",), path="auth/token/create"),
                                      parent=None)
    cold = CoreTokenStore(storage, clock=FrozenClock(), randbytes=os.urandom)  # type: ignore[arg-type]
    await cold.setup()  # nothing cached
    storage.hold_key = "id/" + cold.hash(token)
    early = asyncio.create_task(cold.lookup(token))
    await storage.taken.wait()
    await cold.revoke_tree(entry.accessor)  # ...the revocation commits meanwhile
    storage.release.set()
    assert await early is not None  # it started before the revocation returned: may be served
    assert await cold.lookup(token) is None  # but it left nothing behind
    assert await cold.lookup_accessor(entry.accessor) is None
