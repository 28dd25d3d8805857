"""The seeds' own commands, run with ``warden`` in place of ``vault``."""

from __future__ import annotations

import json
from pathlib import Path

from support.pki import load_pem, run
from support.server import ServerProcess

CLUSTER_ID = "c9"


def _ok(server: ServerProcess, *args: str, token: str | None = None, input: str | None = None) -> str:
    result = server.cli(*args, token=token, input=input)
    assert result.returncode == 0, f"warden {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_seed_000_bootstrap_script(dev_server: ServerProcess) -> None:
    for component in ("etcd", "k8s"):
        _ok(dev_server, "mount", f"-path={CLUSTER_ID}/pki/{component}", "pki")
        _ok(dev_server, "mount-tune", "-max-lease-ttl=87600h", f"{CLUSTER_ID}/pki/{component}")
        _ok(dev_server, "write", f"{CLUSTER_ID}/pki/{component}/root/generate/internal",
            f"common_name={CLUSTER_ID}/pki/{component}", "ttl=87600h")
    _ok(dev_server, "write", f"{CLUSTER_ID}/pki/etcd/roles/member", "allow_any_name=true", "max_ttl=720h")
    _ok(dev_server, "write", f"{CLUSTER_ID}/pki/k8s/roles/kubelet", 'allowed_domains=kubelet',
        "allow_bare_domains=true", "allow_subdomains=false", "max_ttl=720h")
    policy = f'path "{CLUSTER_ID}/pki/etcd/issue/member" {{\n  policy = "write"\n}}\n'
    _ok(dev_server, "policy-write", f"{CLUSTER_ID}/pki/etcd/member", "-", input=policy)
    _ok(dev_server, "write", f"auth/token/roles/k8s-{CLUSTER_ID}", "period=720h", "orphan=true",
        f"allowed_policies={CLUSTER_ID}/pki/etcd/member")
    out = _ok(dev_server, "token-create", f"-policy={CLUSTER_ID}/pki/etcd/member", f"-role=k8s-{CLUSTER_ID}",
              "-format=json")
    token = json.loads(out)["auth"]["client_token"]
    issued = json.loads(_ok(dev_server, "write", "-format=json", f"{CLUSTER_ID}/pki/etcd/issue/member",
                            "common_name=etcd-1.dc1.example.net", token=token))["data"]
    assert load_pem(issued["certificate"]).issuer == load_pem(issued["issuing_ca"]).subject
    refused = dev_server.cli("write", f"{CLUSTER_ID}/pki/k8s/issue/kubelet", "common_name=kubelet",
                             token=token)
    assert refused.returncode != 0 and "permission denied" in refused.stderr.lower()
    bad = dev_server.cli("write", f"{CLUSTER_ID}/pki/k8s/issue/kubelet", "common_name=x.kubelet")
    assert bad.returncode != 0 and "allow_subdomains=false" in bad.stderr


def test_seed_001_offline_root_commands(dev_server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "ca-csr.json").write_text(json.dumps({
        "CN": "Kubernetes CA", "key": {"algo": "ecdsa", "size": 256}, "ca": {"expiry": "87600h"},
        "names": [{"C": "DE", "L": "Wesel", "O": "Kubernetes", "OU": "CA", "ST": "NW"}]}))
    run(["cfssljson", "-bare", "ca"], cwd=tmp_path,
        input=run(["cfssl", "gencert", "-initca", "ca-csr.json"], cwd=tmp_path).stdout)
    _ok(dev_server, "secrets", "enable", "-path=pki-seed001", "pki")
    _ok(dev_server, "secrets", "tune", "-max-lease-ttl=8760h", "pki-seed001")
    csr = _ok(dev_server, "write", "-field=csr", "pki-seed001/intermediate/generate/internal",
              'common_name=Kubernetes Intermediate Authority', "key_type=ec", "ttl=43800h")
    (tmp_path / "intermediate.csr").write_text(csr)
    (tmp_path / "intermediate.json").write_text(json.dumps({"signing": {"default": {
        "usages": ["digital signature", "cert sign", "crl sign", "signing"], "expiry": "43800h",
        "ca_constraint": {"is_ca": True}}}}))
    signed = run(["cfssl", "sign", "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "intermediate.json",
                  "intermediate.csr"], cwd=tmp_path).stdout
    run(["cfssljson", "-bare", "intermediate_ca"], cwd=tmp_path, input=signed)
    _ok(dev_server, "write", "pki-seed001/intermediate/set-signed",
        f"certificate=@{tmp_path / 'intermediate_ca.pem'}")
    ca = _ok(dev_server, "read", "-field=certificate", "pki-seed001/cert/ca")
    assert load_pem(ca).subject.rfc4514_string() == "CN=Kubernetes Intermediate Authority"
