"""Untrusted physical storage drivers: bytes in, bytes out, no crypto.

Everything stored here has already passed the barrier (``warden.core.barrier``),
except the two plaintext-header entries ``core/seal-config`` and ``core/keyring``.
"""

from __future__ import annotations

from warden.storage.base import (
    BackendClosed,
    HABackend,
    Lock,
    LockLost,
    PhysicalBackend,
    StorageError,
)
from warden.storage.memory import MemoryBackend
from warden.storage.sqlite import SQLiteBackend

__all__ = [
    "BackendClosed",
    "HABackend",
    "Lock",
    "LockLost",
    "MemoryBackend",
    "PhysicalBackend",
    "SQLiteBackend",
    "StorageError",
]
