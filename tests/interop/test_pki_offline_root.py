"""Seed 001's offline root: the intermediate's CSR is made inside warden (its key never leaves),
signed outside by cfssl or openssl, imported with set-signed, and then issues certificates."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from support.pki import load_pem, openssl_verify, run
from support.server import ServerProcess

pytestmark = pytest.mark.interop

# Seed 001's files, verbatim. This cfssl (1.2) ignores the profile's top-level "is_ca" and signs
# a CA:FALSE certificate; "ca_constraint" is the spelling it honours (see the test at the end).
CA_CSR_JSON = {
    "CN": "Kubernetes CA",
    "key": {"algo": "rsa", "size": 4096},
    "ca": {"expiry": "87600h"},
    "names": [{"C": "DE", "L": "Wesel", "O": "Kubernetes", "OU": "CA", "ST": "NW"}],
}
INTERMEDIATE_JSON = {
    "signing": {"default": {"usages": ["digital signature", "cert sign", "crl sign", "signing"],
                            "expiry": "43800h", "is_ca": True}},
}
WORKING_INTERMEDIATE_JSON = {
    "signing": {"default": {"usages": ["digital signature", "cert sign", "crl sign", "signing"],
                            "expiry": "43800h", "ca_constraint": {"is_ca": True}}},
}
OPENSSL_EXTENSIONS = """
[v3_intermediate]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, digitalSignature, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""
OPENSSL_CA_CONF = """
[ca]
default_ca = offline

[offline]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
certificate = $dir/root.pem
private_key = $dir/root.key
default_md = sha256
default_days = 1825
policy = policy_anything
x509_extensions = v3_intermediate
copy_extensions = none
unique_subject = no

[policy_anything]
commonName = supplied
organizationName = optional
""" + OPENSSL_EXTENSIONS


@pytest.fixture(scope="module")
def cfssl_root_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cfssl gencert -initca ca-csr.json | cfssljson -bare ca (once: RSA 4096 takes seconds)."""
    work = tmp_path_factory.mktemp("cfssl-root")
    (work / "ca-csr.json").write_text(json.dumps(CA_CSR_JSON))
    out = run(["cfssl", "gencert", "-initca", "ca-csr.json"], cwd=work).stdout
    run(["cfssljson", "-bare", "ca"], cwd=work, input=out)
    return work


def _cfssl_root(work: Path, source: Path) -> tuple[str, Path, Path]:
    for name in ("ca.pem", "ca-key.pem"):
        shutil.copy(source / name, work / name)
    return "rsa", work / "ca.pem", work / "ca-key.pem"


def _cfssl_sign(work: Path, csr: Path, config: dict[str, object] = WORKING_INTERMEDIATE_JSON) -> Path:
    (work / "intermediate.json").write_text(json.dumps(config))
    out = run(["cfssl", "sign", "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "intermediate.json",
               csr.name], cwd=work).stdout
    run(["cfssljson", "-bare", "intermediate_ca"], cwd=work, input=out)
    return work / "intermediate_ca.pem"


def _openssl_root(work: Path, source: Path) -> tuple[str, Path, Path]:
    run(["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", "root.key", "-out", "root.pem", "-days", "3650",
         "-subj", "/O=Offline/CN=Offline Root", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"], cwd=work)
    return "ec", work / "root.pem", work / "root.key"


def _openssl_x509_sign(work: Path, csr: Path) -> Path:
    (work / "ext.cnf").write_text(OPENSSL_EXTENSIONS)
    run(["openssl", "x509", "-req", "-in", csr.name, "-CA", "root.pem", "-CAkey", "root.key",
         "-CAcreateserial", "-days", "1825", "-sha256", "-extfile", "ext.cnf",
         "-extensions", "v3_intermediate", "-out", "intermediate.pem"], cwd=work)
    return work / "intermediate.pem"


def _openssl_ca_sign(work: Path, csr: Path) -> Path:
    (work / "newcerts").mkdir()
    (work / "index.txt").write_text("")
    (work / "serial").write_text("1000\n")
    (work / "ca.cnf").write_text(OPENSSL_CA_CONF.replace("{dir}", str(work)))
    run(["openssl", "ca", "-batch", "-config", "ca.cnf", "-notext", "-in", csr.name,
         "-out", "intermediate.pem"], cwd=work)
    return work / "intermediate.pem"


SIGNERS: dict[str, tuple[Callable[[Path, Path], tuple[str, Path, Path]], Callable[[Path, Path], Path]]] = {
    "cfssl": (_cfssl_root, _cfssl_sign),
    "openssl-x509": (_openssl_root, _openssl_x509_sign),
    "openssl-ca": (_openssl_root, _openssl_ca_sign),
}


@pytest.mark.parametrize("signer", list(SIGNERS))
def test_offline_root_flow(dev_server: ServerProcess, tmp_path: Path, signer: str,
                           cfssl_root_dir: Path) -> None:
    make_root, sign = SIGNERS[signer]
    key_type, root_pem, _ = make_root(tmp_path, cfssl_root_dir)
    http = dev_server.http()
    mount = f"offline-{signer}"
    # vault secrets enable pki; vault secrets tune -max-lease-ttl=8760h pki
    http.post(f"/v1/sys/mounts/{mount}", json={"type": "pki"}).raise_for_status()
    http.post(f"/v1/sys/mounts/{mount}/tune", json={"max_lease_ttl": "8760h"}).raise_for_status()
    # vault write -field=csr pki/intermediate/generate/internal common_name=... key_type=rsa key_bits=4096 ...
    gen = http.post(f"/v1/{mount}/intermediate/generate/internal", json={
        "common_name": "Kubernetes Intermediate Authority", "key_type": key_type,
        "key_bits": 4096 if key_type == "rsa" else 0, "ttl": "43800h"})
    assert gen.status_code == 200, gen.text
    assert "private_key" not in gen.json()["data"]  # the key never leaves warden
    csr = tmp_path / "intermediate.csr"
    csr.write_text(gen.json()["data"]["csr"])
    signed = sign(tmp_path, csr)
    # vault write pki/intermediate/set-signed certificate=@intermediate_ca.pem
    imported = http.post(f"/v1/{mount}/intermediate/set-signed", json={"certificate": signed.read_text()})
    assert imported.status_code == 200, imported.text
    assert imported.json()["data"]["mapping"] == {imported.json()["data"]["imported_issuers"][0]:
                                                   gen.json()["data"]["key_id"]}
    http.post(f"/v1/{mount}/roles/node", json={
        "allowed_domains": "system:node:worker-1", "allow_bare_domains": True, "enforce_hostnames": False,
        "organization": "system:nodes", "key_type": "ec", "max_ttl": "24h"}).raise_for_status()
    leaf = http.post(f"/v1/{mount}/issue/node", json={"common_name": "system:node:worker-1"})
    assert leaf.status_code == 200, leaf.text
    data = leaf.json()["data"]
    assert data["issuing_ca"].strip() == signed.read_text().strip()
    assert "leaf.pem: OK" in openssl_verify(tmp_path, root_pem.read_text(), data["certificate"],
                                            untrusted=[data["issuing_ca"]], purpose="sslclient")
    assert load_pem(data["certificate"]).issuer == load_pem(signed.read_text()).subject
    # A certificate that does not belong to this mount's pending key is refused.
    stranger = http.post(f"/v1/{mount}/intermediate/set-signed", json={"certificate": root_pem.read_text()})
    assert stranger.status_code == 400 and "matches no key" in stranger.json()["errors"][0]


def test_seed_001s_cfssl_profile_signs_no_ca_and_set_signed_says_so(
        dev_server: ServerProcess, tmp_path: Path, cfssl_root_dir: Path) -> None:
    _cfssl_root(tmp_path, cfssl_root_dir)
    http = dev_server.http()
    http.post("/v1/sys/mounts/offline-seed001", json={"type": "pki"}).raise_for_status()
    gen = http.post("/v1/offline-seed001/intermediate/generate/internal",
                    json={"common_name": "Kubernetes Intermediate Authority", "key_type": "ec"})
    (tmp_path / "intermediate.csr").write_text(gen.json()["data"]["csr"])
    signed = _cfssl_sign(tmp_path, tmp_path / "intermediate.csr", INTERMEDIATE_JSON)
    refused = http.post("/v1/offline-seed001/intermediate/set-signed",
                        json={"certificate": signed.read_text()})
    assert refused.status_code == 400
    assert "is not a CA certificate (basicConstraints CA:true is missing)" in refused.json()["errors"][0]
