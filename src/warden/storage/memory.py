"""A dict-backed physical backend for tests and throwaway (``-dev``) servers."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence

from warden.logical.storage import BatchOp, Put, page_after
from warden.storage.base import BackendClosed, checked_key, checked_op, copied_value


class MemoryBackend:
    """Keeps everything in one dict; nothing survives the process.

    Values are copied on the way in, so a caller mutating its ``bytearray``
    afterwards cannot change what is stored.
    """

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._closed = False

    async def get(self, key: str) -> bytes | None:
        self._check_open()
        return self._data.get(checked_key(key))

    async def put(self, key: str, value: bytes) -> None:
        self._check_open()
        self._data[checked_key(key)] = copied_value(value)

    async def delete(self, key: str) -> None:
        self._check_open()
        self._data.pop(checked_key(key), None)

    async def list(self, prefix: str) -> list[str]:
        self._check_open()
        return children(checked_key(prefix), self._data)

    async def list_page(self, prefix: str, after: str, limit: int) -> builtins.list[str]:
        self._check_open()
        return page_after(children(checked_key(prefix), self._data), checked_key(after), limit)

    async def count(self, prefix: str, start: str = "", end: str = "") -> int:
        self._check_open()
        return count_in(checked_key(prefix), checked_key(start), checked_key(end), self._data)

    async def batch(self, ops: Sequence[BatchOp]) -> None:
        self._check_open()
        checked = [checked_op(op) for op in ops]  # all or nothing: validate first
        for op in checked:
            if isinstance(op, Put):
                self._data[op.key] = op.value
            else:
                self._data.pop(op.key, None)

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


def count_in(prefix: str, start: str, end: str, keys: Iterable[str]) -> int:
    """How many of ``keys`` are below ``prefix`` with ``start <= rest < end`` (see Storage.count)."""
    low, high, size = prefix + start, prefix + end, len(prefix)
    return sum(1 for key in keys
               if len(key) > size and key.startswith(prefix) and key >= low and (not end or key < high))
