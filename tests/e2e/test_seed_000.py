"""Seed 000 (DigitalOcean's "Using Vault as a Certificate Authority for Kubernetes") run as a
shell script through bash, its commands with ``warden`` in place of ``vault`` and a cluster
id, against a real server; then certificates are issued with the tokens it made."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from support.server import BIN, ServerProcess

CLUSTER_ID = "dc1-k8s"

# The post's commands, in its order and spelling (Vault 0.6: mount, mount-tune, policy-write,
# token-create; K=V data; "policy" in policies). Where the post is a template or elides, the
# script fills in the obvious: a loop over its two components (it tunes each one, where the
# post's template line names pki/etcd), the kube-apiserver role its policy refers to (made like
# its kubelet example), the "..." of allowed_policies, and $CLUSTER, which it uses for $CLUSTER_ID.
SEED_SCRIPT = r"""#!/bin/bash
set -euo pipefail
CLUSTER_ID="${CLUSTER_ID:?}"
CLUSTER="$CLUSTER_ID"

# Creating the CAs
for COMPONENT in etcd k8s; do
  warden mount -path $CLUSTER_ID/pki/$COMPONENT pki
  warden mount-tune -max-lease-ttl=87600h $CLUSTER_ID/pki/$COMPONENT
  warden write $CLUSTER_ID/pki/$COMPONENT/root/generate/internal \
      common_name=$CLUSTER_ID/pki/$COMPONENT ttl=87600h
done

warden write $CLUSTER_ID/pki/etcd/roles/member \
        allow_any_name=true \
        max_ttl="720h"

warden write $CLUSTER_ID/pki/k8s/roles/kubelet \
        allowed_domains="kubelet" \
        allow_bare_domains=true \
        allow_subdomains=false \
        max_ttl="720h"

warden write $CLUSTER_ID/pki/k8s/roles/kube-apiserver \
        allowed_domains="kube-apiserver" \
        allow_bare_domains=true \
        allow_subdomains=false \
        max_ttl="720h"

# The service-account signing key, shared by the API servers and controller-managers
openssl genrsa 4096 > token-key
warden write secret/$CLUSTER_ID/k8s/token key=@token-key
rm token-key

# Policies
cat <<EOT | warden policy-write $CLUSTER_ID/pki/etcd/member -
path "$CLUSTER_ID/pki/etcd/issue/member" {
  policy = "write"
}
EOT

cat <<EOT | warden policy-write $CLUSTER_ID/pki/k8s/kube-apiserver -
path "$CLUSTER_ID/pki/k8s/issue/kube-apiserver" {
  policy = "write"
}
path "secret/$CLUSTER_ID/k8s/token" {
  policy = "read"
}
EOT

# Getting certificates: a periodic orphan token role, and tokens from it
warden write auth/token/roles/k8s-$CLUSTER_ID \
    period="720h" \
    orphan=true \
    allowed_policies="$CLUSTER_ID/pki/etcd/member,$CLUSTER_ID/pki/k8s/kube-apiserver"

warden token-create \
      -policy="$CLUSTER_ID/pki/etcd/member" \
      -role="k8s-$CLUSTER"

warden token-create \
      -policy="$CLUSTER_ID/pki/k8s/kube-apiserver" \
      -role="k8s-$CLUSTER"
"""


@pytest.fixture(scope="module")
def seeded(dev_server: ServerProcess,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """The server after the script; secret/ is a kv version 1 mount, as Vault's was in 2016."""
    ok(dev_server.cli("secrets", "disable", "secret"))
    ok(dev_server.cli("secrets", "enable", "-path=secret", "-version=1", "kv"))
    workdir = tmp_path_factory.mktemp("seed-000")
    script = workdir / "bootstrap.sh"
    script.write_text(SEED_SCRIPT)
    env = {**os.environ, "WARDEN_ADDR": dev_server.url, "WARDEN_TOKEN": dev_server.root_token,
           "CLUSTER_ID": CLUSTER_ID, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HOME": str(workdir)}
    env.pop("VAULT_ADDR", None)
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, cwd=workdir,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert not (workdir / "token-key").exists()
    yield dev_server, result.stdout


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def tokens(output: str) -> tuple[str, str]:
    """The two tokens token-create printed (``token    <value>`` rows), etcd's first."""
    found = re.findall(r"^token\s+(\S+)$", output, re.MULTILINE)
    assert len(found) == 2, output
    return found[0], found[1]


def issue(server: ServerProcess, token: str, path: str, *args: str) -> dict[str, object]:
    out = ok(server.cli("write", "-format=json", path, *args, token=token))
    return dict(json.loads(out)["data"])


def common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_the_script_made_ten_year_cas_on_tuned_mounts(seeded: tuple[ServerProcess, str]) -> None:
    server, _ = seeded
    mounts = server.http().get("/v1/sys/mounts").json()["data"]
    for component in ("etcd", "k8s"):
        mount = f"{CLUSTER_ID}/pki/{component}/"
        assert mounts[mount]["type"] == "pki"
        assert mounts[mount]["config"]["max_lease_ttl"] == 87600 * 3600
        pem = ok(server.cli("read", "-field=certificate", f"{mount}cert/ca"))
        root = x509.load_pem_x509_certificate(pem.encode())
        assert common_name(root) == f"{CLUSTER_ID}/pki/{component}"
        assert 87600 * 3600 - 300 < root.not_valid_after_utc.timestamp() - time.time() <= 87600 * 3600


def test_the_tokens_are_periodic_orphans_with_one_policy(seeded: tuple[ServerProcess, str]) -> None:
    server, output = seeded
    pairs = zip(tokens(output), ("pki/etcd/member", "pki/k8s/kube-apiserver"), strict=True)
    for token, policy in pairs:
        data = json.loads(ok(server.cli("token", "lookup", "-format=json", token=token)))["data"]
        assert data["period"] == 720 * 3600 and data["orphan"] is True
        assert sorted(data["policies"]) == sorted(["default", f"{CLUSTER_ID}/{policy}"])


def test_the_etcd_token_issues_member_certs_and_nothing_else(seeded: tuple[ServerProcess, str]) -> None:
    server, output = seeded
    etcd, _ = tokens(output)
    data = issue(server, etcd, f"{CLUSTER_ID}/pki/etcd/issue/member", "common_name=etcd-3.dc1.example.net")
    cert = x509.load_pem_x509_certificate(str(data["certificate"]).encode())
    ca = x509.load_pem_x509_certificate(str(data["issuing_ca"]).encode())
    cert.verify_directly_issued_by(ca)
    assert common_name(cert) == "etcd-3.dc1.example.net" and common_name(ca) == f"{CLUSTER_ID}/pki/etcd"
    assert cert.not_valid_after_utc.timestamp() - time.time() <= 720 * 3600  # the role's max_ttl
    assert str(data["private_key"]).startswith("-----BEGIN")
    denied = server.cli("write", f"{CLUSTER_ID}/pki/k8s/issue/kube-apiserver", "common_name=kube-apiserver",
                        token=etcd)
    assert denied.returncode == 2 and "permission denied" in denied.stderr
    assert server.cli("read", f"secret/{CLUSTER_ID}/k8s/token", token=etcd).returncode == 2


def test_the_apiserver_token_issues_its_cert_and_reads_the_key(seeded: tuple[ServerProcess, str]) -> None:
    server, output = seeded
    _, apiserver = tokens(output)
    data = issue(server, apiserver, f"{CLUSTER_ID}/pki/k8s/issue/kube-apiserver",
                 "common_name=kube-apiserver")
    cert = x509.load_pem_x509_certificate(str(data["certificate"]).encode())
    assert common_name(cert) == "kube-apiserver"
    issuer = x509.load_pem_x509_certificate(str(data["issuing_ca"]).encode())
    assert common_name(issuer) == f"{CLUSTER_ID}/pki/k8s"
    refused = server.cli("write", f"{CLUSTER_ID}/pki/k8s/issue/kube-apiserver", "common_name=kubelet",
                         token=apiserver)
    assert refused.returncode == 2 and "not allowed by this role" in refused.stderr
    key = ok(server.cli("read", "-field=key", f"secret/{CLUSTER_ID}/k8s/token", token=apiserver))
    assert key.startswith("-----BEGIN") and "PRIVATE KEY-----" in key
    denied = server.cli("write", f"{CLUSTER_ID}/pki/etcd/issue/member", "common_name=x", token=apiserver)
    assert denied.returncode == 2 and "permission denied" in denied.stderr
