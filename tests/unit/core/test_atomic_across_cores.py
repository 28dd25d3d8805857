"""Use counts hold across processes and nodes: two Cores share one store and nothing else.

Each Core stands for a process or node: separate caches, separate in-process locks. The
store's check-and-set is the only thing they share, so these tests fail on any use count
decided in process memory.
"""

from __future__ import annotations

import asyncio

from support.corekit import Kit
from support.yielding import YieldingMemory
from warden.auth.token import factory as token_factory
from warden.core.core import Core
from warden.core.registry import Registry
from warden.logical.clock import FrozenClock
from warden.logical.errors import InvalidRequest, PermissionDenied
from warden.logical.operation import Operation

R, U = Operation.READ, Operation.UPDATE


async def two_cores() -> tuple[Kit, Kit]:
    shared, clock = YieldingMemory(), FrozenClock()
    cores = [Core(shared, Registry(auth={"token": token_factory}), clock=clock) for _ in range(2)]
    result = await cores[0].initialize(1, 1)
    for core in cores:
        await core.unseal(result.keys[0])
    return Kit(cores[0], clock, result.root_token), Kit(cores[1], clock, result.root_token)


async def test_a_limited_use_token_is_spent_exactly_num_uses_times_across_two_cores() -> None:
    first, second = await two_cores()
    for trial in range(5):
        token = await first.token(num_uses=3, policies=["default"])

        async def lookup(kit: Kit, token: str = token) -> bool:
            try:
                await kit.call(R, "auth/token/lookup-self", as_token=token)
            except PermissionDenied:
                return False
            return True

        results = await asyncio.gather(*(lookup(first if i % 2 else second) for i in range(24)))
        assert sum(results) == 3, f"trial {trial}: {sum(results)} requests used a 3-use token"


async def test_a_wrapped_response_is_unwrapped_once_across_two_cores() -> None:
    first, second = await two_cores()
    for trial in range(5):
        wrapped = await first.core.handle_request(_wrap_request(first.root))
        assert wrapped is not None and wrapped.wrap_info is not None
        token = wrapped.wrap_info.token

        async def unwrap(kit: Kit, token: str = token) -> bool:
            try:
                await kit.call(U, "sys/wrapping/unwrap", as_token=token)
            except (InvalidRequest, PermissionDenied):
                return False
            return True

        results = await asyncio.gather(*(unwrap(first if i % 2 else second) for i in range(16)))
        assert sum(results) == 1, f"trial {trial}: unwrapped {sum(results)} times"


def _wrap_request(root: str):  # type: ignore[no-untyped-def]
    from warden.logical.request import Request

    return Request(operation=U, path="sys/wrapping/wrap", data={"secret": "s3cr3t"},
                   client_token=root, wrap_ttl=300)
