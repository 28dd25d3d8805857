"""Two Cores as two worker processes of one server: one store, one shared memory
(``core.shared``), nothing else. A change made in one holds in the other for every request
that starts after it returned, even while the other is still applying it."""

from __future__ import annotations

import asyncio

import pytest

from support.corekit import Kit
from support.yielding import YieldingMemory
from warden.auth.token import factory as token_factory
from warden.core.core import Core, WorkerSet
from warden.core.registry import Registry
from warden.core.shared import SharedMemory
from warden.engines.kv import factory as kv_factory
from warden.logical.clock import FrozenClock
from warden.logical.operation import Operation

R, U = Operation.READ, Operation.UPDATE


async def two_workers() -> tuple[Kit, Kit]:
    store, clock, memory = YieldingMemory(), FrozenClock(), SharedMemory.create()
    cores = [Core(store, Registry(auth={"token": token_factory}, secrets={"kv": kv_factory}), clock=clock,
                  workers=WorkerSet(i, 2, memory)) for i in range(2)]
    result = await cores[0].initialize(1, 1)
    await cores[0].unseal(result.keys[0])
    await cores[1].sync()  # adopts the unseal
    return Kit(cores[0], clock, result.root_token), Kit(cores[1], clock, result.root_token)


async def test_a_request_that_starts_while_the_watcher_applies_a_change_waits_for_it() -> None:
    first, second = await two_workers()
    for trial in range(5):
        path = f"kv{trial}"
        await first.call(U, f"sys/mounts/{path}", type="kv")
        # The idle watcher of the second worker starts applying the change; a request arrives
        # while it is at it (its storage reads yield) and must not be served from before it.
        watcher = asyncio.ensure_future(second.core.sync())
        await asyncio.sleep(0)
        await second.call(U, f"{path}/k", v="x")  # raises if the mount is not there yet
        await watcher


async def test_changes_that_fail_to_apply_are_applied_by_the_next_request() -> None:
    first, second = await two_workers()
    await first.call(U, "sys/mounts/later", type="kv")
    reload = second.core.mounts.reload

    async def failing() -> None:
        raise OSError("the store did not answer")

    second.core.mounts.reload = failing  # type: ignore[method-assign]
    with pytest.raises(OSError):
        await second.core.sync()
    second.core.mounts.reload = reload  # type: ignore[method-assign]
    await second.call(U, "later/k", v="x")
    resp = await second.call(R, "later/k")
    assert resp is not None and resp.data == {"v": "x"}


async def test_a_worker_that_starts_after_the_unseal_joins_unsealed() -> None:
    store, clock, memory = YieldingMemory(), FrozenClock(), SharedMemory.create()
    registry = Registry(auth={"token": token_factory}, secrets={"kv": kv_factory})
    first = Core(store, registry, clock=clock, workers=WorkerSet(0, 2, memory))
    result = await first.initialize(1, 1)
    await first.unseal(result.keys[0])
    late = Core(store, registry, clock=clock, workers=WorkerSet(1, 2, memory))
    await late.sync()
    assert late.barrier.sealed  # nothing changed since it started counting
    await late.join()
    assert not late.barrier.sealed
    await Kit(late, clock, result.root_token).call(U, "sys/mounts/after", type="kv")
