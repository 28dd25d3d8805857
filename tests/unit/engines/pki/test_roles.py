"""RoleEntry: Vault's defaults, the stored codec, upgrade-on-read, validation, POST vs PATCH."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from support.pki import PkiKit
from warden.engines.pki.roles import SCHEMA_VERSION, RoleEntry, validate
from warden.logical.errors import InvalidRequest, NotFound
from warden.logical.operation import Operation


def test_defaults_are_vaults() -> None:
    role = validate(RoleEntry(name="r"))
    view = role.view()
    assert view["key_type"] == "rsa" and view["key_bits"] == 2048 and view["signature_bits"] == 256
    assert view["allow_localhost"] and view["enforce_hostnames"] and view["allow_ip_sans"]
    assert view["server_flag"] and view["client_flag"] and not view["code_signing_flag"]
    assert view["key_usage"] == ["DigitalSignature", "KeyAgreement", "KeyEncipherment"]
    assert view["use_csr_common_name"] and view["use_csr_sans"] and view["require_cn"]
    assert view["not_before_duration"] == 30 and view["ttl"] == 0 and view["max_ttl"] == 0
    assert view["issuer_ref"] == "default" and not view["no_store"] and not view["generate_lease"]
    assert validate(RoleEntry(name="e", key_type="ec", key_bits=0)).key_bits == 256


@given(st.builds(RoleEntry, name=st.just("r"), ttl=st.integers(0, 10**6), allow_any_name=st.booleans(),
                 allowed_domains=st.lists(st.text(min_size=1, max_size=5), max_size=3).map(tuple),
                 organization=st.lists(st.text(max_size=5), max_size=3).map(tuple)))
def test_codec_round_trips(role: RoleEntry) -> None:
    decoded, upgraded = RoleEntry.from_json(orjson.loads(orjson.dumps(role.to_json())))
    assert decoded == role and not upgraded


def test_version_zero_is_upgraded_on_read() -> None:
    v0 = {"name": "old", "ttl": "1h", "max_ttl": "720h", "key_type": "ec", "key_bits": 0,
          "allowed_domains": ["kubelet"], "allow_bare_domains": True}
    role, upgraded = RoleEntry.from_json(v0)
    assert upgraded and role.ttl == 3600 and role.max_ttl == 720 * 3600 and role.key_bits == 256
    assert role.allow_wildcard_certificates and role.cn_validations == ("email", "hostname")
    assert role.to_json()["v"] == SCHEMA_VERSION


async def test_the_backend_rewrites_an_upgraded_role() -> None:
    kit = PkiKit()
    v0 = {"name": "old", "max_ttl": "720h", "allow_any_name": True}
    await kit.storage.put("role/old", orjson.dumps(v0))
    resp = await kit.read("roles/old")
    assert resp is not None and resp.data is not None and resp.data["max_ttl"] == 720 * 3600
    stored = orjson.loads(await kit.storage.get("role/old") or b"{}")
    assert stored["v"] == SCHEMA_VERSION and stored["max_ttl"] == 720 * 3600


@pytest.mark.parametrize(("fields", "reason"), [
    ({"key_type": "dsa"}, 'unsupported key_type "dsa"'),
    ({"key_type": "rsa", "key_bits": 1024}, "unsupported key_bits 1024"),
    ({"key_type": "ec", "key_bits": 255}, "unsupported key_bits 255"),
    ({"ttl": 7200, "max_ttl": 3600}, '"ttl" value must be less than "max_ttl"'),
    ({"key_usage": ("DigitalSignature", "Teleport")}, 'unknown key usage "Teleport"'),
    ({"ext_key_usage": ("ServerAuth", "Nope")}, 'unknown extended key usage "Nope"'),
    ({"ext_key_usage_oids": ("1.2.x",)}, "not a dotted object identifier"),
    ({"policy_identifiers": ("abc",)}, "not a dotted object identifier"),
    ({"allowed_other_sans": ("1.2.3;UTF8",)}, "expected a colon"),
    ({"no_store": True, "generate_lease": True}, "cannot both be true"),
    ({"country": ("Germany",)}, "two-letter"),
    ({"cn_validations": ("disabled", "email")}, '"disabled" must be the only value'),
    ({"signature_bits": 128}, "unsupported signature_bits"),
    ({"allowed_ip_sans_cidr": ("10.0.0.0/33",)}, "10.0.0.0/33"),
])
def test_invalid_roles_are_refused_with_the_reason(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidRequest, match=reason.replace("(", r"\(")):
        validate(dataclasses.replace(RoleEntry(name="r"), **fields))


async def test_post_replaces_patch_merges_and_list_read_delete() -> None:
    kit = PkiKit()
    await kit.write("roles/r", allowed_domains="example.com", allow_subdomains=True, ttl="1h")
    await kit.write("roles/r", allowed_domains="example.org")  # POST: elided fields get defaults
    view = (await kit.read("roles/r")).data
    assert view["allowed_domains"] == ["example.org"] and not view["allow_subdomains"] and view["ttl"] == 0
    await kit.call(Operation.PATCH, "roles/r", allow_subdomains=True)
    view = (await kit.read("roles/r")).data
    assert view["allowed_domains"] == ["example.org"] and view["allow_subdomains"]
    with pytest.raises(NotFound):
        await kit.call(Operation.PATCH, "roles/missing", allow_subdomains=True)
    await kit.write("roles/s", key_type="ec")
    await kit.write("roles/t", key_type="ec")
    assert await kit.list("roles") == ["r", "s", "t"]
    assert await kit.list("roles", after="r", limit=1) == ["s"]
    await kit.call(Operation.DELETE, "roles/t")
    await kit.call(Operation.DELETE, "roles/s")
    assert await kit.read("roles/s") is None and await kit.list("roles") == ["r"]
    assert await kit.pki.backend.existence_check(kit.request(Operation.UPDATE, "roles/r")) is True
    assert await kit.pki.backend.existence_check(kit.request(Operation.UPDATE, "roles/zz")) is False


async def test_changing_key_type_takes_the_new_types_default_size_and_issuer_ref_must_exist() -> None:
    kit = PkiKit()
    await kit.write("roles/r", key_type="rsa", key_bits=4096)
    await kit.call(Operation.PATCH, "roles/r", key_type="ec")
    assert (await kit.read("roles/r")).data["key_bits"] == 256
    assert "unable to find PKI issuer" in await kit.refused("roles/r", issuer_ref="nope")
    assert "templates" in await kit.refused("roles/r", allowed_domains_template=True)
