"""The real kube-apiserver (v1.36, ../shared/envtest) through a rotation of the Kubernetes CA
and of the service-account key pair, on the tree ``warden k8s certs`` writes: after each phase
the apiserver restarted on the new tree serves kubectl; a service-account token issued (by the
TokenRequest API) before ``sa switch`` still authenticates after it and stops only after
``finish``; at the end the old CA's admin certificate is refused.

The admin identity is the tree's own admin.conf: the cluster is bootstrapped with
-admin-group system:masters, so its client certificate comes from the tree's CA through warden.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from support.envtest import ControlPlane, KubeadmTree
from support.server import ServerProcess, ok

pytestmark = pytest.mark.interop

TOKEN_LIFETIME = 30  # seconds: how long old-key tokens may live after sa switch (test scale)


def write_admin(tree: Path) -> tuple[Path, Path]:
    """admin.conf's client certificate and key as files (what the test's kubectl uses)."""
    user = yaml.safe_load((tree / "admin.conf").read_text())["users"][0]["user"]
    cert, key = tree / "admin.crt", tree / "admin.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    key.chmod(0o600)
    return cert, key


def who(plane: ControlPlane, token: str) -> tuple[int, str]:
    """The apiserver's verdict on a bearer token: (status, user name)."""
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    ctx = ssl.create_default_context(cadata=plane.ca_pem)
    with httpx.Client(base_url=plane.url, verify=ctx, timeout=30) as client:
        answer = client.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", json=review,
                             headers={"Authorization": f"Bearer {token}"})
    if not answer.is_success:
        return answer.status_code, ""
    return answer.status_code, str(answer.json()["status"]["userInfo"]["username"])


def kid(token: str) -> str:
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


@pytest.fixture(scope="module")
def rotated(dev_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    work = tmp_path_factory.mktemp("rotate-apiserver")
    trees = work / "trees"
    tree = trees / "cp1"
    ok(dev_server.cli("k8s", "bootstrap", "ka", "-control-plane", "cp1=127.0.0.1", "-key-type", "ec",
                      "-admin-group", "system:masters"))
    ok(dev_server.cli("k8s", "certs", "ka", "-node", "cp1", "-out", str(tree)))
    plane = ControlPlane.start(work / "plane", tree=KubeadmTree(tree), admin=write_admin(tree))
    try:
        yield dev_server, plane, trees, tree
    finally:
        plane.stop()


def test_the_apiserver_serves_through_a_ca_and_service_account_key_rotation(rotated: tuple) -> None:
    server, plane, trees, tree = rotated
    cli = server.cli
    plane.ensure_service_account("rotation", "app")
    before = plane.service_account_token("rotation", "app")
    assert who(plane, before) == (201, "system:serviceaccount:rotation:app")
    old_admin = (tree / "admin.crt").read_bytes(), (tree / "admin.key").read_bytes()

    def restart_on_tree(phase: str) -> None:
        write_admin(tree)
        plane.restart_apiserver()
        got = plane.kubectl("get", "namespace", "rotation", "-o", "name").stdout.strip()
        assert got == "namespace/rotation", f"after {phase}"

    # begin: the tree trusts old + new CA, and sa.pub holds both keys.
    ok(cli("k8s", "rotate", "ka", "k8s", "begin"))
    ok(cli("k8s", "rotate", "ka", "sa", "begin"))
    ok(cli("k8s", "certs", "ka", "-node", "cp1", "-out", str(tree)))
    assert (tree / "pki/ca.crt").read_text().count("BEGIN CERTIFICATE") == 2
    restart_on_tree("begin")
    assert who(plane, before)[0] == 201
    assert kid(plane.service_account_token("rotation", "app")) == kid(before)  # still the old key

    # switch: new tokens are signed with the new key; leaves come from the new CA.
    ok(cli("k8s", "rotate", "ka", "sa", "switch", "-token-lifetime", f"{TOKEN_LIFETIME}s"))
    switched = time.monotonic()
    refused = cli("k8s", "rotate", "ka", "sa", "finish")
    assert refused.returncode == 2 and "may be valid until" in refused.stderr
    ok(cli("k8s", "rotate", "ka", "k8s", "switch", "-reissue", "-out", str(trees)))
    restart_on_tree("switch")
    assert who(plane, before)[0] == 201  # issued before the switch, still good
    after = plane.service_account_token("rotation", "app")
    assert kid(after) != kid(before) and who(plane, after)[0] == 201

    # finish: only the new CA and the new key are trusted.
    ok(cli("k8s", "rotate", "ka", "k8s", "finish"))
    time.sleep(max(0.0, TOKEN_LIFETIME + 1 - (time.monotonic() - switched)))
    ok(cli("k8s", "rotate", "ka", "sa", "finish"))
    ok(cli("k8s", "certs", "ka", "-node", "cp1", "-out", str(tree)))
    assert (tree / "pki/ca.crt").read_text().count("BEGIN CERTIFICATE") == 1
    restart_on_tree("finish")
    assert who(plane, before)[0] == 401  # the old key's token stops only now
    assert who(plane, after)[0] == 201
    (tree / "old-admin.crt").write_bytes(old_admin[0])
    (tree / "old-admin.key").write_bytes(old_admin[1])
    with plane.http(tree / "old-admin.crt", tree / "old-admin.key") as client:
        assert client.get("/api/v1/namespaces").status_code == 401  # the old CA's admin is out
