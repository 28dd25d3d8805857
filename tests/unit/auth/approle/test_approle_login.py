"""AppRole login: the Auth it returns, use limits, expiry, CIDR binding, renewal."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from unit.auth.approle.approle_kit import AppRole
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation


async def test_login_returns_the_roles_token_settings(approle: AppRole) -> None:
    role_id = await approle.role(
        "web", token_policies="dev,ops", token_ttl="20m", token_max_ttl="1h",
        token_explicit_max_ttl="2h", token_num_uses=7, token_no_default_policy=True,
        token_bound_cidrs="10.0.0.0/8")
    auth = await approle.login(role_id, (await approle.secret_id())["secret_id"])
    assert auth.policies == ["dev", "ops"] and auth.no_default_policy
    assert (auth.ttl, auth.max_ttl, auth.explicit_max_ttl) == (1200, 3600, 7200)
    assert (auth.num_uses, auth.period, auth.token_type) == (7, 0, "default")  # core decides
    assert auth.bound_cidrs == ["10.0.0.0/8"] and auth.renewable
    assert auth.metadata == {"role_name": "web"}
    assert auth.internal_data["role_name"] == "web"


async def test_periodic_role(approle: AppRole) -> None:
    role_id = await approle.role("web", token_period="30m")
    auth = await approle.login(role_id, (await approle.secret_id())["secret_id"])
    assert auth.period == 1800


@pytest.mark.parametrize("field", ["role_id", "secret_id"])
async def test_wrong_credentials_say_only_invalid(approle: AppRole, field: str) -> None:
    role_id = await approle.role("web")
    sid = (await approle.secret_id())["secret_id"]
    creds = {"role_id": role_id, "secret_id": sid, field: "wrong-value"}
    with pytest.raises(InvalidRequest) as err:
        await approle.login(creds["role_id"], creds["secret_id"])
    assert str(err.value) == "invalid role or secret ID"


async def test_secret_id_of_another_role_is_invalid(approle: AppRole) -> None:
    web = await approle.role("web")
    await approle.role("db")
    sid = (await approle.secret_id("db"))["secret_id"]
    with pytest.raises(InvalidRequest, match="invalid role or secret ID"):
        await approle.login(web, sid)


async def test_missing_fields(approle: AppRole) -> None:
    role_id = await approle.role("web")
    with pytest.raises(InvalidRequest, match="missing role_id"):
        await approle.login("")
    with pytest.raises(InvalidRequest, match="missing secret_id"):
        await approle.login(role_id)


async def test_num_uses_are_spent_and_the_secret_id_deleted_at_zero(approle: AppRole) -> None:
    role_id = await approle.role("web")
    sid = await approle.secret_id(num_uses=2)
    await approle.login(role_id, sid["secret_id"])
    left = await approle.write("role/web/secret-id/lookup", secret_id=sid["secret_id"])
    assert left is not None and left.data is not None and left.data["secret_id_num_uses"] == 1
    await approle.login(role_id, sid["secret_id"])
    assert not [k for k in approle.storage._data if k.startswith(("secret_id/", "accessor/"))]
    with pytest.raises(InvalidRequest, match="invalid role or secret ID"):
        await approle.login(role_id, sid["secret_id"])


async def test_concurrent_logins_never_overspend(approle: AppRole) -> None:
    role_id = await approle.role("web")
    sid = (await approle.secret_id(num_uses=3))["secret_id"]
    results = await asyncio.gather(*(approle.login(role_id, sid) for _ in range(10)),
                                   return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 3
    assert all(isinstance(r, InvalidRequest) for r in results if isinstance(r, BaseException))


async def test_two_mounts_sharing_a_store_never_overspend(approle: AppRole) -> None:
    """A second backend on the same storage stands for another process or node: only the
    store's check-and-set is shared, so the use count must hold there."""
    other = AppRole(storage=approle.storage)
    role_id = await approle.role("web")
    for _ in range(4):
        sid = (await approle.secret_id(num_uses=3))["secret_id"]
        results = await asyncio.gather(
            *((approle if i % 2 else other).login(role_id, sid) for i in range(12)),
            return_exceptions=True)
        assert sum(not isinstance(r, BaseException) for r in results) == 3
        assert all(isinstance(r, InvalidRequest) for r in results if isinstance(r, BaseException))


async def test_secret_id_expires(approle: AppRole) -> None:
    role_id = await approle.role("web", secret_id_ttl="10m")
    sid = (await approle.secret_id())["secret_id"]
    approle.clock.advance(599)
    await approle.login(role_id, sid)
    approle.clock.advance(1)
    with pytest.raises(InvalidRequest, match="invalid role or secret ID"):
        await approle.login(role_id, sid)
    assert not [k for k in approle.storage._data if k.startswith("secret_id/")]


async def test_secret_id_cidr_binding_spends_no_use_from_outside(approle: AppRole) -> None:
    role_id = await approle.role("web")
    sid = (await approle.secret_id(cidr_list="10.1.0.0/16", num_uses=1))["secret_id"]
    with pytest.raises(InvalidRequest, match=r'source address "192\.168\.1\.1" unauthorized'):
        await approle.login(role_id, sid, addr="192.168.1.1")
    with pytest.raises(InvalidRequest, match="unauthorized through CIDR restrictions"):
        await approle.login(role_id, sid, addr="")
    await approle.login(role_id, sid, addr="10.1.2.3")


async def test_role_cidr_binding(approle: AppRole) -> None:
    role_id = await approle.role("web", secret_id_bound_cidrs="10.0.0.0/8,2001:db8::/32")
    sid = (await approle.secret_id())["secret_id"]
    with pytest.raises(InvalidRequest, match="CIDR restrictions on the role"):
        await approle.login(role_id, sid, addr="11.0.0.1")
    await approle.login(role_id, sid, addr="2001:db8::1")


async def test_narrowing_the_role_invalidates_wider_secret_ids(approle: AppRole) -> None:
    role_id = await approle.role("web", secret_id_bound_cidrs="10.0.0.0/8")
    sid = (await approle.secret_id(cidr_list="10.1.0.0/16"))["secret_id"]
    await approle.write("role/web", secret_id_bound_cidrs="10.2.0.0/16,10.1.0.0/16")
    await approle.login(role_id, sid, addr="10.1.0.9")
    # Still inside the role's blocks, but the secret ID's /16 is no longer covered.
    await approle.write("role/web", secret_id_bound_cidrs="10.1.0.0/24")
    with pytest.raises(InvalidRequest, match="no longer a subset"):
        await approle.login(role_id, sid, addr="10.1.0.9")


async def test_secret_id_token_bound_cidrs_override_the_role(approle: AppRole) -> None:
    role_id = await approle.role("web", token_bound_cidrs="10.0.0.0/8")
    sid = (await approle.secret_id(token_bound_cidrs="10.3.0.0/16"))["secret_id"]
    assert (await approle.login(role_id, sid)).bound_cidrs == ["10.3.0.0/16"]


async def test_role_without_secret_id_logs_in_by_role_id_and_cidr(approle: AppRole) -> None:
    role_id = await approle.role("web", bind_secret_id=False, secret_id_bound_cidrs="10.0.0.0/8")
    assert (await approle.login(role_id, addr="10.9.9.9")).metadata == {"role_name": "web"}
    with pytest.raises(InvalidRequest, match="CIDR restrictions on the role"):
        await approle.login(role_id, addr="172.16.0.1")


async def test_renewal_uses_the_roles_current_ttls(approle: AppRole) -> None:
    role_id = await approle.role("web", token_policies="dev", token_ttl="10m", token_max_ttl="1h")
    auth = await approle.login(role_id, (await approle.secret_id())["secret_id"])
    await approle.write("role/web", token_ttl="5m", token_max_ttl="30m", token_period="0")
    renewed = await approle.renew(replace(auth, policies=["default", "dev"]))
    assert (renewed.ttl, renewed.max_ttl, renewed.period) == (300, 1800, 0)


@pytest.mark.parametrize(("change", "message"), [
    ({"token_policies": "dev,admin"}, "policies have changed"),
    ({"token_renewable": False}, "not renewable"),
])
async def test_renewal_refused_when_the_role_changed(approle: AppRole, change: dict[str, object],
                                                     message: str) -> None:
    role_id = await approle.role("web", token_policies="dev")
    auth = await approle.login(role_id, (await approle.secret_id())["secret_id"])
    await approle.write("role/web", **change)
    with pytest.raises(InvalidRequest, match=message):
        await approle.renew(auth)


async def test_renewal_refused_after_role_id_change_or_deletion(approle: AppRole) -> None:
    role_id = await approle.role("web")
    auth = await approle.login(role_id, (await approle.secret_id())["secret_id"])
    await approle.write("role/web/role-id", role_id="rotated")
    with pytest.raises(InvalidRequest, match="role ID of role \"web\" changed"):
        await approle.renew(auth)
    await approle.write("role/web/role-id", role_id=role_id)
    await approle.renew(auth)
    await approle.call(Operation.DELETE, "role/web")
    with pytest.raises(InvalidRequest, match="no longer exists"):
        await approle.renew(auth)
