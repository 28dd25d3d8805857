"""HMAC-SHA256 of secret strings, as Vault's audit ``hmac-sha256:<hex>`` values."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from typing import Any

PREFIX = "hmac-sha256:"


class Hasher:
    __slots__ = ("_keyed",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("audit HMAC key too short")
        # Keyed once; copying the keyed state skips the key schedule for every value.
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def hash(self, value: str) -> str:
        mac = self._keyed.copy()
        mac.update(value.encode())
        return PREFIX + mac.hexdigest()

    def hash_structure(self, value: Any, *, skip: Collection[str] = ()) -> Any:
        """Every string inside ``value`` hashed; keys in ``skip`` keep their values (top level)."""
        if isinstance(value, dict):
            return {k: (v if k in skip else self.hash_structure(v)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.hash_structure(v) for v in value]
        if isinstance(value, str):
            return self.hash(value)
        return value
