"""A dict-backed physical backend for tests and throwaway (``-dev``) servers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from warden.logical.storage import BatchOp, Put
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
