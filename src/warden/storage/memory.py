"""A dict-backed physical backend for tests and throwaway (``-dev``) servers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from warden.logical.storage import ABSENT, BatchOp, Check, Delete, Put, Versioned
from warden.storage.base import (
    BackendClosed,
    checked_check,
    checked_key,
    checked_op,
    copied_value,
)


class MemoryBackend:
    """Keeps everything in one dict; nothing survives the process.

    Values are copied on the way in, so a caller mutating its ``bytearray``
    afterwards cannot change what is stored. Each write stamps the key with the
    next value of one counter, its version. No method awaits between its checks
    and its writes, so every operation is atomic within the event loop.
    """

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._versions: dict[str, int] = {}
        self._revision = 0
        self._closed = False

    async def get(self, key: str) -> bytes | None:
        self._check_open()
        return self._data.get(checked_key(key))

    async def get_versioned(self, key: str) -> Versioned:
        self._check_open()
        key = checked_key(key)
        value = self._data.get(key)
        return ABSENT if value is None else Versioned(value, self._version(key))

    async def put(self, key: str, value: bytes) -> None:
        self._check_open()
        self._apply([Put(checked_key(key), copied_value(value))])

    async def delete(self, key: str) -> None:
        self._check_open()
        self._apply([Delete(checked_key(key))])

    async def list(self, prefix: str) -> list[str]:
        self._check_open()
        return children(checked_key(prefix), self._data)

    async def batch(self, ops: Sequence[BatchOp]) -> None:
        self._check_open()
        self._apply([checked_op(op) for op in ops])  # all or nothing: validate first

    async def transaction(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bool:
        self._check_open()
        valid_checks = [checked_check(c) for c in checks]
        valid_ops = [checked_op(op) for op in ops]
        if any(self._version(c.key) != c.version for c in valid_checks):
            return False
        self._apply(valid_ops)
        return True

    def _version(self, key: str) -> int:
        if key not in self._data:
            return 0
        version = self._versions.get(key)
        if version is None:  # put into ``_data`` by a test that reached in: version it now
            self._revision += 1
            version = self._versions[key] = self._revision
        return version

    def _apply(self, ops: Sequence[BatchOp]) -> None:
        self._revision += 1
        for op in ops:
            if isinstance(op, Put):
                self._data[op.key] = op.value
                self._versions[op.key] = self._revision
            else:
                self._data.pop(op.key, None)
                self._versions.pop(op.key, None)

    async def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise BackendClosed()


def children(prefix: str, keys: Iterable[str]) -> list[str]:
    """The names directly below ``prefix``, folders once with a trailing ``/``, sorted."""
    names: set[str] = set()
    start = len(prefix)
    for key in keys:
        if len(key) > start and key.startswith(prefix):
            slash = key.find("/", start)
            names.add(key[start:] if slash < 0 else key[start : slash + 1])
    return sorted(names)
