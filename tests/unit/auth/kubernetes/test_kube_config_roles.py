"""Kubernetes auth: config (write-only reviewer JWT, host, CA, keys) and role validation."""

from __future__ import annotations

from typing import Any

import pytest
import trustme

from unit.auth.kubernetes.kube_kit import KubeAuth
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation


async def test_config_read_never_returns_the_reviewer_jwt(kube: KubeAuth) -> None:
    await kube.configure(token_reviewer_jwt="reviewer.jwt.value", issuer="https://iss")
    data = await kube.read("config")
    assert "token_reviewer_jwt" not in data and data["token_reviewer_jwt_set"] is True
    assert "reviewer.jwt.value" not in str(data)
    assert data["kubernetes_host"] == "https://kube.example:6443"
    assert data["kubernetes_ca_cert"] == kube.api.ca_pem.strip() + "\n"
    assert (data["issuer"], data["disable_iss_validation"]) == ("https://iss", False)
    assert data["pem_keys"] == [] and data["disable_local_ca_jwt"] is False


async def test_config_write_replaces_the_whole_config(kube: KubeAuth) -> None:
    await kube.configure(token_reviewer_jwt="r", pem_keys=[kube.api.public_key_pem])
    await kube.write("config", kubernetes_host="10.0.0.1:6443")
    data = await kube.read("config")
    assert data["kubernetes_host"] == "https://10.0.0.1:6443"
    assert (data["token_reviewer_jwt_set"], data["pem_keys"], data["kubernetes_ca_cert"]) == (
        False, [], "")
    assert data["disable_iss_validation"] is True


async def test_config_existence_and_unset_read(kube: KubeAuth) -> None:
    from warden.logical.request import Request

    assert await kube.call(Operation.READ, "config") is None
    req = Request(Operation.UPDATE, "config", storage=kube.storage)
    assert await kube.backend.existence_check(req) is False
    await kube.configure()
    assert await kube.backend.existence_check(req) is True


async def test_pem_keys_accept_keys_certificates_and_concatenations(kube: KubeAuth) -> None:
    cert_pem = trustme.CA().cert_pem.bytes().decode()
    both = kube.api.public_key_pem + cert_pem
    await kube.configure(pem_keys=[both])
    assert len((await kube.read("config"))["pem_keys"]) == 2


@pytest.mark.parametrize(("fields", "message"), [
    ({"kubernetes_host": ""}, "kubernetes_host is required"),
    ({"kubernetes_host": "http://kube:8080"}, "must use https"),
    ({"kubernetes_host": "https://kube:notaport"}, "invalid port"),
    ({"kubernetes_host": "https://"}, "must be a host"),
    ({"kubernetes_ca_cert": "not a certificate"}, "kubernetes_ca_cert is not PEM-encoded"),
    ({"disable_local_ca_jwt": True, "kubernetes_ca_cert": ""}, "kubernetes_ca_cert must be given"),
    ({"pem_keys": ["garbage"]}, "pem_keys entry 1"),
    ({"disable_iss_validation": "sometimes"}, '"disable_iss_validation"'),
])
async def test_config_validation(kube: KubeAuth, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        await kube.configure(**fields)
    assert await kube.call(Operation.READ, "config") is None


async def test_missing_host_is_named(kube: KubeAuth) -> None:
    with pytest.raises(InvalidRequest, match="kubernetes_host is required"):
        await kube.write("config", kubernetes_ca_cert=kube.api.ca_pem)


async def test_role_read_shape_with_hvac_style_legacy_fields(kube: KubeAuth) -> None:
    await kube.write("role/Dev", bound_service_account_names="app,web-*",
                     bound_service_account_namespaces=["dev-*"], policies="dev,prod",
                     ttl="1h", max_ttl="2h", period=0, audience="vault")
    data = await kube.read("role/dev")
    assert data["bound_service_account_names"] == ["app", "web-*"]
    assert data["bound_service_account_namespaces"] == ["dev-*"]
    assert data["token_policies"] == data["policies"] == ["dev", "prod"]
    assert (data["token_ttl"], data["ttl"], data["token_max_ttl"], data["max_ttl"]) == (
        3600, 3600, 7200, 7200)
    assert (data["audience"], data["alias_name_source"]) == ("vault", "serviceaccount_uid")


async def test_role_update_keeps_unsupplied_fields_and_lists(kube: KubeAuth) -> None:
    await kube.write("role/a", bound_service_account_names="app",
                     bound_service_account_namespaces="default", token_ttl="5m")
    await kube.write("role/a", audience="x")
    data = await kube.read("role/a")
    assert (data["bound_service_account_names"], data["token_ttl"], data["audience"]) == (
        ["app"], 300, "x")
    listing = await kube.call(Operation.LIST, "role")
    assert listing is not None and listing.data == {"keys": ["a"]}
    await kube.call(Operation.DELETE, "role/a")
    assert await kube.call(Operation.READ, "role/a") is None


BOUND = {"bound_service_account_names": "app", "bound_service_account_namespaces": "default"}


@pytest.mark.parametrize(("fields", "message"), [
    ({"bound_service_account_names": ""}, '"bound_service_account_names" can not be empty'),
    ({"bound_service_account_namespaces": []}, '"bound_service_account_namespaces" can not be'),
    ({"bound_service_account_names": "*,app"}, 'can not mix "\\*" with values'),
    ({"bound_service_account_namespaces": "default,*"}, 'can not mix "\\*" with values'),
    ({"bound_service_account_names": "App"}, '"App" is not a Kubernetes name'),
    ({"bound_service_account_namespaces": "team/x"}, '"team/x" is not a Kubernetes name'),
    ({"alias_name_source": "pod_name"}, '"alias_name_source": must be one of'),
    ({"bound_service_account_namespace_selector": '{"matchLabels": {"a": "b"}}'},
     "namespace_selector is not supported"),
    ({"token_type": "batch", "token_period": "1h"}, "cannot be 'batch'.*periodic"),
    ({"ttl": "2h", "max_ttl": "1h"}, '"token_ttl" cannot be greater'),
    ({"token_bound_cidrs": "x"}, '"token_bound_cidrs" entry 1'),
    ({"num_uses": -1}, "token_num_uses cannot be negative"),
])
async def test_role_validation(kube: KubeAuth, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        await kube.write("role/r", **{**BOUND, **fields})
    assert await kube.call(Operation.READ, "role/r") is None


async def test_new_role_needs_both_bindings(kube: KubeAuth) -> None:
    with pytest.raises(InvalidRequest, match="bound_service_account_namespaces"):
        await kube.write("role/r", bound_service_account_names="app")


def test_every_field_and_path_is_documented(kube: KubeAuth) -> None:
    for path in kube.backend.paths:
        assert path.help_synopsis, path.pattern
        for name, field in path.fields.items():
            assert field.description, f"{path.pattern}: {name}"
