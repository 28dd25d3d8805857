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

    def hash(self, value: str, memo: dict[str, str] | None = None) -> str:
        """``memo`` (one request's records share one) saves hashing a value twice: the
        client token, its accessor and the issuing CA each appear several times."""
        if memo is not None:
            known = memo.get(value)
            if known is not None:
                return known
        mac = self._keyed.copy()
        mac.update(value.encode())
        hashed = PREFIX + mac.hexdigest()
        if memo is not None:
            memo[value] = hashed
        return hashed

    def hash_structure(self, value: Any, *, skip: Collection[str] = (),
                       memo: dict[str, str] | None = None) -> Any:
        """Every string inside ``value`` hashed; keys in ``skip`` keep their values (top level)."""
        if isinstance(value, str):
            return self.hash(value, memo)
        if isinstance(value, dict):
            return {k: (v if k in skip else self.hash_structure(v, memo=memo))
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.hash_structure(v, memo=memo) for v in value]
        return value
