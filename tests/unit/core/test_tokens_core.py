"""Token lifecycle through the real pipeline: TTLs, periods, roles, trees, use limits."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from support.corekit import Kit, unsealed_core
from warden.logical.errors import InvalidRequest, PermissionDenied
from warden.logical.operation import Operation
from warden.logical.storage import BatchOp, Check
from warden.storage.base import StorageReadOnly
from warden.storage.memory import MemoryBackend

R, U, L = Operation.READ, Operation.UPDATE, Operation.LIST


@pytest.fixture
async def kit() -> Kit:
    return await unsealed_core()


async def test_ttl_expiry_makes_the_token_useless(kit: Kit) -> None:
    token = await kit.token(ttl="1h")
    assert await kit.call(R, "auth/token/lookup-self", as_token=token)
    kit.clock.advance(3599)
    assert await kit.call(R, "auth/token/lookup-self", as_token=token)
    kit.clock.advance(2)
    with pytest.raises(PermissionDenied):
        await kit.call(R, "auth/token/lookup-self", as_token=token)


async def test_ttl_is_capped_by_explicit_max_and_renewal_stops_there(kit: Kit) -> None:
    token = await kit.token(ttl="1h", explicit_max_ttl="90m")
    kit.clock.advance(3000)
    resp = await kit.call(U, "auth/token/renew-self", as_token=token, increment="1h")
    assert resp is not None and resp.auth is not None
    assert resp.auth.lease_duration == 90 * 60 - 3000
    kit.clock.advance(90 * 60 - 3000)
    with pytest.raises(PermissionDenied):
        await kit.call(R, "auth/token/lookup-self", as_token=token)


async def test_periodic_token_renews_to_its_period_forever(kit: Kit) -> None:
    token = await kit.token(period="1h", policies=["default"])
    for _ in range(30):  # many periods: each renewal grants the full period again
        kit.clock.advance(3000)
        resp = await kit.call(U, "auth/token/renew-self", as_token=token)
        assert resp is not None and resp.auth is not None
        assert resp.auth.lease_duration == 3600
    kit.clock.advance(3601)
    with pytest.raises(PermissionDenied):
        await kit.call(R, "auth/token/lookup-self", as_token=token)


CREATOR = 'path "auth/token/create" { capabilities = ["update"] }'


async def test_revoking_a_parent_revokes_children_but_not_orphans(kit: Kit) -> None:
    await kit.policy("creator", CREATOR)
    parent = await kit.token(policies=["creator"])
    child = await kit.call(U, "auth/token/create", as_token=parent, policies=["creator"])
    orphan = await kit.call(U, "auth/token/create-orphan", as_token=kit.root, policies=["default"])
    assert child is not None and child.auth is not None and orphan is not None
    assert orphan.auth is not None and orphan.auth.orphan
    grandchild = await kit.call(U, "auth/token/create", as_token=child.auth.client_token,
                                policies=["default"])
    assert grandchild is not None and grandchild.auth is not None
    await kit.call(U, "auth/token/revoke", as_token=kit.root, token=parent)
    for gone in (parent, child.auth.client_token, grandchild.auth.client_token):
        with pytest.raises(PermissionDenied):
            await kit.call(R, "auth/token/lookup-self", as_token=gone)
    assert await kit.call(R, "auth/token/lookup-self", as_token=orphan.auth.client_token)


async def test_revoke_orphan_keeps_the_children(kit: Kit) -> None:
    await kit.policy("creator", CREATOR)
    parent = await kit.token(policies=["creator"])
    child = await kit.call(U, "auth/token/create", as_token=parent)
    assert child is not None and child.auth is not None
    await kit.call(U, "auth/token/revoke-orphan", token=parent)
    looked = await kit.call(R, "auth/token/lookup-self", as_token=child.auth.client_token)
    assert looked is not None and looked.data is not None and looked.data["orphan"] is True


async def test_num_uses_is_exhausted_then_the_token_is_gone(kit: Kit) -> None:
    token = await kit.token(num_uses=2, policies=["default"])
    first = await kit.call(R, "auth/token/lookup-self", as_token=token)
    assert first is not None and first.data is not None and first.data["num_uses"] == 1
    await kit.call(R, "auth/token/lookup-self", as_token=token)
    with pytest.raises(PermissionDenied):
        await kit.call(R, "auth/token/lookup-self", as_token=token)


async def test_child_policies_must_be_a_subset_of_the_parents(kit: Kit) -> None:
    await kit.policy("a", 'path "auth/token/create" { capabilities = ["update"] }')
    parent = await kit.token(policies=["a"])
    with pytest.raises(PermissionDenied, match="subset"):
        await kit.call(U, "auth/token/create", as_token=parent, policies=["b"])
    resp = await kit.call(U, "auth/token/create", as_token=parent, policies=["a"])
    assert resp is not None and resp.auth is not None
    assert resp.auth.policies == ["a", "default"]


async def test_role_constraints_allow_and_refuse(kit: Kit) -> None:
    await kit.call(U, "auth/token/roles/k8s-c1", period="720h", orphan=True,
                   allowed_policies="c1/etcd,c1/apiserver", disallowed_policies="admin")
    resp = await kit.call(U, "auth/token/create/k8s-c1", policies=["c1/etcd"])
    assert resp is not None and resp.auth is not None
    assert resp.auth.orphan and resp.auth.lease_duration == 720 * 3600
    assert resp.auth.policies == ["c1/etcd", "default"]
    with pytest.raises(InvalidRequest, match="disallowed"):
        await kit.call(U, "auth/token/create/k8s-c1", policies=["admin"])
    with pytest.raises(InvalidRequest, match="allowed policies"):
        await kit.call(U, "auth/token/create/k8s-c1", policies=["other"])
    with pytest.raises(InvalidRequest, match="unknown role"):
        await kit.call(U, "auth/token/create/nope")


async def test_only_root_or_sudo_may_create_orphans_or_periodic_tokens(kit: Kit) -> None:
    await kit.policy("creator", 'path "auth/token/create" { capabilities = ["update"] }')
    creator = await kit.token(policies=["creator"])
    with pytest.raises(PermissionDenied, match="orphan"):
        await kit.call(U, "auth/token/create", as_token=creator, no_parent=True)
    with pytest.raises(PermissionDenied, match="periodic"):
        await kit.call(U, "auth/token/create", as_token=creator, period="1h")
    with pytest.raises(PermissionDenied):
        await kit.call(U, "auth/token/create", as_token=creator, policies=["root"])


async def test_lookup_accessor_hides_the_token_and_revoke_accessor_works(kit: Kit) -> None:
    resp = await kit.call(U, "auth/token/create", policies=["default"])
    assert resp is not None and resp.auth is not None
    looked = await kit.call(U, "auth/token/lookup-accessor", accessor=resp.auth.accessor)
    assert looked is not None and looked.data is not None and looked.data["id"] == ""
    await kit.call(U, "auth/token/revoke-accessor", accessor=resp.auth.accessor)
    with pytest.raises(PermissionDenied):
        await kit.call(R, "auth/token/lookup-self", as_token=resp.auth.client_token)


async def test_tokens_are_stored_only_as_hashes(kit: Kit) -> None:
    token = await kit.token(policies=["default"])
    physical = kit.core.physical
    for key in await _all_keys(physical):
        raw = await physical.get(key)
        assert raw is not None and token.encode() not in raw
        assert token not in key


async def _all_keys(storage: object) -> list[str]:
    from warden.logical.storage import scan

    return await scan(storage)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["auth/token/create", "auth/token/create-orphan",
                                  "auth/token/create/limited-role"])
async def test_a_use_limited_token_cannot_create_children(kit: Kit, path: str) -> None:
    await kit.policy("creator", 'path "auth/token/create*" { capabilities = ["update", "sudo"] }')
    await kit.call(U, "auth/token/roles/limited-role", allowed_policies="creator")
    for uses in (3, 1):  # limited with uses to spare, and on its very last use
        token = await kit.token(policies=["creator"], num_uses=uses)
        with pytest.raises(InvalidRequest,
                           match=r"^restricted use token cannot generate child tokens$"):
            await kit.call(U, path, as_token=token, policies=["creator"], num_uses=0)
    unlimited = await kit.token(policies=["creator"])
    assert await kit.call(U, path, as_token=unlimited, policies=["creator"])


class _WritesRefused(MemoryBackend):
    """A store whose disk filled up: reads work, writes fail as the read-only SQLite store's do."""

    refuse = False

    async def put(self, key: str, value: bytes) -> None:
        if self.refuse:
            raise StorageReadOnly("storage is read-only: the disk is full (test)")
        await super().put(key, value)

    async def delete(self, key: str) -> None:
        await self.put(key, b"")

    async def batch(self, ops: Sequence[BatchOp]) -> None:
        if self.refuse:
            raise StorageReadOnly("storage is read-only: the disk is full (test)")
        await super().batch(ops)

    async def transaction(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bool:
        if self.refuse:
            raise StorageReadOnly("storage is read-only: the disk is full (test)")
        return await super().transaction(checks, ops)


async def test_an_expired_token_is_refused_even_if_its_revocation_cannot_be_stored() -> None:
    storage = _WritesRefused()
    kit = await unsealed_core(physical=storage)
    token = await kit.token(ttl="1h", policies=["default"])
    kit.clock.advance(3601)
    storage.refuse = True
    with pytest.raises(PermissionDenied):  # not the storage's 503: the token is simply expired
        await kit.call(R, "auth/token/lookup-self", as_token=token)
    with pytest.raises(PermissionDenied):
        await kit.call(R, "auth/token/lookup-self", as_token=token)
