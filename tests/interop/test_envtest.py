"""The shared control plane is real: RBAC, the Node authorizer, TokenRequest and the beta
certificates APIs this round's controllers need are served."""

from __future__ import annotations

import pytest

from support.envtest import ControlPlane

pytestmark = pytest.mark.interop


def test_admin_reads_and_nodes_are_restricted(kube_control_plane: ControlPlane) -> None:
    kube = kube_control_plane
    assert "kube-system" in kube.kubectl("get", "namespaces", "-o", "name").stdout
    cert, key = kube.client_cert("system:node:envtest-n1", ["system:nodes"])
    with kube.http(cert, key) as node:
        assert node.get("/api/v1/namespaces/kube-system/secrets").status_code == 403


def test_beta_certificate_apis_are_served(kube_control_plane: ControlPlane) -> None:
    with kube_control_plane.http() as client:
        resources = client.get("/apis/certificates.k8s.io/v1beta1").json()["resources"]
    names = {r["name"] for r in resources}
    assert {"clustertrustbundles", "podcertificaterequests"} <= names


def test_service_account_tokens_are_issued(kube_control_plane: ControlPlane) -> None:
    kube = kube_control_plane
    kube.ensure_service_account("envtest-smoke", "app")
    token = kube.service_account_token("envtest-smoke", "app", audiences=["warden"])
    assert token.count(".") == 2
