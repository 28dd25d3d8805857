"""Every Storage implementation passes the same suite (Vault's ExerciseBackend)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from warden.core.barrier import Barrier
from warden.core.view import StorageView
from warden.logical.storage import BatchOp, Storage
from warden.storage.base import BackendClosed
from warden.storage.memory import MemoryBackend
from warden.storage.sqlite import SQLiteBackend, prepare_store
from warden.storage.sqlite_writer import WriterProcess
from warden.storage.testing import (
    exercise_atomic_updates,
    exercise_backend,
    exercise_concurrency,
    exercise_transactions,
)

# The barrier's physical store already holds its keyring, so it is tested below a prefix.
BARRIER_ROOT = "logical/conformance/"


@pytest.fixture(params=["memory", "sqlite", "sqlite-writer-process", "barrier-over-memory",
                        "view-over-barrier"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Storage, str]]:
    if request.param == "memory":
        memory = MemoryBackend()
        yield memory, ""
        await memory.close()
    elif request.param == "sqlite":
        sqlite = SQLiteBackend(tmp_path / "warden.db")
        yield sqlite, ""
        await sqlite.close()
    elif request.param == "sqlite-writer-process":
        path = str(tmp_path / "warden.db")
        assert prepare_store(path) == ""
        process, (sock,) = WriterProcess.start(path, clients=1)
        remote = SQLiteBackend(path, writer=sock)
        yield remote, ""
        await remote.close()
        assert process.wait(30) == 0
    else:
        barrier = Barrier(MemoryBackend())
        root_key = bytes(range(32))
        await barrier.initialize(root_key)
        await barrier.unseal(root_key)
        if request.param == "view-over-barrier":
            yield StorageView(barrier, BARRIER_ROOT), ""
        else:
            yield barrier, BARRIER_ROOT


async def test_exercise_backend(store: tuple[Storage, str]) -> None:
    backend, root = store
    await exercise_backend(backend, root=root)


async def test_exercise_concurrency(store: tuple[Storage, str]) -> None:
    backend, root = store
    await exercise_concurrency(backend, root=root)


async def test_exercise_transactions(store: tuple[Storage, str]) -> None:
    backend, root = store
    await exercise_transactions(backend, root=root)


async def test_exercise_atomic_updates(store: tuple[Storage, str]) -> None:
    backend, root = store
    await exercise_atomic_updates([backend], root=root)


async def test_atomic_updates_hold_between_two_sqlite_handles(tmp_path: Path) -> None:
    """Two backends on one file stand for two processes: the check-and-set holds between them."""
    first, second = SQLiteBackend(tmp_path / "shared.db"), SQLiteBackend(tmp_path / "shared.db")
    try:
        await exercise_atomic_updates([first, second], racers=60)
    finally:
        await first.close()
        await second.close()


async def test_suite_catches_a_transaction_that_ignores_its_checks() -> None:
    """The transaction suite is not vacuous: a backend that applies stale writes fails it."""

    class Blind(MemoryBackend):
        async def transaction(self, checks: object, ops: Sequence[BatchOp]) -> bool:
            await self.batch(ops)
            return True

    with pytest.raises(AssertionError, match="stale check"):
        await exercise_transactions(Blind())


async def test_suite_catches_a_lost_update() -> None:
    """... and a read-modify-write that is not atomic loses increments under the race."""

    class Racy(MemoryBackend):
        async def transaction(self, checks: object, ops: Sequence[BatchOp]) -> bool:
            await asyncio.sleep(0)  # another racer gets in between check and write
            return await super().transaction([], ops)

    with pytest.raises(AssertionError, match="counter"):
        await exercise_atomic_updates([Racy()])


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
