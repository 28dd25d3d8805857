"""The request pipeline: sealed, unknown routes, ACL before any backend, sudo, mounts."""

from __future__ import annotations

import pytest

from support.corekit import Kit, unsealed_core
from warden.framework import Backend
from warden.logical.errors import InvalidRequest, PermissionDenied, Sealed, UnsupportedPath
from warden.logical.operation import Operation
from warden.logical.request import Request

R, U, L, D = Operation.READ, Operation.UPDATE, Operation.LIST, Operation.DELETE


@pytest.fixture
async def kit() -> Kit:
    return await unsealed_core()


async def test_sealed_core_refuses_everything(kit: Kit) -> None:
    await kit.core.seal_vault()
    with pytest.raises(Sealed):
        await kit.call(R, "auth/token/lookup-self")


async def test_unknown_route_and_missing_token(kit: Kit) -> None:
    with pytest.raises(UnsupportedPath, match="no handler for route"):
        await kit.call(R, "nowhere/at/all")
    with pytest.raises(PermissionDenied):
        await kit.core.handle_request(Request(R, "auth/token/lookup-self"))


async def test_policy_decides_and_deny_wins(kit: Kit) -> None:
    await kit.policy("narrow", """
        path "sys/policy/*" { capabilities = ["read"] }
        path "sys/policy/secret-one" { capabilities = ["deny"] }
    """)
    token = await kit.token(policies=["narrow"])
    await kit.policy("secret-one", 'path "x" { capabilities = ["read"] }')
    assert await kit.call(R, "sys/policy/narrow", as_token=token)
    with pytest.raises(PermissionDenied):
        await kit.call(R, "sys/policy/secret-one", as_token=token)
    with pytest.raises(PermissionDenied):
        await kit.call(U, "sys/policy/narrow", as_token=token, policy="")


async def test_policy_change_takes_effect_at_once(kit: Kit) -> None:
    await kit.policy("p", 'path "sys/mounts" { capabilities = ["read"] }')
    token = await kit.token(policies=["p"])
    assert await kit.call(R, "sys/mounts", as_token=token)
    await kit.policy("p", 'path "sys/auth" { capabilities = ["read"] }')
    with pytest.raises(PermissionDenied):
        await kit.call(R, "sys/mounts", as_token=token)


async def test_sudo_paths_need_sudo(kit: Kit) -> None:
    await kit.policy("nosudo", 'path "sys/auth/*" { capabilities = ["create", "update"] }')
    await kit.policy("sudo", 'path "sys/auth/*" { capabilities = ["create", "update", "sudo"] }')
    plain = await kit.token(policies=["nosudo"])
    with pytest.raises(PermissionDenied):
        await kit.call(U, "sys/auth/tok2", as_token=plain, type="token")
    strong = await kit.token(policies=["sudo"])
    with pytest.raises(InvalidRequest, match="cannot be instantiated"):
        await kit.call(U, "sys/auth/tok2", as_token=strong, type="token")


async def test_mounts_refuse_nesting_reserved_paths_and_unknown_types(kit: Kit) -> None:
    core = kit.core
    core.registry.secrets["dummy"] = lambda conf: Backend(paths=[])  # type: ignore[index]
    await kit.call(U, "sys/mounts/nyc1/pki/etcd", type="dummy")
    with pytest.raises(InvalidRequest, match="already in use"):
        await kit.call(U, "sys/mounts/nyc1/pki", type="dummy")
    with pytest.raises(InvalidRequest, match="already in use"):
        await kit.call(U, "sys/mounts/nyc1/pki/etcd/sub", type="dummy")
    with pytest.raises(InvalidRequest, match="reserved"):
        await kit.call(U, "sys/mounts/sys/evil", type="dummy")
    with pytest.raises(InvalidRequest, match="plugin not found"):
        await kit.call(U, "sys/mounts/foo", type="nosuchtype")
    mounts = await kit.call(R, "sys/mounts")
    assert mounts is not None and mounts.data is not None and "nyc1/pki/etcd/" in mounts.data


async def test_tune_changes_ttls_live_and_validates(kit: Kit) -> None:
    await kit.call(U, "sys/auth/token/tune", max_lease_ttl="2h", default_lease_ttl="1h")
    resp = await kit.call(U, "auth/token/create", policies=["default"], ttl="10h")
    assert resp is not None and resp.auth is not None and resp.auth.lease_duration == 7200
    with pytest.raises(InvalidRequest, match="greater than"):
        await kit.call(U, "sys/auth/token/tune", default_lease_ttl="3h")
    tune = await kit.call(R, "sys/auth/token/tune")
    assert tune is not None and tune.data is not None and tune.data["max_lease_ttl"] == 7200


async def test_capabilities_self(kit: Kit) -> None:
    await kit.policy("p", 'path "secret/data/*" { capabilities = ["read", "list"] }')
    token = await kit.token(policies=["p"])
    resp = await kit.call(U, "sys/capabilities-self", as_token=token, paths=["secret/data/x"])
    assert resp is not None and resp.data is not None
    assert resp.data["capabilities"] == ["list", "read"]


async def test_unknown_route_needs_a_valid_token_first(kit: Kit) -> None:
    with pytest.raises(PermissionDenied):
        await kit.call(R, "nowhere/at/all", as_token="bogus")
    await kit.policy("narrow", 'path "sys/mounts" { capabilities = ["read"] }')
    narrow = await kit.token(policies=["narrow"])
    with pytest.raises(PermissionDenied):
        await kit.call(R, "nowhere/at/all", as_token=narrow)
