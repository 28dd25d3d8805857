"""The storage contract every layer above the physical drivers speaks.

Keys are ``/``-separated strings; values are bytes. ``list(prefix)`` returns the
names directly below ``prefix``; a name that has further keys below it is
returned once with a trailing ``/`` (Vault's semantics). ``batch`` applies all
of its operations atomically: either every one is durable or none is.

Two range reads let an index keyed in sort order (e.g. by a zero-padded time) be read a
page at a time and counted without reading every key: ``list_page`` is Vault's
``ListPage`` (the names of ``list``, only those after ``after``, at most ``limit``), and
``count`` counts the keys below a prefix in a half-open range of their remainders.
"""

from __future__ import annotations

import bisect
import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


BatchOp = Put | Delete


class Storage(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def list(self, prefix: str) -> list[str]: ...

    async def batch(self, ops: Sequence[BatchOp]) -> None: ...

    async def list_page(self, prefix: str, after: str, limit: int) -> builtins.list[str]:
        """The names ``list(prefix)`` returns that sort after ``after``, at most ``limit``
        of them (``limit`` <= 0: all)."""
        ...

    async def count(self, prefix: str, start: str = "", end: str = "") -> int:
        """How many keys below ``prefix`` (at any depth) have ``start <= rest < end``, where
        ``rest`` is the key without ``prefix`` (``end`` empty: no upper bound)."""
        ...


def page_after(names: Sequence[str], after: str, limit: int) -> list[str]:
    """``list_page`` over an already sorted listing."""
    start = bisect.bisect_right(names, after) if after else 0
    return list(names[start:start + limit] if limit > 0 else names[start:])


def encode_json(value: Any) -> bytes:
    return orjson.dumps(value)


async def get_json(storage: Storage, key: str) -> Any | None:
    raw = await storage.get(key)
    return None if raw is None else orjson.loads(raw)


async def put_json(storage: Storage, key: str, value: Any) -> None:
    await storage.put(key, orjson.dumps(value))


async def scan(storage: Storage, prefix: str = "") -> list[str]:
    """Every key below ``prefix`` (recursively), relative to ``prefix``."""
    found: list[str] = []
    pending = [""]
    while pending:
        sub = pending.pop()
        for name in await storage.list(prefix + sub):
            if name.endswith("/"):
                pending.append(sub + name)
            else:
                found.append(sub + name)
    return sorted(found)


async def clear(storage: Storage, prefix: str = "") -> None:
    """Delete every key below ``prefix`` in one atomic batch."""
    keys = await scan(storage, prefix)
    if keys:
        await storage.batch([Delete(prefix + k) for k in keys])
