"""The HA election loop and the core's active/standby states, over an in-process lock.

Two Cores share one MemoryBackend that also provides a lock (the Lock protocol, in memory:
a stand-in for the storage's lock, not for etcd; the etcd lock is tested against real etcd
in tests/interop and tests/e2e).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from warden.auth.token import factory as token_factory
from warden.core import ha
from warden.core.core import Core
from warden.core.ha import HAConfig, StandbyNode
from warden.core.registry import Registry
from warden.logical.errors import Sealed
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.storage.base import StorageUnavailable
from warden.storage.memory import MemoryBackend


class MemoryLock:
    def __init__(self, store: SharedStore, value: str) -> None:
        self.store, self.value_ = store, value
        self.lost = asyncio.Event()

    async def acquire(self) -> asyncio.Event:
        while True:
            if self.store.failures:
                self.store.failures -= 1
                raise StorageUnavailable()
            if self.store.holder is None and self.value_ not in self.store.cut_off:
                self.store.holder = self
                self.lost = asyncio.Event()
                return self.lost
            await asyncio.sleep(0.01)

    async def release(self) -> None:
        if self.store.holder is self:
            self.store.holder = None

    async def value(self) -> tuple[bool, str]:
        holder = self.store.holder
        return (holder is not None, holder.value_ if holder else "")


class SharedStore(MemoryBackend):
    ha_enabled = True

    def __init__(self) -> None:
        super().__init__()
        self.holder: MemoryLock | None = None
        self.failures = 0
        self.cut_off: set[str] = set()  # nodes that cannot reach the store's lock

    def lock_with(self, key: str, value: str) -> MemoryLock:
        return MemoryLock(self, value)

    def expire(self) -> None:
        """The holder's lease ran out (it died, or lost etcd)."""
        holder, self.holder = self.holder, None
        if holder is not None:
            holder.lost.set()


@pytest.fixture(autouse=True)
def short_pause(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(ha, "STEP_DOWN_PAUSE_S", 0.2)
    yield


async def until(predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def cluster(store: SharedStore) -> tuple[list[Core], str]:
    cores = [Core(store, Registry(auth={"token": token_factory}), ha_backend=store,
                  ha_config=HAConfig(api_addr=f"https://node-{i}:8200")) for i in range(2)]
    init = await cores[0].initialize(1, 1)
    for core in cores:
        assert core.sealed
        await core.unseal(init.keys[0])
    await until(lambda: any(c.active for c in cores))
    return cores, init.root_token


def lookup(token: str) -> Request:
    return Request(operation=Operation.READ, path="auth/token/lookup-self", client_token=token)


async def test_one_active_one_standby_and_the_standby_knows_the_leader() -> None:
    store = SharedStore()
    cores, root = await cluster(store)
    active, standby = sorted(cores, key=lambda c: not c.active)
    assert standby.standby and not standby.sealed and not active.standby
    assert await active.handle_request(lookup(root)) is not None
    with pytest.raises(StandbyNode):
        await standby.handle_request(lookup(root))
    leader = await standby.ha.leader(fresh=True)  # type: ignore[union-attr]
    assert leader is not None and leader.api_addr == active.ha.config.api_addr  # type: ignore[union-attr]
    assert leader.forward_key == active.ha.advertised.forward_key  # type: ignore[union-attr]
    for core in cores:
        await core.shutdown()


async def test_step_down_hands_over_and_the_old_active_forgets_its_caches() -> None:
    store = SharedStore()
    cores, root = await cluster(store)
    active, standby = sorted(cores, key=lambda c: not c.active)
    await active.handle_request(lookup(root))
    active.step_down()
    await until(lambda: standby.active)
    assert active.standby and not active.active
    assert not active.tokens._cache, "a standby must not keep cached tokens"
    assert await standby.handle_request(lookup(root)) is not None
    for core in cores:
        await core.shutdown()


async def test_a_lost_lock_stops_the_active_node_at_once() -> None:
    store = SharedStore()
    cores, _ = await cluster(store)
    active, standby = sorted(cores, key=lambda c: not c.active)
    store.cut_off.add(active.ha.node_id)  # type: ignore[union-attr]
    store.expire()
    await until(lambda: not active.active, timeout=1.0)
    await until(lambda: standby.active)
    for core in cores:
        await core.shutdown()


async def test_storage_trouble_while_contending_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ha, "_RETRY_S", 0.05)
    store = SharedStore()
    store.failures = 3
    cores, _ = await cluster(store)
    assert sum(c.active for c in cores) == 1
    for core in cores:
        await core.shutdown()


async def test_sealing_the_active_node_hands_over() -> None:
    store = SharedStore()
    cores, root = await cluster(store)
    active, standby = sorted(cores, key=lambda c: not c.active)
    await active.seal_vault()
    assert active.sealed
    with pytest.raises(Sealed):
        await active.handle_request(lookup(root))
    await until(lambda: standby.active)
    for core in cores:
        await core.shutdown()
