"""Build a real Core over in-memory storage with a frozen clock, and send it requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warden.auth.token import factory as token_factory
from warden.core.core import Core
from warden.core.registry import Registry
from warden.logical.clock import FrozenClock
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.storage.base import PhysicalBackend
from warden.storage.memory import MemoryBackend


@dataclass
class Kit:
    core: Core
    clock: FrozenClock
    root: str

    async def call(self, op: Operation, path: str, as_token: str | None = None,
                   **data: Any) -> Response | None:
        return await self.core.handle_request(
            Request(operation=op, path=path, data=data,
                    client_token=self.root if as_token is None else as_token))

    async def token(self, **data: Any) -> str:
        resp = await self.call(Operation.UPDATE, "auth/token/create", **data)
        assert resp is not None and resp.auth is not None
        return resp.auth.client_token

    async def policy(self, name: str, hcl: str) -> None:
        await self.call(Operation.UPDATE, f"sys/policy/{name}", policy=hcl)


async def unsealed_core(physical: PhysicalBackend | None = None, **registry: Any) -> Kit:
    clock = FrozenClock()
    core = Core(physical or MemoryBackend(),
                Registry(auth={"token": token_factory}, secrets=registry.get("secrets", {})),
                clock=clock)
    result = await core.initialize(1, 1)
    await core.unseal(result.keys[0])
    return Kit(core=core, clock=clock, root=result.root_token)

