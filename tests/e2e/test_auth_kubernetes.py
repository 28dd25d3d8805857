"""Kubernetes auth against a real server: TokenReview over real TLS, local pem_keys mode."""

from __future__ import annotations

import json
from collections.abc import Iterator

import hvac
import pytest
import trustme

from support.fake_kube import FakeKubeAPI
from support.server import ServerProcess

ROLE = {"bound_service_account_names": ["app", "web-*"],
        "bound_service_account_namespaces": ["dev-*"], "policies": ["reader"], "ttl": "1h"}


@pytest.fixture(scope="module")
def kube() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as api:
        yield api


@pytest.fixture(scope="module")
def client(dev_server: ServerProcess, kube: FakeKubeAPI) -> hvac.Client:
    c = dev_server.client()
    c.sys.enable_auth_method("kubernetes")
    c.auth.kubernetes.configure(kube.url, kubernetes_ca_cert=kube.ca_pem,
                                token_reviewer_jwt=kube.reviewer_token, disable_local_ca_jwt=True)
    c.auth.kubernetes.create_role("demo", **ROLE)  # type: ignore[arg-type]
    return c


def test_tokenreview_login_over_tls(client: hvac.Client, kube: FakeKubeAPI,
                                    dev_server: ServerProcess) -> None:
    jwt = kube.mint("dev-a", "web-1")
    auth = dev_server.client(token="").auth.kubernetes.login("demo", jwt)["auth"]
    assert auth["policies"] == ["default", "reader"] and auth["lease_duration"] == 3600
    assert auth["metadata"] == {
        "role": "demo", "service_account_name": "web-1", "service_account_namespace": "dev-a",
        "service_account_uid": kube.uid_of("dev-a", "web-1"), "service_account_secret_name": ""}
    me = dev_server.client(token=auth["client_token"]).auth.token.lookup_self()["data"]
    assert me["display_name"] == "kubernetes-dev-a-web-1"
    assert kube.calls[-1].bearer_was_reviewer and kube.calls[-1].status == 201


def test_config_read_hides_the_reviewer_jwt(client: hvac.Client, kube: FakeKubeAPI) -> None:
    data = client.auth.kubernetes.read_config()
    assert data["kubernetes_host"] == kube.url and data["token_reviewer_jwt_set"] is True
    assert kube.reviewer_token not in json.dumps(data)


@pytest.mark.parametrize("case", ["other-cluster", "deleted", "wrong-namespace"])
def test_bad_jwts_are_forbidden(client: hvac.Client, kube: FakeKubeAPI,
                                dev_server: ServerProcess, case: str) -> None:
    if case == "other-cluster":
        jwt = FakeKubeAPI().mint("dev-a", "app")
    elif case == "deleted":
        jwt = kube.mint("dev-gone", "app")
        kube.delete_service_account("dev-gone", "app")
    else:
        jwt = kube.mint("prod", "app")
    with pytest.raises(hvac.exceptions.Forbidden):
        dev_server.client(token="").auth.kubernetes.login("demo", jwt)


def test_self_review_with_the_login_jwt(dev_server: ServerProcess, kube: FakeKubeAPI) -> None:
    c = dev_server.client()
    c.sys.enable_auth_method("kubernetes", path="k8s-self")
    c.auth.kubernetes.configure(kube.url, kubernetes_ca_cert=kube.ca_pem,
                                disable_local_ca_jwt=True, mount_point="k8s-self")
    c.auth.kubernetes.create_role("demo", mount_point="k8s-self", **ROLE)  # type: ignore[arg-type]
    auth = dev_server.client(token="").auth.kubernetes.login(
        "demo", kube.mint("dev-b", "app"), mount_point="k8s-self")["auth"]
    assert auth["metadata"]["service_account_namespace"] == "dev-b"
    assert not kube.calls[-1].bearer_was_reviewer


def test_wrong_ca_is_refused(dev_server: ServerProcess, kube: FakeKubeAPI) -> None:
    """TLS is verified: a CA that did not issue the API server's certificate fails the login."""
    c = dev_server.client()
    c.sys.enable_auth_method("kubernetes", path="k8s-wrong-ca")
    c.auth.kubernetes.configure(kube.url, kubernetes_ca_cert=trustme.CA().cert_pem.bytes().decode(),
                                token_reviewer_jwt=kube.reviewer_token, disable_local_ca_jwt=True,
                                mount_point="k8s-wrong-ca")
    c.auth.kubernetes.create_role("demo", mount_point="k8s-wrong-ca", **ROLE)  # type: ignore[arg-type]
    calls = len(kube.calls)
    with pytest.raises(hvac.exceptions.BadGateway, match="CERTIFICATE_VERIFY_FAILED"):
        dev_server.client(token="").auth.kubernetes.login(
            "demo", kube.mint("dev-a", "app"), mount_point="k8s-wrong-ca")
    assert len(kube.calls) == calls


def test_local_pem_keys_mode_needs_no_api_server(dev_server: ServerProcess) -> None:
    offline = FakeKubeAPI(key_type="ec")  # never started: there is nothing to call
    c = dev_server.client()
    c.sys.enable_auth_method("kubernetes", path="k8s-local")
    c.auth.kubernetes.configure("https://127.0.0.1:9", pem_keys=[offline.signer_cert_pem],
                                issuer=offline.issuer, mount_point="k8s-local")
    c.auth.kubernetes.create_role("demo", mount_point="k8s-local", audience="warden",
                                  **ROLE)  # type: ignore[arg-type]
    anonymous = dev_server.client(token="")
    auth = anonymous.auth.kubernetes.login(
        "demo", offline.mint("dev-c", "app", audience="warden"), mount_point="k8s-local")["auth"]
    assert auth["metadata"]["service_account_name"] == "app"
    for bad in (offline.mint("dev-c", "app", audience="other"),
                offline.mint("dev-c", "app", audience="warden", ttl=-3600),
                offline.mint("dev-c", "app", audience="warden", issuer="https://elsewhere"),
                FakeKubeAPI(key_type="ec").mint("dev-c", "app", audience="warden")):
        with pytest.raises(hvac.exceptions.Forbidden):
            anonymous.auth.kubernetes.login("demo", bad, mount_point="k8s-local")


def test_cli_login(client: hvac.Client, kube: FakeKubeAPI, dev_server: ServerProcess) -> None:
    done = dev_server.cli("write", "-format=json", "auth/kubernetes/login", "role=demo",
                          f"jwt={kube.mint('dev-z', 'app')}", token="")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["auth"]["metadata"]["service_account_namespace"] == "dev-z"
    refused = dev_server.cli("write", "auth/kubernetes/login", "role=demo", "jwt=abc.def.ghi",
                             token="")
    assert refused.returncode != 0 and "abc.def.ghi" not in refused.stderr
