"""The work queue: one key once in the queue, never with two workers, nothing lost while a
key is being processed, delays and backoff."""

from __future__ import annotations

import asyncio

import pytest

from warden.controllers.workqueue import QueueShutDown, WorkQueue


def queue() -> WorkQueue[str]:
    return WorkQueue(uniform=lambda lo, hi: hi, min_backoff=0.01, max_backoff=0.04)


async def test_a_key_waits_once_however_often_it_is_added() -> None:
    q = queue()
    for _ in range(5):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert [await q.get(), await q.get()] == ["a", "b"]


async def test_a_key_added_while_processing_comes_back_after_done() -> None:
    q = queue()
    q.add("a")
    key = await q.get()
    q.add("a")  # changed while a worker holds it
    assert len(q) == 0, "never handed to a second worker meanwhile"
    q.done(key)
    assert await asyncio.wait_for(q.get(), 1) == "a"


async def test_add_after_keeps_the_earliest_delay() -> None:
    q = queue()
    q.add_after("a", 10)
    q.add_after("a", 0.02)
    assert await asyncio.wait_for(q.get(), 1) == "a"


async def test_failures_back_off_exponentially_with_a_cap_and_forget_resets() -> None:
    q = queue()
    delays = [q.add_failed("a") for _ in range(4)]
    assert delays == [0.01, 0.02, 0.04, 0.04]
    assert q.failures("a") == 4
    q.forget("a")
    assert q.failures("a") == 0 and q.add_failed("a") == 0.01


async def test_many_workers_never_share_a_key() -> None:
    q = queue()
    busy: set[str] = set()
    seen: list[str] = []

    async def worker() -> None:
        while True:
            try:
                key = await q.get()
            except QueueShutDown:
                return
            assert key not in busy
            busy.add(key)
            await asyncio.sleep(0.001)
            seen.append(key)
            busy.discard(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for i in range(200):
        q.add(f"k{i % 7}")
        await asyncio.sleep(0)
    while len(q) or busy:
        await asyncio.sleep(0.01)
    q.shutdown()
    await asyncio.gather(*workers)
    assert set(seen) == {f"k{i}" for i in range(7)}


async def test_shutdown_wakes_waiting_workers() -> None:
    q = queue()
    waiting = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.shutdown()
    with pytest.raises(QueueShutDown):
        await waiting
