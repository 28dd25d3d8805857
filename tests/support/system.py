"""A SystemView for unit tests of engines and auth methods: frozen clock, fixed TTLs."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from warden.logical.clock import FrozenClock


@dataclass
class FakeSystem:
    frozen: FrozenClock = field(default_factory=FrozenClock)
    default_ttl: int = 3600
    max_ttl: int = 86400
    sudo: bool = False
    randbytes: Callable[[int], bytes] = os.urandom

    @property
    def clock(self) -> FrozenClock:
        return self.frozen

    def default_lease_ttl(self) -> int:
        return self.default_ttl

    def max_lease_ttl(self) -> int:
        return self.max_ttl

    def random_bytes(self, n: int) -> bytes:
        return self.randbytes(n)

    async def sudo_privilege(self, path: str, policies: tuple[str, ...]) -> bool:
        return self.sudo

    @property
    def token_store(self) -> None:
        return None
