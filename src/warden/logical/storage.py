"""The storage contract every layer above the physical drivers speaks.

Keys are ``/``-separated strings; values are bytes. ``list(prefix)`` returns the
names directly below ``prefix``; a name that has further keys below it is
returned once with a trailing ``/`` (Vault's semantics). ``batch`` applies all
of its operations atomically: either every one is durable or none is.

Atomic read-modify-write, the project's one way to do it (use counts, check-and-set,
unwrap-once, keyring changes), holds across processes and nodes because it lives in
the store, not in a lock of one process:

- ``get_versioned(key)`` returns the value with its *version*: a positive integer that
  changes on every write of that key and is never reused for it (a deleted and
  re-created key gets a new one), or ``0`` when the key is absent. Versions are opaque:
  compare them only for equality, and only within one store.
- ``transaction(checks, ops)`` applies ``ops`` atomically (as ``batch``) only if every
  ``Check(key, version)`` still holds (``version=0``: the key must be absent), and
  returns whether it did. A False return changed nothing.

``atomic_update`` wraps the usual loop (read, decide, commit if unchanged, else retry).
Through the barrier, versions are those of the stored ciphertext, so no plaintext is
ever compared.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson

from warden.logical.errors import WardenError


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


BatchOp = Put | Delete


@dataclass(frozen=True, slots=True)
class Versioned:
    """A stored value with its version; ``value is None`` and ``version == 0`` when absent."""

    value: bytes | None
    version: int


ABSENT = Versioned(None, 0)


@dataclass(frozen=True, slots=True)
class Check:
    """A transaction's precondition: ``key`` is still at ``version`` (0: absent)."""

    key: str
    version: int


class Storage(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def list(self, prefix: str) -> list[str]: ...

    async def batch(self, ops: Sequence[BatchOp]) -> None: ...

    async def get_versioned(self, key: str) -> Versioned: ...

    async def transaction(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bool: ...


class Contended(WardenError):
    """A read-modify-write lost the race too many times in a row; the client may retry."""

    status = 503

    @classmethod
    def default_message(cls) -> str:
        return "storage is busy: too many concurrent changes to the same entry; retry"


T = TypeVar("T")
Decide = Callable[[bytes | None], Awaitable[tuple[Sequence[BatchOp], T]]]

UPDATE_ATTEMPTS = 64


async def atomic_update(storage: Storage, key: str, decide: Decide[T], *,
                        attempts: int = UPDATE_ATTEMPTS) -> T:
    """Read ``key``, let ``decide(value)`` return ``(ops, result)``, and apply ``ops`` only
    if ``key`` was not changed meanwhile; otherwise read again and decide again.

    ``decide`` may raise to give up (nothing is written) and may return no ops (nothing
    to write; its result is returned). It may be called several times, so it must not
    have side effects beyond its return value. After ``attempts`` lost races this raises
    ``Contended`` (503).
    """
    for attempt in range(attempts):
        current = await storage.get_versioned(key)
        ops, result = await decide(current.value)
        if not ops or await storage.transaction([Check(key, current.version)], ops):
            return result
        if attempt >= 2:  # a hot key: back off a little, with jitter, so racers spread out
            await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** attempt)))
    raise Contended()


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
