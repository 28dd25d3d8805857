"""StorageView: a chroot over a storage, so a mount can only reach its own keys."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Sequence

from warden.logical.errors import InvalidRequest
from warden.logical.storage import BatchOp, Check, Delete, Put, Storage, Versioned


class StorageView:
    __slots__ = ("_prefix", "_storage")

    def __init__(self, storage: Storage, prefix: str) -> None:
        if prefix and not prefix.endswith("/"):
            raise ValueError("a storage view prefix must end in '/'")
        self._storage = storage
        self._prefix = prefix

    @property
    def prefix(self) -> str:
        return self._prefix

    def sub_view(self, prefix: str) -> StorageView:
        return StorageView(self._storage, self._prefix + prefix)

    def _key(self, key: str) -> str:
        # Keys usually carry user input (names, paths, ids): refuse, as bad input,
        # anything that could climb out of the view.
        if key.startswith("/") or (("/." in key or key.startswith(".")) and (
                "/../" in f"/{key}/" or "/./" in f"/{key}/")):
            raise InvalidRequest("invalid path: it may not start with '/' or contain '.' or "
                                 "'..' segments")
        return self._prefix + key

    async def get(self, key: str) -> bytes | None:
        return await self._storage.get(self._key(key))

    async def put(self, key: str, value: bytes) -> None:
        await self._storage.put(self._key(key), value)

    async def delete(self, key: str) -> None:
        await self._storage.delete(self._key(key))

    async def list(self, prefix: str) -> list[str]:
        return await self._storage.list(self._key(prefix))

    async def list_page(self, prefix: str, after: str, limit: int) -> builtins.list[str]:
        return await self._storage.list_page(self._key(prefix), after, limit)

    async def count(self, prefix: str, start: str = "", end: str = "") -> int:
        return await self._storage.count(self._key(prefix), start, end)

    async def batch(self, ops: Sequence[BatchOp]) -> None:
        await self._storage.batch([self._op(op) for op in ops])

    async def get_versioned(self, key: str) -> Versioned:
        return await self._storage.get_versioned(self._key(key))

    async def transaction(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bool:
        return await self._storage.transaction(
            [Check(self._key(c.key), c.version) for c in checks], [self._op(op) for op in ops])

    def _op(self, op: BatchOp) -> BatchOp:
        return Put(self._key(op.key), op.value) if isinstance(op, Put) else Delete(self._key(op.key))


class WatchedView(StorageView):
    """A mount's view that announces committed writes below the prefixes its backend caches
    (``watch``), so the server's other processes drop that backend's caches."""

    __slots__ = ("_announce", "_watched")

    def __init__(self, storage: Storage, prefix: str) -> None:
        super().__init__(storage, prefix)
        self._watched: tuple[str, ...] = ()
        self._announce: Callable[[], None] = lambda: None

    def watch(self, prefixes: Sequence[str], announce: Callable[[], None]) -> None:
        self._watched, self._announce = tuple(prefixes), announce

    def _touches(self, keys: Iterable[str]) -> bool:
        return bool(self._watched) and any(k.startswith(self._watched) for k in keys)

    async def put(self, key: str, value: bytes) -> None:
        await super().put(key, value)
        if self._touches((key,)):
            self._announce()

    async def delete(self, key: str) -> None:
        await super().delete(key)
        if self._touches((key,)):
            self._announce()

    async def batch(self, ops: Sequence[BatchOp]) -> None:
        await super().batch(ops)
        if self._touches(op.key for op in ops):
            self._announce()

    async def transaction(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bool:
        applied = await super().transaction(checks, ops)
        if applied and self._touches(op.key for op in ops):
            self._announce()
        return applied
