"""A bounded pool of pre-generated private keys, refilled in the background.

RSA key generation costs tens of milliseconds; an ``issue`` should not wait for it. The pool
keeps a few keys per (type, size) that was actually asked for, plus a small warm set
(rsa-2048, ec-256). RSA keys are refilled in a thread executor: cryptography releases the
GIL while OpenSSL generates them (measured: two threads run at 2.06x one), so threads give
real parallelism without pickling keys across processes. EC and Ed25519 keys take ~15 us,
less than a thread hop, so they are refilled on the loop, one key per loop turn. Pooled keys
live only in this process's memory; nothing here writes, logs or serialises them.

One pool serves every PKI mount of a process (the composition root builds it). It binds to
the event loop it is first used on and starts over if a later call comes from another loop.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from warden.engines.pki.x509util import KeySpec, PrivateKey, generate_private_key

RSA_2048 = KeySpec("rsa", 2048)
EC_256 = KeySpec("ec", 256)
WARM_SET = (RSA_2048, EC_256)


def default_capacity(spec: KeySpec) -> int:
    """Cheap keys (ec, ed25519) need only a token buffer; RSA gets more the cheaper it is."""
    if spec.key_type != "rsa":
        return 16
    return {2048: 32, 3072: 8, 4096: 4}.get(spec.bits, 1)


@dataclass(frozen=True, slots=True)
class PoolStats:
    sizes: Mapping[str, int]
    hits: int
    misses: int
    generated: int


class KeyPool:
    """``await take(spec)`` returns a fresh key, from the pool when one is ready."""

    def __init__(
        self,
        *,
        capacity: Callable[[KeySpec], int] = default_capacity,
        warm: Iterable[KeySpec] = WARM_SET,
        workers: int | None = None,
        generate: Callable[[KeySpec], PrivateKey] = generate_private_key,
    ) -> None:
        self._capacity = capacity
        self._warm = tuple(warm)
        # RSA generation releases the GIL: one thread per core drains a burst fastest.
        self._workers = workers or max(1, os.cpu_count() or 1)
        self._generate = generate
        self._keys: dict[KeySpec, deque[PrivateKey]] = {}
        self._refills: dict[KeySpec, asyncio.Task[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._hits = self._misses = self._generated = 0
        self._closed = False

    def warm(self) -> None:
        """Start filling the warm set (from inside a running event loop)."""
        for spec in self._warm:
            self._refill_later(spec)

    async def take(self, spec: KeySpec) -> PrivateKey:
        self._bind_loop()
        keys = self._keys.setdefault(spec, deque())
        if keys:
            self._hits += 1
            key = keys.popleft()
            self._refill_later(spec)
            return key
        self._misses += 1
        self._refill_later(spec)
        if spec.key_type != "rsa":
            return self._count(self._generate(spec))  # microseconds: not worth a thread hop
        return self._count(await asyncio.get_running_loop().run_in_executor(
            self._pool_executor(), self._generate, spec))

    def stats(self) -> PoolStats:
        return PoolStats({s.label: len(k) for s, k in self._keys.items()},
                         self._hits, self._misses, self._generated)

    async def drain(self) -> None:
        """Wait for running refills (tests and benchmarks use this to start from a full pool)."""
        while self._refills:
            await asyncio.gather(*list(self._refills.values()), return_exceptions=True)

    def close(self) -> None:
        self._closed = True
        for task in self._refills.values():
            task.cancel()
        self._refills.clear()
        self._keys.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _count(self, key: PrivateKey) -> PrivateKey:
        self._generated += 1
        return key

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A new event loop (tests run one per test): tasks of the old one are gone.
            self._loop = loop
            self._refills.clear()

    def _pool_executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="warden-keypool")
        return self._executor

    def _refill_later(self, spec: KeySpec) -> None:
        self._bind_loop()
        if self._closed or spec in self._refills:
            return
        if len(self._keys.get(spec, ())) > self._low_water(spec):
            return
        task = asyncio.get_running_loop().create_task(self._refill(spec), name=f"keypool-{spec.label}")
        self._refills[spec] = task
        task.add_done_callback(functools.partial(self._refill_done, spec))

    def _low_water(self, spec: KeySpec) -> int:
        """Refill below this many keys: at once for RSA (slow to make), in batches for cheap
        keys so that a take does not cost a task of its own."""
        capacity = self._capacity(spec)
        return capacity - 1 if spec.key_type == "rsa" else capacity // 2

    def _refill_done(self, spec: KeySpec, task: asyncio.Task[None]) -> None:
        if self._refills.get(spec) is task:
            del self._refills[spec]

    async def _refill(self, spec: KeySpec) -> None:
        keys = self._keys.setdefault(spec, deque())
        loop = asyncio.get_running_loop()
        while not self._closed and len(keys) < self._capacity(spec):
            if spec.key_type == "rsa":
                key = await loop.run_in_executor(self._pool_executor(), self._generate, spec)
            else:
                # ~15 us: cheaper than a thread hop; one key per loop turn keeps the loop free.
                await asyncio.sleep(0)
                key = self._generate(spec)
            if self._closed:
                return
            keys.append(self._count(key))
