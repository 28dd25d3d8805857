"""A per-mount HMAC key: credentials (secret-ids, accessors, nonces) are stored only as HMACs."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from warden.logical.storage import Storage

KEY_PATH = "config/hmac-key"
KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class MountKey:
    secret: bytes

    def digest(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 of ``value``, separated by ``purpose`` so one digest never stands for another."""
        msg = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()


class MountKeyLoader:
    """Loads the key from the mount's storage once, creating it on first use."""

    def __init__(self, random_bytes: Callable[[int], bytes]) -> None:
        self._random_bytes = random_bytes
        self._key: MountKey | None = None
        self._lock = asyncio.Lock()

    async def get(self, storage: Storage) -> MountKey:
        if self._key is not None:
            return self._key
        async with self._lock:
            if self._key is None:
                raw = await storage.get(KEY_PATH)
                if raw is None:
                    raw = self._random_bytes(KEY_BYTES)
                    await storage.put(KEY_PATH, raw)
                self._key = MountKey(raw)
            return self._key
