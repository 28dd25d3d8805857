"""Response wrapping, the lease manager and login-token renewal, through the real core."""

from __future__ import annotations

from typing import Any

import pytest

from support.corekit import Kit, unsealed_core
from warden.framework import Backend, Field, FieldData, FieldType, Path, SecretType
from warden.logical.backend import BackendConfig, BackendType, SpecialPaths
from warden.logical.errors import InvalidRequest, PermissionDenied
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Auth, Response, Secret

R, U, L = Operation.READ, Operation.UPDATE, Operation.LIST


class Recorder:
    """A secrets engine handing out leased 'things' and recording their revocation."""

    def __init__(self) -> None:
        self.revoked: list[str] = []
        self.broken = False  # revocations fail (the system behind the leases is gone)

    def factory(self, conf: BackendConfig) -> Backend:
        async def issue(req: Request, data: FieldData) -> Response:
            name = data.get("name")
            return Response(data={"name": name}, secret=Secret(
                ttl=data.get("ttl") or 600, renewable=True,
                internal_data={"secret_type": "thing", "name": name}))

        async def revoke(req: Request) -> None:
            assert req.secret is not None
            if self.broken:
                raise RuntimeError("the thing cannot be reached")
            self.revoked.append(req.secret.internal_data["name"])

        return Backend(
            paths=[Path("issue/(?P<name>\\w+)", fields={
                "name": Field(FieldType.STRING), "ttl": Field(FieldType.DURATION)},
                operations={U: issue})],
            secrets=[SecretType("thing", revoke=revoke)],
        )


class Login:
    """An auth method whose role can be changed between login and renewal."""

    def __init__(self) -> None:
        self.policies = ["app"]
        self.max_ttl = 7200

    def factory(self, conf: BackendConfig) -> Backend:
        async def login(req: Request, data: FieldData) -> Response:
            return Response(auth=Auth(policies=list(self.policies), ttl=3600,
                                      max_ttl=self.max_ttl, display_name="me"))

        async def renew(req: Request) -> Auth:
            return Auth(policies=list(self.policies), ttl=3600, max_ttl=self.max_ttl)

        return Backend(paths=[Path("login", operations={U: login})],
                       backend_type=BackendType.CREDENTIAL,
                       special_paths=SpecialPaths(unauthenticated=("login",)),
                       auth_renew=renew)


@pytest.fixture
async def kit() -> Kit:
    return await unsealed_core()


async def _wrapped(kit: Kit, path: str, ttl: int = 60, **data: Any) -> str:
    resp = await kit.core.handle_request(Request(U, path, data=data, client_token=kit.root,
                                                 wrap_ttl=ttl))
    assert resp is not None and resp.wrap_info is not None and resp.data is None
    return resp.wrap_info.token


async def test_a_wrapped_token_unwraps_exactly_once(kit: Kit) -> None:
    wrapping = await _wrapped(kit, "auth/token/create", policies=["default"])
    looked = await kit.call(U, "sys/wrapping/lookup", as_token="", token=wrapping)
    assert looked is not None and looked.data is not None
    assert looked.data["creation_path"] == "auth/token/create"
    inner = await kit.call(U, "sys/wrapping/unwrap", as_token=wrapping)
    assert inner is not None and inner.auth is not None
    assert await kit.call(R, "auth/token/lookup-self", as_token=inner.auth.client_token)
    with pytest.raises(InvalidRequest, match="wrapping token is not valid"):
        await kit.call(U, "sys/wrapping/unwrap", as_token=wrapping)


async def test_an_expired_wrapping_token_fails_clearly(kit: Kit) -> None:
    wrapping = await _wrapped(kit, "sys/wrapping/wrap", ttl=30, secret="value")
    kit.clock.advance(31)
    with pytest.raises(InvalidRequest, match="wrapping token is not valid"):
        await kit.call(U, "sys/wrapping/unwrap", as_token="", token=wrapping)


async def test_wrap_and_rewrap_arbitrary_data(kit: Kit) -> None:
    resp = await kit.call(U, "sys/wrapping/wrap", secret="value")
    assert resp is not None and resp.wrap_info is not None and resp.wrap_info.ttl == 300
    moved = await kit.call(U, "sys/wrapping/rewrap", as_token="", token=resp.wrap_info.token)
    assert moved is not None and moved.wrap_info is not None
    with pytest.raises(InvalidRequest):
        await kit.call(U, "sys/wrapping/unwrap", as_token="", token=resp.wrap_info.token)
    inner = await kit.call(U, "sys/wrapping/unwrap", as_token="", token=moved.wrap_info.token)
    assert inner is not None and inner.data == {"secret": "value"}


async def test_a_wrapping_token_can_do_nothing_else(kit: Kit) -> None:
    wrapping = await _wrapped(kit, "sys/wrapping/wrap", secret="value")
    with pytest.raises(PermissionDenied):
        await kit.call(R, "sys/mounts", as_token=wrapping)


async def _with_recorder(kit: Kit) -> Recorder:
    rec = Recorder()
    kit.core.registry.secrets["things"] = rec.factory  # type: ignore[index]
    await kit.call(U, "sys/mounts/things", type="things")
    return rec


async def test_leases_expire_and_call_the_backend(kit: Kit) -> None:
    rec = await _with_recorder(kit)
    resp = await kit.call(U, "things/issue/a", ttl="10m")
    assert resp is not None and resp.secret is not None
    assert resp.secret.lease_id.startswith("things/issue/a/")
    looked = await kit.call(U, "sys/leases/lookup", lease_id=resp.secret.lease_id)
    assert looked is not None and looked.data is not None and looked.data["ttl"] == 600
    kit.clock.advance(599)
    assert await kit.core.leases.expire_due() == 0
    kit.clock.advance(2)
    assert await kit.core.leases.expire_due() == 1
    assert rec.revoked == ["a"]
    with pytest.raises(InvalidRequest, match="invalid lease"):
        await kit.call(U, "sys/leases/lookup", lease_id=resp.secret.lease_id)


async def test_renew_within_mount_max_then_revoke_prefix(kit: Kit) -> None:
    rec = await _with_recorder(kit)
    await kit.call(U, "sys/mounts/things/tune", max_lease_ttl="20m")
    leases = []
    for name in ("a", "b"):
        resp = await kit.call(U, f"things/issue/{name}", ttl="10m")
        assert resp is not None and resp.secret is not None
        leases.append(resp.secret.lease_id)
    kit.clock.advance(900)
    renewed = await kit.call(U, "sys/leases/renew", lease_id=leases[0], increment="1h")
    assert renewed is not None and renewed.secret is not None and renewed.secret.ttl == 300
    await kit.call(U, "sys/leases/revoke-prefix/things/issue")
    assert sorted(rec.revoked) == ["a", "b"]


async def test_revoke_force_removes_leases_the_backend_cannot_revoke(kit: Kit) -> None:
    rec = await _with_recorder(kit)
    for name in ("a", "b"):
        await kit.call(U, f"things/issue/{name}")
    rec.broken = True
    with pytest.raises(RuntimeError):
        await kit.call(U, "sys/leases/revoke-prefix/things/issue")
    assert len(await kit.core.leases.list_prefix("things/issue")) == 2  # nothing was dropped
    await kit.call(U, "sys/leases/revoke-force/things/issue")
    assert await kit.core.leases.list_prefix("things/issue") == []
    assert rec.revoked == []


async def test_revoking_a_token_revokes_its_leases_and_unmount_revokes_the_rest(kit: Kit) -> None:
    rec = await _with_recorder(kit)
    await kit.policy("issuer", 'path "things/issue/*" { capabilities = ["update"] }')
    token = await kit.token(policies=["issuer"])
    await kit.call(U, "things/issue/mine", as_token=token)
    await kit.call(U, "things/issue/roots")
    await kit.call(U, "auth/token/revoke-self", as_token=token)
    assert rec.revoked == ["mine"]
    await kit.call(Operation.DELETE, "sys/mounts/things")
    assert rec.revoked == ["mine", "roots"]


async def test_login_tokens_renew_within_the_auth_methods_limits(kit: Kit) -> None:
    login = Login()
    kit.core.registry.auth["fake"] = login.factory  # type: ignore[index]
    await kit.call(U, "sys/auth/fake", type="fake")
    await kit.policy("app", 'path "sys/mounts" { capabilities = ["read"] }')
    resp = await kit.call(U, "auth/fake/login", as_token="")
    assert resp is not None and resp.auth is not None
    token = resp.auth.client_token
    assert resp.auth.policies == ["app", "default"] and resp.auth.lease_duration == 3600
    kit.clock.advance(3000)
    renewed = await kit.call(U, "auth/token/renew-self", as_token=token)
    assert renewed is not None and renewed.auth is not None
    assert renewed.auth.lease_duration == 3600
    login.max_ttl = 3600 + 1800  # the role was tightened: the cap counts from creation
    kit.clock.advance(1000)
    renewed = await kit.call(U, "auth/token/renew-self", as_token=token)
    assert renewed is not None and renewed.auth is not None
    assert renewed.auth.lease_duration == 5400 - 4000
    login.policies = ["other"]
    with pytest.raises(InvalidRequest, match="policies have changed"):
        await kit.call(U, "auth/token/renew-self", as_token=token)
