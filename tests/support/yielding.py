"""A physical backend wrapper that hands the event loop over at random points of every
operation, as a threaded driver (SQLite's reader and writer threads) does: a read's value is
taken at one moment and handed back later, a write commits at one moment and its caller
wakes later. Seeded, so a failing interleaving can be replayed."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from warden.logical.storage import BatchOp, Check, Versioned
from warden.storage.base import PhysicalBackend
from warden.storage.memory import MemoryBackend


class YieldingPhysical:
    def __init__(self, inner: PhysicalBackend, seed: int, max_yields: int = 4) -> None:
        self._inner = inner
        self._random = random.Random(seed)
        self._max = max_yields

    async def _hop(self) -> None:
        for _ in range(self._random.randint(0, self._max)):
            await asyncio.sleep(0)

    async def get(self, key: str) -> bytes | None:
        await self._hop()
        value = await self._inner.get(key)
        await self._hop()
        return value

    async def get_versioned(self, key: str) -> Versioned:
        await self._hop()
        value = await self._inner.get_versioned(key)
        await self._hop()
        return value

    async def transaction(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bool:
        await self._hop()
        applied = await self._inner.transaction(checks, ops)
        await self._hop()
        return applied

    async def list(self, prefix: str) -> list[str]:
        await self._hop()
        names = await self._inner.list(prefix)
        await self._hop()
        return names

    async def put(self, key: str, value: bytes) -> None:
        await self._hop()
        await self._inner.put(key, value)
        await self._hop()

    async def delete(self, key: str) -> None:
        await self._hop()
        await self._inner.delete(key)
        await self._hop()

    async def batch(self, ops: Sequence[BatchOp]) -> None:
        await self._hop()
        await self._inner.batch(ops)
        await self._hop()

    async def close(self) -> None:
        await self._inner.close()


class YieldingMemory(MemoryBackend):
    """Yields to other tasks before and after every call, as a networked store does while
    a request and its answer travel."""

    async def get(self, key: str) -> bytes | None:
        await asyncio.sleep(0)
        value = await super().get(key)
        await asyncio.sleep(0)
        return value

    async def get_versioned(self, key: str) -> Versioned:
        await asyncio.sleep(0)
        value = await super().get_versioned(key)
        await asyncio.sleep(0)
        return value

    async def put(self, key: str, value: bytes) -> None:
        await asyncio.sleep(0)
        await super().put(key, value)

    async def batch(self, ops: Sequence[BatchOp]) -> None:
        await asyncio.sleep(0)
        await super().batch(ops)

    async def transaction(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bool:
        await asyncio.sleep(0)
        return await super().transaction(checks, ops)
