"""``warden k8s`` against a real server with the real CLI: bootstrap (twice; dry-run replayed
on a fresh server; intermediate CAs signed with openssl), certificate trees, kubeconfigs for
people, explain and check."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from support.server import BIN, ServerProcess, ok

CP1 = "cp1=10.0.0.10"
W1 = "w1=10.0.0.21"


@pytest.fixture(scope="module")
def c1(dev_server: ServerProcess) -> ServerProcess:
    """Cluster c1: one control plane, one worker, people in group dev."""
    ok(dev_server.cli("k8s", "bootstrap", "c1", "-control-plane", CP1, "-worker", W1, "-user-group", "dev",
                      "-control-plane-endpoint", "k8s.example.net"))
    return dev_server


def token(server: ServerProcess, *policies: str, role: str = "k8s-c1") -> str:
    args = [f"-policy={p}" for p in policies]
    return ok(server.cli("token", "create", f"-role={role}", *args, "-field=token")).strip()


def subject(cert: x509.Certificate) -> tuple[str, list[str]]:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return str(cn), [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def client_cert(kubeconfig: dict[str, Any]) -> x509.Certificate:
    data = kubeconfig["users"][0]["user"]["client-certificate-data"]
    return x509.load_pem_x509_certificate(base64.b64decode(data))


def openssl_verify(ca: Path, cert: Path, untrusted: Path | None = None) -> None:
    chain = ["-untrusted", str(untrusted)] if untrusted else []
    result = subprocess.run(["openssl", "verify", "-CAfile", str(ca), *chain, str(cert)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip().endswith("OK"), result.stdout + result.stderr


# -- bootstrap ------------------------------------------------------------------------------------


def test_a_second_bootstrap_changes_nothing_and_says_so(c1: ServerProcess) -> None:
    again = ok(c1.cli("k8s", "bootstrap", "c1"))  # the stored settings are used
    assert "No changes: cluster c1 is already bootstrapped as requested" in again
    data = json.loads(ok(c1.cli("k8s", "bootstrap", "c1", "-control-plane", CP1, "-format=json")))
    assert data["changed"] is False and data["changes"] == []
    mounts = c1.http().get("/v1/sys/mounts").json()["data"]
    ours = {m for m in mounts if m.startswith("c1/")}
    assert ours == {"c1/pki/k8s/", "c1/pki/etcd/", "c1/pki/front-proxy/"}
    assert mounts["c1/pki/etcd/"]["config"]["max_lease_ttl"] == 87600 * 3600


def test_bootstrap_explains_bad_input(c1: ServerProcess) -> None:
    result = c1.cli("k8s", "bootstrap", "c9", "-control-plane", "cp1")
    assert result.returncode == 1 and "-control-plane cp1=IP" in result.stderr


def test_bootstrap_without_nodes_then_nodes_later(c1: ServerProcess, tmp_path: Path) -> None:
    """The PKI first (CAs, roles, policies, token role, SA key), machines when they exist (issue 15)."""
    ok(c1.cli("k8s", "bootstrap", "n0"))
    first = _state(c1, "n0")
    assert set(first["mounts"]) == {"n0/pki/k8s/", "n0/pki/etcd/", "n0/pki/front-proxy/"}
    assert all(first["cas"].values()) and first["sa"] == ["private_key", "public_key"]
    assert "n0/pki/k8s/apiserver" in first["roles"] and "n0/k8s/kube-apiserver" in first["policies"]
    assert not any(r.startswith(("n0/pki/etcd/etcd-server", "n0/pki/k8s/kubelet-")) for r in first["roles"])
    assert first["token_role"]["period"] == 720 * 3600 and first["settings"]["nodes"] == []
    ca_before = c1.http().get("/v1/n0/pki/k8s/cert/ca").json()["data"]["certificate"]
    sa_before = c1.http().get("/v1/secret/data/n0/k8s/sa").json()["data"]["data"]

    no_node = c1.cli("k8s", "certs", "n0", "-out", str(tmp_path / "none"))
    assert no_node.returncode == 1 and "bootstrap n0 -control-plane NAME=IP" in no_node.stderr

    added = ok(c1.cli("k8s", "bootstrap", "n0", "-control-plane", CP1))
    assert "create role n0/pki/etcd/roles/etcd-server-cp1" in added
    ok(c1.cli("k8s", "bootstrap", "n0", "-worker", W1))
    later = _state(c1, "n0")
    assert [n["name"] for n in later["settings"]["nodes"]] == ["cp1", "w1"]
    assert "n0/pki/k8s/kubelet-serving-w1" in later["roles"] and "n0/k8s/etcd-cp1" in later["policies"]
    assert c1.http().get("/v1/n0/pki/k8s/cert/ca").json()["data"]["certificate"] == ca_before
    assert c1.http().get("/v1/secret/data/n0/k8s/sa").json()["data"]["data"] == sa_before
    assert "No changes" in ok(c1.cli("k8s", "bootstrap", "n0"))
    ok(c1.cli("k8s", "certs", "n0", "-node", "cp1", "-out", str(tmp_path / "cp1")))
    apiserver = x509.load_pem_x509_certificate((tmp_path / "cp1/pki/apiserver.crt").read_bytes())
    sans = apiserver.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "10.0.0.10" in [str(i) for i in sans.get_values_for_type(x509.IPAddress)]


def _state(server: ServerProcess, cluster: str) -> dict[str, Any]:
    http = server.http()
    mounts = {p: (m["type"], m["config"]["max_lease_ttl"])
              for p, m in http.get("/v1/sys/mounts").json()["data"].items() if p.startswith(cluster + "/")}
    roles = {}
    for mount in mounts:
        for name in http.request("LIST", f"/v1/{mount}roles").json()["data"]["keys"]:
            roles[f"{mount}{name}"] = http.get(f"/v1/{mount}roles/{name}").json()["data"]
    names = http.request("LIST", "/v1/sys/policies/acl").json()["data"]["keys"]
    policies = {n: http.get(f"/v1/sys/policies/acl/{n}").json()["data"]["policy"]
                for n in names if n.startswith(cluster + "/")}
    token_role = http.get(f"/v1/auth/token/roles/k8s-{cluster}").json()["data"]
    sa = http.get(f"/v1/secret/data/{cluster}/k8s/sa").json()["data"]["data"]
    settings = http.get(f"/v1/secret/data/{cluster}/k8s/cluster").json()["data"]["data"]
    cas = {m: bool(http.get(f"/v1/{m}cert/ca").json()["data"]["certificate"]) for m in mounts}
    return {"mounts": mounts, "roles": roles, "policies": policies, "token_role": token_role,
            "sa": sorted(sa), "settings": settings, "cas": cas}


def test_the_dry_run_replays_to_the_same_state(c1: ServerProcess, tmp_path: Path,
                                               server_factory: Callable[..., ServerProcess]) -> None:
    args = ["k8s", "bootstrap", "r1", "-control-plane", CP1, "-control-plane", "cp2=10.0.0.11", "-worker", W1,
            "-user-group", "ops", "-kubelet-serving-ca", "-key-type", "ec",
            "-apiserver-san", "api.example.net"]
    fresh = server_factory().start()
    script = ok(fresh.cli(*args, "-dry-run"))
    assert script.startswith("#!/bin/sh") and "warden policy write r1/k8s/etcd-cp2 - <<'EOT'" in script
    assert _state_is_empty(fresh)
    (tmp_path / "r1.sh").write_text(script)
    env = {**os.environ, "WARDEN_ADDR": fresh.url, "WARDEN_TOKEN": fresh.root_token,
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}
    replay = subprocess.run(["bash", str(tmp_path / "r1.sh")], capture_output=True, text=True, env=env,
                            cwd=tmp_path, check=False, timeout=120)
    assert replay.returncode == 0, replay.stderr
    ok(c1.cli(*args))
    assert _state(fresh, "r1") == _state(c1, "r1")
    assert "No changes" in ok(fresh.cli(*args))


def _state_is_empty(server: ServerProcess) -> bool:
    mounts = server.http().get("/v1/sys/mounts").json()["data"]
    return not any(p.startswith("r1/") for p in mounts)


OPENSSL_CA_EXT = ("basicConstraints=critical,CA:TRUE\n"
                  "keyUsage=critical,keyCertSign,cRLSign,digitalSignature\n"
                  "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")


def test_intermediate_cas_signed_by_an_offline_root(c1: ServerProcess, tmp_path: Path) -> None:
    csr_dir = tmp_path / "csr"
    out = ok(c1.cli("k8s", "bootstrap", "i1", "-control-plane", CP1, "-intermediate",
                    "-csr-dir", str(csr_dir)))
    assert "Waiting for signed certificates: i1/pki/k8s, i1/pki/etcd, i1/pki/front-proxy" in out
    assert "No changes" in ok(c1.cli("k8s", "bootstrap", "i1", "-csr-dir", str(csr_dir)))
    refused = c1.cli("k8s", "import-signed", "i1", "-csr-dir", str(csr_dir))
    assert refused.returncode == 2 and "sign " in refused.stderr and "i1-k8s.csr" in refused.stderr
    root_key, root_crt = tmp_path / "root.key", tmp_path / "root.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(root_key),
                    "-out", str(root_crt), "-days", "3650", "-subj", "/CN=offline-root"],
                   check=True, capture_output=True)
    (tmp_path / "ca.ext").write_text(OPENSSL_CA_EXT)
    for ca in ("k8s", "etcd", "front-proxy"):
        subprocess.run(["openssl", "x509", "-req", "-in", str(csr_dir / f"i1-{ca}.csr"), "-CA", str(root_crt),
                        "-CAkey", str(root_key), "-CAcreateserial", "-days", "1825", "-extfile",
                        str(tmp_path / "ca.ext"), "-out", str(csr_dir / f"i1-{ca}.crt")],
                       check=True, capture_output=True)
    ok(c1.cli("k8s", "import-signed", "i1", "-csr-dir", str(csr_dir), "-root", str(root_crt)))
    tree = tmp_path / "tree"
    ok(c1.cli("k8s", "certs", "i1", "-out", str(tree)))
    for leaf, ca in (("apiserver.crt", "ca.crt"), ("etcd/server.crt", "etcd/ca.crt"),
                     ("front-proxy-client.crt", "front-proxy-ca.crt")):
        openssl_verify(root_crt, tree / "pki" / leaf, tree / "pki" / ca)  # the offline root anchors it
    bundle = x509.load_pem_x509_certificates((tree / "pki/ca.crt").read_bytes())
    assert [c.subject.rfc4514_string() for c in bundle] == ["CN=kubernetes,OU=i1", "CN=offline-root"]
    assert ok(c1.cli("k8s", "check", str(tree))).rstrip().endswith("0 with problems.")


# -- certificate trees ------------------------------------------------------------------------------

CONTROL_PLANE_FILES = {
    "pki/ca.crt", "pki/apiserver.crt", "pki/apiserver.key", "pki/apiserver-kubelet-client.crt",
    "pki/apiserver-kubelet-client.key", "pki/apiserver-etcd-client.crt", "pki/apiserver-etcd-client.key",
    "pki/front-proxy-ca.crt", "pki/front-proxy-client.crt", "pki/front-proxy-client.key", "pki/etcd/ca.crt",
    "pki/etcd/server.crt", "pki/etcd/server.key", "pki/etcd/peer.crt", "pki/etcd/peer.key",
    "pki/etcd/healthcheck-client.crt", "pki/etcd/healthcheck-client.key",
    "pki/kubelet.crt", "pki/kubelet.key",
    "pki/sa.key", "pki/sa.pub", "admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet.conf",
    "kube-proxy.conf", "super-admin.conf",
}
CP1_POLICIES = ("c1/k8s/etcd-cp1", "c1/k8s/etcd-healthcheck-client", "c1/k8s/kube-apiserver",
                "c1/k8s/kube-controller-manager", "c1/k8s/kube-scheduler", "c1/k8s/kubelet-cp1",
                "c1/k8s/kube-proxy", "c1/k8s/admin", "c1/k8s/super-admin", "c1/k8s/cluster-info")


@pytest.fixture(scope="module")
def cp1_tree(c1: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cp1's tree, written with a token from the token role holding only cp1's policies."""
    root = tmp_path_factory.mktemp("cp1") / "kubernetes"
    ok(c1.cli("k8s", "certs", "c1", "-node", "cp1", "-out", str(root), token=token(c1, *CP1_POLICIES)))
    return root


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()}


def test_the_control_plane_tree(cp1_tree: Path) -> None:
    files = _files(cp1_tree)
    assert set(files) == CONTROL_PLANE_FILES
    assert not any(f.endswith("ca.key") for f in files)  # CA keys stay inside warden
    for name, mode in files.items():
        private = name.endswith((".key", ".conf"))
        assert mode == (0o600 if private else 0o644), name
    pki = cp1_tree / "pki"
    for ca, leaves in {"ca.crt": ["apiserver.crt", "apiserver-kubelet-client.crt", "kubelet.crt"],
                       "etcd/ca.crt": ["etcd/server.crt", "etcd/peer.crt", "etcd/healthcheck-client.crt",
                                       "apiserver-etcd-client.crt"],
                       "front-proxy-ca.crt": ["front-proxy-client.crt"]}.items():
        for leaf in leaves:
            openssl_verify(pki / ca, pki / leaf)
    apiserver = x509.load_pem_x509_certificate((pki / "apiserver.crt").read_bytes())
    sans = apiserver.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == [  # the server sorts DNS SANs, as Vault does
        "cp1", "k8s.example.net", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local"]
    assert [str(i) for i in sans.get_values_for_type(x509.IPAddress)] == ["10.96.0.1", "10.0.0.10"]
    assert (pki / "sa.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_kubeconfigs_embed_the_ca_and_a_client_certificate(cp1_tree: Path) -> None:
    ca = (cp1_tree / "pki/ca.crt").read_text()
    expected = {"admin.conf": ("kubernetes-admin", ["kubeadm:cluster-admins"], "https://k8s.example.net:6443"),
                "controller-manager.conf": ("system:kube-controller-manager", [], "https://10.0.0.10:6443"),
                "scheduler.conf": ("system:kube-scheduler", [], "https://10.0.0.10:6443"),
                "kubelet.conf": ("system:node:cp1", ["system:nodes"], "https://k8s.example.net:6443"),
                "kube-proxy.conf": ("system:kube-proxy", ["system:node-proxier"], "https://k8s.example.net:6443")}
    for name, (cn, groups, server) in expected.items():
        doc = yaml.safe_load((cp1_tree / name).read_text())
        cluster = doc["clusters"][0]["cluster"]
        assert base64.b64decode(cluster["certificate-authority-data"]).decode() == ca
        assert cluster["server"] == server
        cert = client_cert(doc)
        assert subject(cert) == (cn, groups), name


def test_a_worker_gets_only_its_files(c1: ServerProcess, tmp_path: Path) -> None:
    policies = ("c1/k8s/kubelet-w1", "c1/k8s/kube-proxy", "c1/k8s/cluster-info")
    ok(c1.cli("k8s", "certs", "c1", "-node", "w1", "-out", str(tmp_path), token=token(c1, *policies)))
    assert set(_files(tmp_path)) == {"pki/ca.crt", "pki/kubelet.crt", "pki/kubelet.key", "kubelet.conf",
                                     "kube-proxy.conf"}
    serving = x509.load_pem_x509_certificate((tmp_path / "pki/kubelet.crt").read_bytes())
    assert subject(serving) == ("system:node:w1", ["system:nodes"])


def test_a_token_without_a_policy_writes_nothing(c1: ServerProcess, tmp_path: Path) -> None:
    weak = token(c1, *[p for p in CP1_POLICIES if p != "c1/k8s/admin"])
    result = c1.cli("k8s", "certs", "c1", "-node", "cp1", "-out", str(tmp_path / "t"), token=weak)
    assert result.returncode == 2
    assert "the token may not issue admin" in result.stderr
    assert "needs the policy c1/k8s/admin" in result.stderr
    assert not (tmp_path / "t").exists()
    blind = token(c1, "c1/k8s/kubelet-w1")
    result = c1.cli("k8s", "certs", "c1", "-node", "w1", "-out", str(tmp_path / "t"), token=blind)
    assert result.returncode == 2 and "needs the policy c1/k8s/cluster-info" in result.stderr
    other = token(c1, "c1/k8s/kubelet-w1", "c1/k8s/kube-proxy", "c1/k8s/cluster-info")
    result = c1.cli("k8s", "certs", "c1", "-node", "cp1", "-out", str(tmp_path / "t"), token=other)
    assert result.returncode == 2 and "needs the policy c1/k8s/" in result.stderr


def test_a_node_cannot_get_another_nodes_identity(c1: ServerProcess) -> None:
    w1 = token(c1, "c1/k8s/kubelet-w1")
    result = c1.cli("write", "c1/pki/k8s/issue/kubelet-client-cp1", "common_name=system:node:cp1", token=w1)
    assert result.returncode == 2 and "permission denied" in result.stderr
    result = c1.cli("write", "c1/pki/k8s/issue/kubelet-client-w1", "common_name=system:node:cp1", token=w1)
    assert result.returncode == 2 and "not allowed by this role" in result.stderr


# -- kubeconfigs for people -----------------------------------------------------------------------


def test_a_person_gets_a_short_lived_kubeconfig_with_the_policy(c1: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "alice.conf"
    args = ("k8s", "kubeconfig", "c1", "-user", "alice@example.net", "-group", "dev", "-ttl", "2h",
            "-out", str(out),
            "-server", "https://k8s.example.net:6443")
    without = ok(c1.cli("token", "create", "-policy=c1/k8s/cluster-info", "-field=token")).strip()
    refused = c1.cli(*args, token=without)
    assert refused.returncode == 2 and "needs the policy c1/k8s/user-dev" in refused.stderr
    assert not out.exists()
    allowed = ok(c1.cli("token", "create", "-policy=c1/k8s/user-dev", "-field=token")).strip()
    ok(c1.cli(*args, token=allowed))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    doc = yaml.safe_load(out.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == "https://k8s.example.net:6443"
    cert = client_cert(doc)
    assert subject(cert) == ("alice@example.net", ["dev"])
    lifetime = cert.not_valid_after_utc.timestamp() - time.time()
    assert 7000 < lifetime <= 7200
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])
    other_group = c1.cli("k8s", "kubeconfig", "c1", "-user", "alice@example.net", "-group", "ops",
                         "-server", "https://x", token=allowed)
    assert other_group.returncode == 2 and "c1/k8s/user-ops" in other_group.stderr
    # Straight to the API, past the CLI's own checks: component names are refused by the role.
    for cn in ("kube-apiserver-kubelet-client", "system:kube-scheduler", "kubernetes-admin"):
        direct = c1.cli("write", "c1/pki/k8s/issue/user-dev", f"common_name={cn}", token=allowed)
        assert direct.returncode == 2 and "not allowed by this role" in direct.stderr, cn


def test_a_user_domain_keeps_people_out_of_component_names(c1: ServerProcess, tmp_path: Path) -> None:
    ok(c1.cli("k8s", "bootstrap", "p1", "-control-plane", CP1, "-user-group", "dev",
              "-user-domain", "example.com"))
    person = ok(c1.cli("token", "create", "-policy=p1/k8s/user-dev", "-field=token")).strip()
    out = tmp_path / "alice.conf"
    ok(c1.cli("k8s", "kubeconfig", "p1", "-user", "alice", "-group", "dev", "-out", str(out), token=person))
    assert subject(client_cert(yaml.safe_load(out.read_text()))) == ("alice@example.com", ["dev"])
    for cn in ("system:kube-scheduler", "kube-apiserver-kubelet-client", "mallory@evil.example"):
        direct = c1.cli("write", "p1/pki/k8s/issue/user-dev", f"common_name={cn}", token=person)
        assert direct.returncode == 2 and "not allowed by this role" in direct.stderr, cn
    refused = c1.cli("k8s", "kubeconfig", "p1", "-user", "system:kube-scheduler", "-group", "dev",
                     token=person)
    assert refused.returncode == 1 and "Kubernetes gives its own components" in refused.stderr


# -- explain and check ----------------------------------------------------------------------------


def test_explain_as_table_and_json(c1: ServerProcess) -> None:
    text = ok(c1.cli("k8s", "explain", "c1"))
    assert max(len(line) for line in text.splitlines()) <= 100, text  # issue 15: 250 columns before
    section = text[text.index("\nkube-apiserver\n"):]
    line = next(x for x in section.splitlines() if "--etcd-cafile" in x)
    assert line.split() == ["--etcd-cafile", "etcd/ca.crt", "etcd", "CA"]
    line = next(x for x in section.splitlines() if "--kubelet-client-certificate" in x)
    assert line.split() == ["--kubelet-client-certificate", "apiserver-kubelet-client.crt",
                            "k8s/apiserver-kubelet-client"]
    assert "c1/pki/<ca>/issue/<role>" in text and "secret/c1/k8s/sa" in text
    long_name = ok(c1.cli("k8s", "explain", "a-cluster-name-of-the-longest-kind-anyone-would-choose-here"))
    assert max(len(line) for line in long_name.splitlines()) <= 100
    wide = ok(c1.cli("k8s", "explain", "-wide", "c1"))
    assert wide.splitlines()[0].split() == ["Component", "Flag", "File", "Backed", "by", "Identity"]
    line = next(x for x in wide.splitlines() if "--etcd-cafile" in x)
    assert "/etc/kubernetes/pki/etcd/ca.crt" in line and "c1/pki/etcd (CA certificate)" in line
    rows = json.loads(ok(c1.cli("k8s", "explain", "c1", "-format=json", "-dir", "/srv/k8s")))
    flags = {(r["component"], r["flag"]): r for r in rows}
    header = flags[("kube-apiserver", "--requestheader-client-ca-file")]
    assert header["file"] == "/srv/k8s/pki/front-proxy-ca.crt"
    assert flags[("kubelet", "--kubeconfig")]["identity"] == "CN=system:node:<node>, O=system:nodes"


def test_check_is_clean_on_the_tree_from_certs(c1: ServerProcess, cp1_tree: Path) -> None:
    text = ok(c1.cli("k8s", "check", str(cp1_tree)))
    assert "18 files checked, 0 with problems." in text
    assert max(len(line) for line in text.splitlines()) <= 100, text  # issue 15: 361 columns before
    assert text.splitlines()[0].split() == ["File", "Subject", "Days", "Result"]
    assert next(x for x in text.splitlines() if x.startswith("admin.conf")).split()[1:] == [
        "CN=kubernetes-admin,O=kubeadm:cluster-admins", "0", "ok"]
    wide = ok(c1.cli("k8s", "check", "-wide", str(cp1_tree)))
    assert wide.splitlines()[0].split() == [
        "File", "Subject", "Issuer", "SANs", "Usages", "Days", "Key", "Chain", "Identity"]
    report = json.loads(ok(c1.cli("k8s", "check", str(cp1_tree), "-format=json",
                                  "-service-cidr", "10.96.0.0/12")))
    assert report["ok"] is True and len(report["files"]) == 18


@pytest.fixture
def broken(cp1_tree: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    shutil.copytree(cp1_tree, copy)
    return copy


def _check_fails(server: ServerProcess, tree: Path, file: str, problem: str) -> None:
    result = server.cli("k8s", "check", str(tree))
    assert result.returncode == 2, result.stdout
    assert f"  {file}: {problem}" in result.stdout, result.stdout
    row = next(x for x in result.stdout.splitlines() if x.startswith(file + " "))
    assert row.endswith("PROBLEM"), row


def test_check_reports_a_swapped_ca(c1: ServerProcess, broken: Path) -> None:
    shutil.copy(broken / "pki/front-proxy-ca.crt", broken / "pki/etcd/ca.crt")
    _check_fails(c1, broken, "pki/etcd/server.crt", "does not verify against pki/etcd/ca.crt")


def test_check_reports_a_key_mismatch(c1: ServerProcess, broken: Path) -> None:
    shutil.copy(broken / "pki/front-proxy-client.key", broken / "pki/apiserver.key")
    _check_fails(c1, broken, "pki/apiserver.crt", "private key does not match the certificate")


def test_check_reports_a_wrong_cn(c1: ServerProcess, broken: Path) -> None:
    for suffix in (".crt", ".key"):  # a valid etcd-CA certificate, in the wrong slot
        shutil.copy(broken / f"pki/etcd/healthcheck-client{suffix}",
                    broken / f"pki/apiserver-etcd-client{suffix}")
    _check_fails(c1, broken, "pki/apiserver-etcd-client.crt",
                 "CN is 'kube-etcd-healthcheck-client', expected 'kube-apiserver-etcd-client'")


def test_check_reports_an_expired_certificate(c1: ServerProcess, broken: Path) -> None:
    body = c1.http().post("/v1/c1/pki/front-proxy/issue/front-proxy-client", json={
        "common_name": "front-proxy-client", "ttl": "1s", "exclude_cn_from_sans": True}).json()["data"]
    (broken / "pki/front-proxy-client.crt").write_text(body["certificate"])
    (broken / "pki/front-proxy-client.key").write_text(body["private_key"])
    time.sleep(max(0.0, body["expiration"] - time.time() + 1.1))
    _check_fails(c1, broken, "pki/front-proxy-client.crt", "expired on")


def test_bootstrap_says_what_existing_things_it_adopts_or_changes(dev_server: ServerProcess) -> None:
    """The README's old order (issue 15): a hand-made mount, CA, role and token role under the
    same cluster name, then bootstrap. Nothing is adopted or changed silently."""
    cli = dev_server.cli
    ok(cli("policy", "write", "h1/pki/etcd/member", "-", input='path "h1/pki/etcd/issue/member" '
                                                              '{ capabilities = ["update"] }\n'))
    ok(cli("write", "auth/token/roles/k8s-h1", "period=720h", "orphan=true",
           "allowed_policies=h1/pki/etcd/member"))
    ok(cli("secrets", "enable", "-path=h1/pki/etcd", "pki"))
    ok(cli("write", "h1/pki/etcd/root/generate/internal", "common_name=h1/pki/etcd", "ttl=87600h"))
    ok(cli("write", "h1/pki/etcd/roles/member", "allow_any_name=true", "max_ttl=720h"))
    ok(cli("policy", "write", "h1/k8s/admin", "-", input='path "secret/*" { capabilities = ["read"] }\n'))

    script = ok(cli("k8s", "bootstrap", "h1", "-control-plane", CP1, "-dry-run"))
    out = ok(cli("k8s", "bootstrap", "h1", "-control-plane", CP1))
    adopted = out[:out.index("[1/")]  # said before anything is changed
    for expected in (
        "adopts mount h1/pki/etcd/ (pki), which 'warden k8s bootstrap' did not make",
        "adopts the CA of h1/pki/etcd as it is: CN 'h1/pki/etcd', not 'etcd-ca'",
        "changes token role k8s-h1: allowed_policies loses h1/pki/etcd/member",
        "replaces policy h1/k8s/admin, which 'warden k8s bootstrap' did not write",
        "leaves role h1/pki/etcd/roles/member alone",
    ):
        assert expected in adopted, out
        assert expected in script, script
    report = json.loads(ok(cli("k8s", "bootstrap", "h1", "-format=json")))
    assert report["changed"] is False  # what was changed is bootstrap's own now; what it adopted stays
    assert [e.split(":")[0] for e in report["existing"]] == [
        "adopts mount h1/pki/etcd/ (pki), which 'warden k8s bootstrap' did not make",
        "adopts the CA of h1/pki/etcd as it is"]
    again = ok(cli("k8s", "bootstrap", "h1"))
    assert "No changes" in again and "changes token role" not in again


def test_kubeconfig_says_when_the_ttl_is_capped_and_how_to_add_a_group(c1: ServerProcess,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "alice.conf"
    capped = c1.cli("k8s", "kubeconfig", "c1", "-user", "alice@example.net", "-group", "dev", "-ttl", "48h",
                    "-out", str(out))
    assert capped.returncode == 0, capped.stderr
    assert "WARNING!" in capped.stderr
    assert "TTL of 172800s is longer than the maximum of 28800s" in capped.stderr
    lifetime = client_cert(yaml.safe_load(out.read_text())).not_valid_after_utc.timestamp() - time.time()
    assert 28000 < lifetime <= 28800
    within = c1.cli("k8s", "kubeconfig", "c1", "-user", "alice@example.net", "-group", "dev", "-ttl", "2h",
                    "-out", str(out))
    assert within.returncode == 0 and "WARNING" not in within.stderr

    unknown = c1.cli("k8s", "kubeconfig", "c1", "-user", "alice@example.net", "-group", "ops",
                     "-out", str(out))
    assert unknown.returncode == 2
    assert "cluster c1 has no group 'ops'" in unknown.stderr
    assert "warden k8s bootstrap c1 -user-group ops" in unknown.stderr


def test_super_admin_conf_can_be_left_out(c1: ServerProcess, tmp_path: Path) -> None:
    without = token(c1, *[p for p in CP1_POLICIES if p != "c1/k8s/super-admin"])
    refused = c1.cli("k8s", "certs", "c1", "-node", "cp1", "-out", str(tmp_path / "a"), token=without)
    assert refused.returncode == 2
    assert "needs the policy c1/k8s/super-admin (or pass -no-super-admin)" in refused.stderr
    ok(c1.cli("k8s", "certs", "c1", "-node", "cp1", "-no-super-admin", "-out", str(tmp_path / "b"),
              token=without))
    assert set(_files(tmp_path / "b")) == CONTROL_PLANE_FILES - {"super-admin.conf"}
