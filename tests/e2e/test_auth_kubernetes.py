"""Kubernetes auth against a real server and the real kube-apiserver: TokenReview over
verified TLS with real service-account tokens, local pem_keys mode against the cluster's own
service-account key."""

from __future__ import annotations

import json

import hvac
import pytest
import trustme

from support import kube_auth
from support.envtest import SA_ISSUER, ControlPlane
from support.fake_kube import FakeKubeAPI
from support.server import ServerProcess

ROLE = {"bound_service_account_names": ["app", "web-*"],
        "bound_service_account_namespaces": ["kauth-dev-*"], "policies": ["reader"], "ttl": "1h"}


@pytest.fixture(scope="module")
def client(dev_server: ServerProcess, kube_control_plane: ControlPlane) -> hvac.Client:
    c = dev_server.client()
    c.sys.enable_auth_method("kubernetes")
    kube_auth.configure(c, kube_control_plane)
    c.auth.kubernetes.create_role("demo", **ROLE)  # type: ignore[arg-type]
    return c


def test_tokenreview_login_over_tls(client: hvac.Client, kube_control_plane: ControlPlane,
                                    dev_server: ServerProcess) -> None:
    jwt = kube_auth.sa_token(kube_control_plane, "kauth-dev-a", "web-1")
    auth = dev_server.client(token="").auth.kubernetes.login("demo", jwt)["auth"]
    assert auth["policies"] == ["default", "reader"] and auth["lease_duration"] == 3600
    assert auth["metadata"] == {
        "role": "demo", "service_account_name": "web-1", "service_account_namespace": "kauth-dev-a",
        "service_account_uid": kube_auth.sa_uid(kube_control_plane, "kauth-dev-a", "web-1"),
        "service_account_secret_name": ""}
    me = dev_server.client(token=auth["client_token"]).auth.token.lookup_self()["data"]
    assert me["display_name"] == "kubernetes-kauth-dev-a-web-1"


def test_a_role_may_issue_batch_tokens(client: hvac.Client, kube_control_plane: ControlPlane,
                                       dev_server: ServerProcess) -> None:
    """Many short pod logins without filling storage: the role's token_type=batch."""
    client.write("auth/kubernetes/role/pods", bound_service_account_names=["app"],
                 bound_service_account_namespaces=["kauth-dev-*"], token_policies=["reader"],
                 token_ttl="15m", token_type="batch")
    jwt = kube_auth.sa_token(kube_control_plane, "kauth-dev-batch", "app")
    auth = dev_server.client(token="").auth.kubernetes.login("pods", jwt)["auth"]
    assert (auth["token_type"], auth["accessor"], auth["renewable"]) == ("batch", "", False)
    assert auth["lease_duration"] == 900 and auth["client_token"].startswith("wb.")
    me = dev_server.client(token=auth["client_token"]).auth.token.lookup_self()["data"]
    assert me["type"] == "batch" and me["display_name"] == "kubernetes-kauth-dev-batch-app"
    assert me["meta"]["service_account_namespace"] == "kauth-dev-batch"


def test_config_read_hides_the_reviewer_jwt(client: hvac.Client, kube_control_plane: ControlPlane) -> None:
    data = client.auth.kubernetes.read_config()
    assert data["kubernetes_host"] == kube_control_plane.url and data["token_reviewer_jwt_set"] is True
    assert "eyJ" not in json.dumps(data)


@pytest.mark.parametrize("case", ["other-cluster", "deleted", "wrong-namespace"])
def test_bad_jwts_are_forbidden(client: hvac.Client, kube_control_plane: ControlPlane,
                                dev_server: ServerProcess, case: str) -> None:
    plane = kube_control_plane
    if case == "other-cluster":
        jwt = FakeKubeAPI(issuer=SA_ISSUER).mint("kauth-dev-a", "app")  # signed by another cluster's key
    elif case == "deleted":
        jwt = kube_auth.sa_token(plane, "kauth-dev-gone", "app")
        plane.kubectl("delete", "serviceaccount", "app", "-n", "kauth-dev-gone")
    else:
        jwt = kube_auth.sa_token(plane, "kauth-prod", "app")
    with pytest.raises(hvac.exceptions.Forbidden):
        dev_server.client(token="").auth.kubernetes.login("demo", jwt)


def test_self_review_with_the_login_jwt(dev_server: ServerProcess, kube_control_plane: ControlPlane) -> None:
    """No reviewer JWT: the login's own token must be allowed to create TokenReviews."""
    plane = kube_control_plane
    c = dev_server.client()
    c.sys.enable_auth_method("kubernetes", path="k8s-self")
    kube_auth.configure(c, plane, mount="k8s-self", reviewer=False)
    c.auth.kubernetes.create_role("demo", mount_point="k8s-self", **ROLE)  # type: ignore[arg-type]
    jwt = kube_auth.sa_token(plane, "kauth-dev-b", "app")
    with pytest.raises(hvac.exceptions.BadGateway, match=r"cannot create resource .tokenreviews"):
        dev_server.client(token="").auth.kubernetes.login("demo", jwt, mount_point="k8s-self")
    plane.kubectl("create", "clusterrolebinding", "kauth-dev-b-app-reviews",
                  "--clusterrole=system:auth-delegator", "--serviceaccount=kauth-dev-b:app", check=False)
    auth = dev_server.client(token="").auth.kubernetes.login("demo", jwt, mount_point="k8s-self")["auth"]
    assert auth["metadata"]["service_account_namespace"] == "kauth-dev-b"


def test_wrong_ca_is_refused(dev_server: ServerProcess, kube_control_plane: ControlPlane) -> None:
    """TLS is verified: a CA that did not issue the API server's certificate fails the login."""
    plane = kube_control_plane
    c = dev_server.client()
    c.sys.enable_auth_method("kubernetes", path="k8s-wrong-ca")
    c.auth.kubernetes.configure(plane.url, kubernetes_ca_cert=trustme.CA().cert_pem.bytes().decode(),
                                token_reviewer_jwt=kube_auth.reviewer_jwt(plane), disable_local_ca_jwt=True,
                                mount_point="k8s-wrong-ca")
    c.auth.kubernetes.create_role("demo", mount_point="k8s-wrong-ca", **ROLE)  # type: ignore[arg-type]
    with pytest.raises(hvac.exceptions.BadGateway, match="CERTIFICATE_VERIFY_FAILED"):
        dev_server.client(token="").auth.kubernetes.login(
            "demo", kube_auth.sa_token(plane, "kauth-dev-a", "app"), mount_point="k8s-wrong-ca")


def test_local_pem_keys_mode_needs_no_api_server(dev_server: ServerProcess,
                                                 kube_control_plane: ControlPlane) -> None:
    """The cluster's own service-account public key verifies its real tokens; no TokenReview."""
    plane = kube_control_plane
    c = dev_server.client()
    c.sys.enable_auth_method("kubernetes", path="k8s-local")
    # hvac checks pem_keys for certificates; the cluster's key is a bare public key (sa.pub)
    c.adapter.post("/v1/auth/k8s-local/config", json={
        "kubernetes_host": "https://127.0.0.1:9", "pem_keys": [plane.files.sa_pub.read_text()],
        "issuer": SA_ISSUER})
    c.auth.kubernetes.create_role("demo", mount_point="k8s-local", audience="warden",
                                  **ROLE)  # type: ignore[arg-type]
    anonymous = dev_server.client(token="")
    jwt = kube_auth.sa_token(plane, "kauth-dev-c", "app", audiences=["warden"])
    auth = anonymous.auth.kubernetes.login("demo", jwt, mount_point="k8s-local")["auth"]
    assert auth["metadata"]["service_account_name"] == "app"
    forger = FakeKubeAPI(key_type="ec", issuer=SA_ISSUER)  # only mints JWTs the cluster never signed
    for bad in (kube_auth.sa_token(plane, "kauth-dev-c", "app", audiences=["other"]),
                forger.mint("kauth-dev-c", "app", audience="warden"),
                forger.mint("kauth-dev-c", "app", audience="warden", ttl=-3600),
                forger.mint("kauth-dev-c", "app", audience="warden", issuer="https://elsewhere")):
        with pytest.raises(hvac.exceptions.Forbidden):
            anonymous.auth.kubernetes.login("demo", bad, mount_point="k8s-local")


def test_cli_login(client: hvac.Client, kube_control_plane: ControlPlane, dev_server: ServerProcess) -> None:
    jwt = kube_auth.sa_token(kube_control_plane, "kauth-dev-z", "app")
    done = dev_server.cli("write", "-format=json", "auth/kubernetes/login", "role=demo", f"jwt={jwt}",
                          token="")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["auth"]["metadata"]["service_account_namespace"] == "kauth-dev-z"
    refused = dev_server.cli("write", "auth/kubernetes/login", "role=demo", "jwt=abc.def.ghi",
                             token="")
    assert refused.returncode != 0 and "abc.def.ghi" not in refused.stderr
