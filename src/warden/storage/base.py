"""The seams a physical storage driver fills (Vault's ``sdk/physical``).

A physical backend is "completely untrusted": it only ever sees ciphertext and
key paths. It speaks the logical ``Storage`` protocol (get, put, delete, list,
batch) plus ``close``. HA drivers (etcd) add a named lock for leader election.
"""

from __future__ import annotations

from typing import Protocol

from warden.logical.errors import WardenError
from warden.logical.storage import BatchOp, Check, Delete, Put, Storage


class StorageError(WardenError):
    """The physical store failed to read or write (disk, I/O, driver error)."""

    @classmethod
    def default_message(cls) -> str:
        return "storage error"


class StorageUnavailable(StorageError):
    """The store cannot serve now (no quorum, unreachable, timed out): 503, retry later.

    Nothing was corrupted; a write that raised this may or may not have been applied.
    """

    status = 503

    @classmethod
    def default_message(cls) -> str:
        return "storage is unavailable; retry later"


class StorageReadOnly(StorageError):
    """The store was opened read-only (its disk is full): reads work, writes are refused."""

    status = 503

    @classmethod
    def default_message(cls) -> str:
        return "storage is read-only"


class ValueTooLarge(StorageError):
    """A value exceeds what the configured store accepts (a clear 413, nothing written)."""

    status = 413

    @classmethod
    def default_message(cls) -> str:
        return "value too large for the storage backend"


class BackendClosed(StorageError):
    """An operation was attempted on a backend after ``close()``."""

    @classmethod
    def default_message(cls) -> str:
        return "storage backend is closed"


def checked_key(key: object) -> str:
    """``key`` if it is a string; drivers call this before touching the store."""
    if not isinstance(key, str):
        raise TypeError(f"storage keys must be str, not {type(key).__name__}")
    return key


def copied_value(value: object) -> bytes:
    """An immutable copy of a bytes-like value, so later changes by the caller don't leak in."""
    if isinstance(value, bytes):
        return value  # immutable already
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"storage values must be bytes, not {type(value).__name__}")


def checked_op(op: object) -> BatchOp:
    """A batch operation with its key checked and its value copied."""
    if type(op) is Put and type(op.key) is str and type(op.value) is bytes:
        return op  # immutable already, as the barrier makes them
    if isinstance(op, Put):
        return Put(checked_key(op.key), copied_value(op.value))
    if isinstance(op, Delete):
        return Delete(checked_key(op.key))
    raise TypeError(f"batch operations must be Put or Delete, not {type(op).__name__}")


def checked_check(check: object) -> Check:
    """A transaction precondition with its key and version checked."""
    if not isinstance(check, Check):
        raise TypeError(f"transaction checks must be Check, not {type(check).__name__}")
    if not isinstance(check.version, int) or isinstance(check.version, bool) or check.version < 0:
        raise TypeError("a Check's version must be a non-negative int")
    return Check(checked_key(check.key), check.version)


class PhysicalBackend(Storage, Protocol):
    """A storage driver: the logical Storage protocol plus an orderly shutdown.

    Drivers implement ``get_versioned``/``transaction`` natively (etcd's mod_revision and
    Txn, SQLite's per-row version under one writer, a counter in memory), so a check-and-
    set holds across every process and node sharing the store.

    ``close()`` makes every write that was acknowledged durable and releases
    threads, files and connections; operations afterwards raise BackendClosed.
    """

    async def close(self) -> None: ...


class LockLost(Protocol):
    """Set once a held lock is lost (lease expired, session gone); ``asyncio.Event`` fits."""

    def is_set(self) -> bool: ...

    async def wait(self) -> bool: ...


class Lock(Protocol):
    """One named lock as in Vault's ``physical.Lock``, carrying the holder's value."""

    async def acquire(self) -> LockLost:
        """Block until the lock is held; cancel the call to stop trying.

        Returns a notification that is set when the lock is lost afterwards; the
        holder must then stop acting as leader at once.
        """
        ...

    async def release(self) -> None:
        """Give the lock up; a no-op if it is not held."""
        ...

    async def value(self) -> tuple[bool, str]:
        """Whether anyone holds the lock, and the value the holder stored with it."""
        ...


class HABackend(PhysicalBackend, Protocol):
    """A physical backend that can also elect a leader (Vault's ``HABackend``)."""

    @property
    def ha_enabled(self) -> bool: ...

    def lock_with(self, key: str, value: str) -> Lock:
        """A lock named ``key``; ``value`` (e.g. this node's address) is shown to others."""
        ...
