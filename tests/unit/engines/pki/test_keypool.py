"""KeyPool: bounded, refilled in the background, never blocking the event loop."""

from __future__ import annotations

import asyncio
import threading

from warden.engines.pki import x509util
from warden.engines.pki.keypool import EC_256, RSA_2048, KeyPool, default_capacity
from warden.engines.pki.x509util import KeySpec, PrivateKey

ED = KeySpec("ed25519", 0)


class CountingGenerator:
    """Fast stand-in for key generation that records which thread did the work."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[KeySpec] = []
        self.threads: set[str] = set()
        self.delay = delay

    def __call__(self, spec: KeySpec) -> PrivateKey:
        self.calls.append(spec)
        self.threads.add(threading.current_thread().name)
        if self.delay:
            threading.Event().wait(self.delay)
        return x509util.generate_private_key(EC_256 if spec.key_type == "rsa" else spec)


async def test_refills_to_capacity_and_serves_hits_from_the_pool() -> None:
    gen = CountingGenerator()
    pool = KeyPool(capacity=lambda s: 3, warm=(EC_256,), generate=gen)
    pool.warm()
    await pool.drain()
    assert pool.stats().sizes == {"ec-256": 3}
    await pool.take(EC_256)
    await pool.drain()
    assert pool.stats().sizes["ec-256"] == 2  # cheap keys refill in batches, below half capacity
    await pool.take(EC_256)
    stats = pool.stats()
    assert stats.hits == 2 and stats.misses == 0
    await pool.drain()
    assert pool.stats().sizes["ec-256"] == 3  # refilled, never beyond capacity
    assert len(gen.calls) == 5
    pool.close()


async def test_a_miss_on_rsa_is_generated_off_the_loop_while_the_loop_keeps_running() -> None:
    gen = CountingGenerator(delay=0.2)
    pool = KeyPool(capacity=lambda s: 0, warm=(), generate=gen)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.get_running_loop().create_task(ticker())
    key = await pool.take(RSA_2048)
    task.cancel()
    assert key is not None and pool.stats().misses == 1
    assert ticks > 5  # the loop served other work during the 200 ms generation
    assert gen.threads and all(t.startswith("warden-keypool") for t in gen.threads)
    pool.close()


async def test_cheap_keys_are_made_on_the_loop_and_only_requested_types_are_pooled() -> None:
    gen = CountingGenerator()
    pool = KeyPool(capacity=lambda s: 2, warm=(), generate=gen)
    await pool.take(ED)
    assert pool.stats().misses == 1
    await pool.drain()
    assert pool.stats().sizes == {"ed25519": 2}  # nothing for types nobody asked for
    assert gen.threads == {threading.main_thread().name}  # no thread hop for a 15 us key
    await pool.take(ED)
    assert pool.stats().hits == 1
    pool.close()


async def test_the_pool_follows_a_new_event_loop() -> None:
    gen = CountingGenerator()
    pool = KeyPool(capacity=lambda s: 1, warm=(), generate=gen)
    await pool.take(EC_256)
    await pool.drain()

    def in_another_loop() -> None:
        async def use() -> None:
            await pool.take(EC_256)
            await pool.drain()
        asyncio.run(use())

    await asyncio.get_running_loop().run_in_executor(None, in_another_loop)
    assert pool.stats().hits >= 1
    pool.close()


async def test_close_stops_refills_and_forgets_keys() -> None:
    gen = CountingGenerator(delay=0.05)
    pool = KeyPool(capacity=lambda s: 50, warm=(RSA_2048,), generate=gen)
    pool.warm()
    await asyncio.sleep(0.02)
    pool.close()
    await asyncio.sleep(0.1)
    assert pool.stats().sizes == {} and len(gen.calls) <= 2


def test_default_capacities_are_bounded() -> None:
    assert default_capacity(RSA_2048) == 32
    assert default_capacity(KeySpec("rsa", 4096)) == 4
    assert default_capacity(KeySpec("rsa", 8192)) == 1
    assert default_capacity(EC_256) == 16
