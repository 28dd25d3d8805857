"""Every Storage implementation passes the same suite (Vault's ExerciseBackend)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from warden.core.barrier import Barrier
from warden.logical.storage import Storage
from warden.storage.base import BackendClosed
from warden.storage.memory import MemoryBackend
from warden.storage.sqlite import SQLiteBackend
from warden.storage.testing import exercise_backend, exercise_concurrency

# The barrier's physical store already holds its keyring, so it is tested below a prefix.
BARRIER_ROOT = "logical/conformance/"


@pytest.fixture(params=["memory", "sqlite", "barrier-over-memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Storage, str]]:
    if request.param == "memory":
        memory = MemoryBackend()
        yield memory, ""
        await memory.close()
    elif request.param == "sqlite":
        sqlite = SQLiteBackend(tmp_path / "warden.db")
        yield sqlite, ""
        await sqlite.close()
    else:
        barrier = Barrier(MemoryBackend())
        root_key = bytes(range(32))
        await barrier.initialize(root_key)
        await barrier.unseal(root_key)
        yield barrier, BARRIER_ROOT


async def test_exercise_backend(store: tuple[Storage, str]) -> None:
    backend, root = store
    await exercise_backend(backend, root=root)


async def test_exercise_concurrency(store: tuple[Storage, str]) -> None:
    backend, root = store
    await exercise_concurrency(backend, root=root)


async def test_suite_catches_a_broken_listing() -> None:
    """The suite is not vacuous: a backend that lists descendants as leaves fails it."""

    class FlatLister(MemoryBackend):
        async def list(self, prefix: str) -> list[str]:
            return sorted(k[len(prefix) :] for k in self._data if k.startswith(prefix))

    with pytest.raises(AssertionError, match="list"):
        await exercise_backend(FlatLister())


async def test_closed_memory_backend_refuses_operations() -> None:
    memory = MemoryBackend()
    await memory.close()
    with pytest.raises(BackendClosed):
        await memory.get("k")


async def test_suite_catches_a_page_that_ignores_after() -> None:
    class NoPaging(MemoryBackend):
        async def list_page(self, prefix: str, after: str, limit: int) -> list[str]:
            return await self.list(prefix)

    with pytest.raises(AssertionError, match="list_page"):
        await exercise_backend(NoPaging())


async def test_suite_catches_a_count_of_direct_children_only() -> None:
    class ShallowCount(MemoryBackend):
        async def count(self, prefix: str, start: str = "", end: str = "") -> int:
            return len(await self.list(prefix))

    with pytest.raises(AssertionError, match="count"):
        await exercise_backend(ShallowCount())
