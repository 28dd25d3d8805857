"""AppRole roles: every field's validation, CRUD, role ids, and the declared schema."""

from __future__ import annotations

from typing import Any

import pytest

from unit.auth.approle.approle_kit import AppRole
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation


async def test_role_defaults_and_read_shape(approle: AppRole) -> None:
    await approle.write("role/Web", token_policies="B, a ,a", token_ttl="20m", token_max_ttl="30m")
    data = await approle.read("role/web")
    assert data["bind_secret_id"] is True
    assert data["token_policies"] == ["a", "b"] and data["policies"] == ["a", "b"]
    assert (data["token_ttl"], data["token_max_ttl"]) == (1200, 1800)
    assert data["secret_id_bound_cidrs"] == [] and data["token_type"] == "default"
    assert "role_id" not in data


async def test_update_keeps_unsupplied_fields(approle: AppRole) -> None:
    await approle.write("role/web", token_policies="a", secret_id_ttl="10m")
    await approle.write("role/web", secret_id_num_uses=5)
    data = await approle.read("role/web")
    assert (data["token_policies"], data["secret_id_ttl"], data["secret_id_num_uses"]) == (
        ["a"], 600, 5)


@pytest.mark.parametrize(("fields", "message"), [
    ({"bind_secret_id": "maybe"}, '"bind_secret_id"'),
    ({"secret_id_num_uses": -1}, "secret_id_num_uses cannot be negative"),
    ({"secret_id_num_uses": "lots"}, '"secret_id_num_uses"'),
    ({"secret_id_ttl": "ten minutes"}, '"secret_id_ttl"'),
    ({"secret_id_ttl": "-5m"}, '"secret_id_ttl"'),
    ({"secret_id_bound_cidrs": "10.0.0.0/8,not-a-cidr"}, '"secret_id_bound_cidrs" entry 2'),
    ({"token_bound_cidrs": "300.1.1.1"}, '"token_bound_cidrs" entry 1'),
    ({"token_ttl": "2h", "token_max_ttl": "1h"}, '"token_ttl" cannot be greater'),
    ({"token_num_uses": -2}, "token_num_uses cannot be negative"),
    ({"token_type": "batch", "token_num_uses": 3}, "cannot be 'batch'.*limited use count"),
    ({"token_type": "weird"}, "invalid 'token_type' value 'weird'"),
    ({"token_policies": "root"}, 'may not contain "root"'),
    ({"token_period": "soon"}, '"token_period"'),
    ({"token_explicit_max_ttl": "x"}, '"token_explicit_max_ttl"'),
    ({"token_no_default_policy": "perhaps"}, '"token_no_default_policy"'),
    ({"bind_secret_id": False}, "at least one constraint"),
])
async def test_role_field_validation(approle: AppRole, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        await approle.write("role/web", **fields)
    assert await approle.call(Operation.READ, "role/web") is None


async def test_constraint_may_be_cidrs_instead_of_secret_id(approle: AppRole) -> None:
    await approle.write("role/web", bind_secret_id=False, secret_id_bound_cidrs="10.0.0.0/8")
    with pytest.raises(InvalidRequest, match="at least one constraint"):
        await approle.write("role/web", secret_id_bound_cidrs=[])


async def test_legacy_names_and_new_names_win(approle: AppRole) -> None:
    await approle.write("role/web", policies="old", period="1h")
    data = await approle.read("role/web")
    assert (data["token_policies"], data["token_period"], data["period"]) == (["old"], 3600, 3600)
    await approle.write("role/web", policies="old", token_policies="new")
    assert (await approle.read("role/web"))["token_policies"] == ["new"]


async def test_token_type_service_and_renewable_extension(approle: AppRole) -> None:
    await approle.write("role/web", token_type="service", token_renewable=False)
    data = await approle.read("role/web")
    assert (data["token_type"], data["token_renewable"]) == ("service", False)


async def test_list_and_delete(approle: AppRole) -> None:
    assert await approle.call(Operation.LIST, "role") is not None
    for name in ("b", "a"):
        await approle.role(name)
    listing = await approle.call(Operation.LIST, "role")
    assert listing is not None and listing.data == {"keys": ["a", "b"]}
    await approle.call(Operation.DELETE, "role/a")
    await approle.call(Operation.DELETE, "role/never-existed")
    listing = await approle.call(Operation.LIST, "role/")
    assert listing is not None and listing.data == {"keys": ["b"]}


async def test_existence_check(approle: AppRole) -> None:
    from warden.logical.request import Request

    req = Request(Operation.UPDATE, "role/web", storage=approle.storage)
    assert await approle.backend.existence_check(req) is False
    await approle.role("web")
    assert await approle.backend.existence_check(req) is True


async def test_role_ids_are_random_unique_and_settable(approle: AppRole) -> None:
    first, second = await approle.role("a"), await approle.role("b")
    assert first != second and len(first) == 36
    await approle.write("role/a/role-id", role_id="custom-id")
    assert (await approle.read("role/a/role-id")) == {"role_id": "custom-id"}
    with pytest.raises(InvalidRequest, match="role_id already in use"):
        await approle.write("role/b/role-id", role_id="custom-id")
    with pytest.raises(InvalidRequest, match="role_id already in use"):
        await approle.write("role/c", role_id="custom-id")
    with pytest.raises(InvalidRequest, match="missing role_id"):
        await approle.write("role/a/role-id", role_id="  ")
    with pytest.raises(InvalidRequest, match='role "zzz" does not exist'):
        await approle.write("role/zzz/role-id", role_id="x")
    assert await approle.call(Operation.READ, "role/zzz/role-id") is None


async def test_role_id_given_at_creation(approle: AppRole) -> None:
    assert await approle.role("web", role_id="given") == "given"
    await approle.write("role/web", role_id="given")  # rewriting its own id is fine


async def test_changed_role_id_retires_the_old_one(approle: AppRole) -> None:
    old = await approle.role("web")
    sid = (await approle.secret_id())["secret_id"]
    await approle.write("role/web/role-id", role_id="new-id")
    with pytest.raises(InvalidRequest, match="invalid role or secret ID"):
        await approle.login(old, sid)
    assert (await approle.login("new-id", sid)).metadata["role_name"] == "web"


async def test_deleting_a_role_removes_its_secret_ids(approle: AppRole) -> None:
    await approle.role("web", role_id="rid")
    sid = (await approle.secret_id())["secret_id"]
    await approle.call(Operation.DELETE, "role/web")
    assert not [k for k in approle.storage._data if k.startswith(("secret_id/", "accessor/"))]
    await approle.role("web", role_id="rid")
    with pytest.raises(InvalidRequest, match="invalid role or secret ID"):
        await approle.login("rid", sid)


def test_every_field_and_path_is_documented(approle: AppRole) -> None:
    for path in approle.backend.paths:
        assert path.help_synopsis, path.pattern
        for name, field in path.fields.items():
            assert field.description, f"{path.pattern}: {name}"
