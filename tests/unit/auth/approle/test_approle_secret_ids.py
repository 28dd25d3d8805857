"""Secret-ids: generation rules, custom ids, lookup/destroy by value and accessor, tidy."""

from __future__ import annotations

from typing import Any

import pytest

from unit.auth.approle.approle_kit import AppRole
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation

U, L = Operation.UPDATE, Operation.LIST


async def test_generate_shape_and_role_defaults(approle: AppRole) -> None:
    await approle.role("web", secret_id_ttl="10m", secret_id_num_uses=40)
    data = await approle.secret_id()
    assert set(data) == {"secret_id", "secret_id_accessor", "secret_id_ttl", "secret_id_num_uses"}
    assert (data["secret_id_ttl"], data["secret_id_num_uses"]) == (600, 40)
    assert data["secret_id"] != data["secret_id_accessor"]


async def test_secret_ids_and_accessors_are_stored_only_as_hmacs(approle: AppRole) -> None:
    await approle.role("web")
    data = await approle.secret_id()
    await approle.write("role/web/custom-secret-id", secret_id="my-pushed-secret")
    stored = approle.stored_bytes()
    assert data["secret_id"].encode() not in stored
    assert b"my-pushed-secret" not in stored


@pytest.mark.parametrize("metadata", ['{"tag1": "production"}', {"tag1": "production"}])
async def test_metadata_as_json_string_or_map(approle: AppRole, metadata: Any) -> None:
    role_id = await approle.role("web")
    sid = (await approle.secret_id(metadata=metadata))["secret_id"]
    auth = await approle.login(role_id, sid)
    assert auth.metadata == {"tag1": "production", "role_name": "web"}


async def test_role_name_in_metadata_cannot_be_forged(approle: AppRole) -> None:
    role_id = await approle.role("web")
    sid = (await approle.secret_id(metadata={"role_name": "admin"}))["secret_id"]
    assert (await approle.login(role_id, sid)).metadata["role_name"] == "web"


@pytest.mark.parametrize(("role", "fields", "message"), [
    ({}, {"metadata": "not json"}, '"metadata"'),
    ({}, {"metadata": {"n": 1}}, 'the value of "n" is not'),
    ({}, {"num_uses": -1}, "num_uses cannot be negative"),
    ({"secret_id_num_uses": 3}, {"num_uses": 4}, "cannot be higher than the role's"),
    ({"secret_id_num_uses": 3}, {"num_uses": 0}, "cannot be higher than the role's"),
    ({"secret_id_ttl": "10m"}, {"ttl": "11m"}, "cannot be longer than the role's"),
    ({"secret_id_ttl": "10m"}, {"ttl": 0}, "cannot be longer than the role's"),
    ({}, {"ttl": "soon"}, '"ttl"'),
    ({}, {"cidr_list": "banana"}, '"cidr_list" entry 1'),
    ({"secret_id_bound_cidrs": "10.0.0.0/8"}, {"cidr_list": "192.168.0.0/16"},
     "cidr_list must be a subset"),
    ({"token_bound_cidrs": "10.1.0.0/16"}, {"token_bound_cidrs": "10.0.0.0/8"},
     "token_bound_cidrs must be a subset"),
])
async def test_generate_validation(approle: AppRole, role: dict[str, Any], fields: dict[str, Any],
                                   message: str) -> None:
    await approle.role("web", **role)
    with pytest.raises(InvalidRequest, match=message):
        await approle.secret_id(**fields)
    assert await approle.call(L, "role/web/secret-id") is not None
    listing = await approle.call(L, "role/web/secret-id")
    assert listing is not None and listing.data == {"keys": []}


async def test_narrower_limits_within_the_role_are_accepted(approle: AppRole) -> None:
    await approle.role("web", secret_id_ttl="10m", secret_id_num_uses=3,
                       secret_id_bound_cidrs="10.0.0.0/8")
    data = await approle.secret_id(ttl="5m", num_uses=2, cidr_list="10.1.0.0/16")
    assert (data["secret_id_ttl"], data["secret_id_num_uses"]) == (300, 2)


async def test_unknown_role_and_unbound_role_refuse_secret_ids(approle: AppRole) -> None:
    with pytest.raises(InvalidRequest, match='role "nope" does not exist'):
        await approle.secret_id("nope")
    await approle.role("open", bind_secret_id=False, secret_id_bound_cidrs="10.0.0.0/8")
    with pytest.raises(InvalidRequest, match="bind_secret_id is not set"):
        await approle.secret_id("open")


async def test_custom_secret_id(approle: AppRole) -> None:
    role_id = await approle.role("web")
    resp = await approle.write("role/web/custom-secret-id", secret_id="pushed", ttl=600, num_uses=2)
    assert resp is not None and resp.data is not None
    assert resp.data["secret_id"] == "pushed" and resp.data["secret_id_ttl"] == 600
    with pytest.raises(InvalidRequest, match="already registered"):
        await approle.write("role/web/custom-secret-id", secret_id="pushed")
    with pytest.raises(InvalidRequest, match="missing secret_id"):
        await approle.write("role/web/custom-secret-id")
    assert (await approle.login(role_id, "pushed")).metadata == {"role_name": "web"}


async def test_list_lookup_and_destroy(approle: AppRole) -> None:
    await approle.role("web", secret_id_ttl="1h")
    one, two = await approle.secret_id(metadata={"a": "b"}), await approle.secret_id()
    listing = await approle.call(L, "role/web/secret-id")
    assert listing is not None and listing.data is not None
    assert sorted(listing.data["keys"]) == sorted([one["secret_id_accessor"],
                                                   two["secret_id_accessor"]])
    found = await approle.write("role/web/secret-id/lookup", secret_id=one["secret_id"])
    assert found is not None and found.data is not None
    assert found.data["metadata"] == {"a": "b"} and found.data["secret_id_ttl"] == 3600
    assert found.data["secret_id_accessor"] == one["secret_id_accessor"]
    assert "secret_id" not in found.data
    assert found.data["expiration_time"].startswith("2027-01-15T09:")
    by_accessor = await approle.write("role/web/secret-id-accessor/lookup",
                                      secret_id_accessor=two["secret_id_accessor"])
    assert by_accessor is not None and by_accessor.data is not None
    assert by_accessor.data["secret_id_accessor"] == two["secret_id_accessor"]
    await approle.write("role/web/secret-id/destroy", secret_id=one["secret_id"])
    assert await approle.write("role/web/secret-id/lookup", secret_id=one["secret_id"]) is None
    await approle.call(Operation.DELETE, "role/web/secret-id-accessor/destroy",
                       secret_id_accessor=two["secret_id_accessor"])
    with pytest.raises(InvalidRequest, match="no secret ID with this accessor"):
        await approle.write("role/web/secret-id-accessor/lookup",
                            secret_id_accessor=two["secret_id_accessor"])
    assert not [k for k in approle.storage._data if k.startswith(("secret_id/", "accessor/"))]


async def test_accessor_of_another_role_is_not_found(approle: AppRole) -> None:
    await approle.role("a")
    await approle.role("b")
    accessor = (await approle.secret_id("a"))["secret_id_accessor"]
    with pytest.raises(InvalidRequest, match="no secret ID with this accessor"):
        await approle.write("role/b/secret-id-accessor/destroy", secret_id_accessor=accessor)
    with pytest.raises(InvalidRequest, match="missing secret_id_accessor"):
        await approle.write("role/b/secret-id-accessor/lookup")


async def test_tidy_removes_expired_and_orphaned_entries(approle: AppRole) -> None:
    await approle.role("web")
    await approle.role("gone")
    short = await approle.secret_id(ttl="1m")
    keep = await approle.secret_id()
    await approle.secret_id("gone")
    # A role deleted behind the backend's back leaves its secret-ids orphaned.
    del approle.storage._data["role/gone"]
    approle.clock.advance(61)
    resp = await approle.write("tidy/secret-id")
    assert resp is not None and resp.data == {
        "expired_secret_ids": 1, "orphaned_secret_ids": 1, "dangling_accessors": 0}
    listing = await approle.call(L, "role/web/secret-id")
    assert listing is not None and listing.data == {"keys": [keep["secret_id_accessor"]]}
    assert short["secret_id_accessor"] not in str(approle.storage._data)
