"""Seed 000 against a real server: its exact commands as HTTP calls, policies, and real TLS."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from support.pki import load_pem
from support.server import ServerProcess

CLUSTER = "c1"
HOURS_87600 = 87600 * 3600


@pytest.fixture(scope="module")
def seeded(dev_server: ServerProcess) -> Iterator[ServerProcess]:
    """Seed 000's bootstrap script, one HTTP call per command."""
    http = dev_server.http()
    for component in ("etcd", "k8s"):
        mount = f"{CLUSTER}/pki/{component}"
        # vault mount -path $CLUSTER_ID/pki/$COMPONENT pki
        assert http.post(f"/v1/sys/mounts/{mount}", json={"type": "pki"}).status_code == 204
        # vault mount-tune -max-lease-ttl=87600h $CLUSTER_ID/pki/$COMPONENT
        assert http.post(f"/v1/sys/mounts/{mount}/tune", json={"max_lease_ttl": "87600h"}).status_code == 204
        # vault write $CLUSTER_ID/pki/$COMPONENT/root/generate/internal common_name=... ttl=87600h
        r = http.post(f"/v1/{mount}/root/generate/internal", json={"common_name": mount, "ttl": "87600h"})
        assert r.status_code == 200, r.text
    # vault write $CLUSTER_ID/pki/etcd/roles/member allow_any_name=true max_ttl="720h"
    r = http.post(f"/v1/{CLUSTER}/pki/etcd/roles/member", json={"allow_any_name": "true", "max_ttl": "720h"})
    assert r.status_code in (200, 204)
    # vault write $CLUSTER_ID/pki/k8s/roles/kubelet allowed_domains="kubelet" allow_bare_domains=true ...
    r = http.post(f"/v1/{CLUSTER}/pki/k8s/roles/kubelet", json={
        "allowed_domains": "kubelet", "allow_bare_domains": "true", "allow_subdomains": "false",
        "max_ttl": "720h"})
    assert r.status_code in (200, 204)
    # vault policy-write $CLUSTER_ID/pki/etcd/member -
    member_hcl = f'path "{CLUSTER}/pki/etcd/issue/member" {{\n  policy = "write"\n}}\n'
    r = http.put(f"/v1/sys/policy/{CLUSTER}/pki/etcd/member", json={"policy": member_hcl})
    assert r.status_code == 204
    kubelet_hcl = f'path "{CLUSTER}/pki/k8s/issue/kubelet" {{\n  capabilities = ["update"]\n}}\n'
    r = http.put(f"/v1/sys/policy/{CLUSTER}/pki/k8s/kubelet", json={"policy": kubelet_hcl})
    assert r.status_code == 204
    # vault write auth/token/roles/k8s-$CLUSTER_ID period="720h" orphan=true allowed_policies=...
    r = http.post(f"/v1/auth/token/roles/k8s-{CLUSTER}", json={
        "period": "720h", "orphan": True,
        "allowed_policies": f"{CLUSTER}/pki/etcd/member,{CLUSTER}/pki/k8s/kubelet"})
    assert r.status_code in (200, 204)
    yield dev_server


def _token(server: ServerProcess, policy: str) -> str:
    # vault token-create -policy=... -role=k8s-$CLUSTER
    r = server.http().post(f"/v1/auth/token/create/k8s-{CLUSTER}", json={"policies": [policy]})
    assert r.status_code == 200, r.text
    return str(r.json()["auth"]["client_token"])


def test_roots_live_ten_years_because_the_mounts_were_tuned(seeded: ServerProcess) -> None:
    for component in ("etcd", "k8s"):
        r = httpx.get(f"{seeded.url}/v1/{CLUSTER}/pki/{component}/ca/pem")  # unauthenticated, as in Vault
        assert r.status_code == 200 and r.headers["content-type"] == "application/pem-certificate-chain"
        root = load_pem(r.text)
        cn = root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert cn == f"{CLUSTER}/pki/{component}"
        lifetime = root.not_valid_after_utc.timestamp() - time.time()
        assert HOURS_87600 - 120 < lifetime <= HOURS_87600


def test_the_member_policy_issues_any_name_for_at_most_30_days(seeded: ServerProcess) -> None:
    http = seeded.http(token=_token(seeded, f"{CLUSTER}/pki/etcd/member"))
    r = http.post(f"/v1/{CLUSTER}/pki/etcd/issue/member", json={"common_name": "etcd-3.dc1.example.net",
                                                                  "ttl": "8760h"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    cert = load_pem(data["certificate"])
    assert cert.not_valid_after_utc.timestamp() - time.time() <= 720 * 3600 + 5
    assert data["issuing_ca"] == httpx.get(f"{seeded.url}/v1/{CLUSTER}/pki/etcd/ca/pem").text
    assert data["private_key_type"] == "rsa" and "RSA PRIVATE KEY" in data["private_key"]
    assert r.json()["warnings"]  # the TTL was capped, and the response says so
    # The same token cannot reach the Kubernetes CA, nor other etcd paths.
    other_ca = http.post(f"/v1/{CLUSTER}/pki/k8s/issue/kubelet", json={"common_name": "kubelet"})
    assert other_ca.status_code == 403
    assert http.post(f"/v1/{CLUSTER}/pki/etcd/sign-verbatim", json={"csr": "x"}).status_code == 403
    assert http.post(f"/v1/{CLUSTER}/pki/etcd/roles/member", json={}).status_code == 403


@pytest.mark.parametrize(("cn", "reason"), [
    ("x.kubelet", "allow_subdomains=false"), ("kubelet.evil", "matches none of allowed_domains"),
    ("kubelet\u0000", "control characters"), ("*.kubelet", "wildcards under"),
])
def test_the_kubelet_role_over_http(seeded: ServerProcess, cn: str, reason: str) -> None:
    http = seeded.http(token=_token(seeded, f"{CLUSTER}/pki/k8s/kubelet"))
    r = http.post(f"/v1/{CLUSTER}/pki/k8s/issue/kubelet", json={"common_name": cn})
    assert r.status_code == 400 and reason in r.json()["errors"][0], r.text
    smuggled = http.post(f"/v1/{CLUSTER}/pki/k8s/issue/kubelet",
                         json={"common_name": "kubelet", "alt_names": "kubernetes.default"})
    assert smuggled.status_code == 400 and "kubernetes.default" in smuggled.json()["errors"][0]
    ok = http.post(f"/v1/{CLUSTER}/pki/k8s/issue/kubelet", json={"common_name": "kubelet"})
    assert ok.status_code == 200
    cn_value = load_pem(ok.json()["data"]["certificate"]).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert cn_value[0].value == "kubelet"
    # update on issue/kubelet only: another role of the same mount is refused
    root = seeded.http()
    assert root.post(f"/v1/{CLUSTER}/pki/k8s/roles/other", json={"allow_any_name": True}).status_code == 200
    assert http.post(f"/v1/{CLUSTER}/pki/k8s/issue/other", json={"common_name": "x"}).status_code == 403


# -- a real mutual-TLS handshake with certificates from one mount ----------------------------------

def _files(tmp: Path, name: str, data: dict[str, str]) -> tuple[str, str]:
    cert, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert.write_text(data["certificate"] + "".join(data["ca_chain"][:-1]))
    key.write_text(data["private_key"])
    return str(cert), str(key)


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_mutual_tls_with_issued_server_and_client_certificates(
        seeded: ServerProcess, tmp_path: Path, key_type: str) -> None:
    http = seeded.http()
    mount = f"{CLUSTER}/pki/etcd"
    http.post(f"/v1/{mount}/roles/tls-{key_type}", json={
        "allowed_domains": "localhost", "allow_bare_domains": True, "allow_localhost": True,
        "key_type": key_type, "max_ttl": "1h"}).raise_for_status()
    http.post(f"/v1/{mount}/roles/client-{key_type}", json={
        "allowed_domains": "system:kube-apiserver", "allow_bare_domains": True, "enforce_hostnames": False,
        "organization": "system:masters", "server_flag": False, "key_type": key_type}).raise_for_status()
    server = http.post(f"/v1/{mount}/issue/tls-{key_type}",
                       json={"common_name": "localhost", "ip_sans": "127.0.0.1"}).json()["data"]
    client = http.post(f"/v1/{mount}/issue/client-{key_type}",
                       json={"common_name": "system:kube-apiserver"}).json()["data"]
    ca = httpx.get(f"{seeded.url}/v1/{mount}/ca/pem").text

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca)
    server_ctx.load_cert_chain(*_files(tmp_path, "server", server))
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca)
    client_ctx.load_cert_chain(*_files(tmp_path, "client", client))

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: dict[str, object] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            peer = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")
            seen["client_cn"] = peer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            seen["client_o"] = peer.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
            tls.sendall(b"hello " + tls.recv(16))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with socket.create_connection(("127.0.0.1", port)) as raw, \
            client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"kubelet")
        assert tls.recv(32) == b"hello kubelet"
    thread.join(timeout=10)
    listener.close()
    assert seen == {"client_cn": "system:kube-apiserver", "client_o": "system:masters"}
