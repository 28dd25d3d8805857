"""Root -> intermediate -> leaf chains from warden, checked by openssl, cryptography and pkilint.

pkilint policy: nothing at NOTICE or above is accepted (INFO findings, such as "SKI computed
with method 1", are informational). Its URI check rejects schemes like spiffe:// and hosts like
localhost (a validator limitation), so the certificates linted here use http(s) URLs on IPs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509 import verification as v

from support.pki import load_pem, openssl_verify, pkilint_findings
from support.server import ServerProcess

pytestmark = pytest.mark.interop
KEY_TYPES = ("rsa", "ec", "ed25519")


@pytest.fixture(scope="module")
def chains(dev_server: ServerProcess) -> Iterator[dict[str, dict[str, Any]]]:
    http = dev_server.http()
    out: dict[str, dict[str, Any]] = {}
    for kt in KEY_TYPES:
        root_mount, inter_mount = f"chain-{kt}-root", f"chain-{kt}-int"
        for mount in (root_mount, inter_mount):
            http.post(f"/v1/sys/mounts/{mount}", json={"type": "pki"}).raise_for_status()
            http.post(f"/v1/sys/mounts/{mount}/tune", json={"max_lease_ttl": "87600h"}).raise_for_status()
            http.post(f"/v1/{mount}/config/urls", json={
                "issuing_certificates": f"http://127.0.0.1:8200/v1/{mount}/ca",
                "crl_distribution_points": f"http://127.0.0.1:8200/v1/{mount}/crl",
                "ocsp_servers": f"http://127.0.0.1:8200/v1/{mount}/ocsp"}).raise_for_status()
        root = _ok(http.post(f"/v1/{root_mount}/root/generate/internal", json={
            "common_name": f"Warden {kt} Root", "key_type": kt, "ttl": "87600h", "organization": "warden"}))
        csr = _ok(http.post(f"/v1/{inter_mount}/intermediate/generate/internal", json={
            "common_name": f"Warden {kt} Intermediate", "key_type": kt}))
        inter = _ok(http.post(f"/v1/{root_mount}/root/sign-intermediate", json={
            "csr": csr["csr"], "common_name": f"Warden {kt} Intermediate", "ttl": "43800h"}))
        # As Vault's docs advise, the signed certificate comes back with its root, so ca_chain is whole.
        _ok(http.post(f"/v1/{inter_mount}/intermediate/set-signed",
                      json={"certificate": inter["certificate"] + root["certificate"]}))
        _ok(http.post(f"/v1/{inter_mount}/roles/web", json={
            "allowed_domains": "example.com", "allow_subdomains": True, "key_type": kt, "max_ttl": "72h"}))
        _ok(http.post(f"/v1/{inter_mount}/roles/kube-client", json={
            "allowed_domains": "system:kube-controller-manager", "allow_bare_domains": True,
            "enforce_hostnames": False, "server_flag": False, "key_type": kt}))
        server_leaf = _ok(http.post(f"/v1/{inter_mount}/issue/web", json={
            "common_name": "api.example.com", "alt_names": "www.example.com", "ip_sans": "10.96.0.1"}))
        client_leaf = _ok(http.post(f"/v1/{inter_mount}/issue/kube-client", json={
            "common_name": "system:kube-controller-manager"}))
        _ok(http.post(f"/v1/{inter_mount}/roles/named-client", json={
            "allowed_domains": "example.com", "allow_subdomains": True, "server_flag": False,
            "key_type": kt}))
        named_client = _ok(http.post(f"/v1/{inter_mount}/issue/named-client", json={
            "common_name": "worker.example.com"}))
        out[kt] = {"root": root["certificate"], "inter": inter["certificate"], "server": server_leaf,
                   "client": client_leaf, "named_client": named_client}
    yield out


def _ok(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["data"])


@pytest.mark.parametrize("kt", KEY_TYPES)
def test_openssl_verifies_server_and_client_chains(chains: dict[str, dict[str, Any]], kt: str,
                                                    tmp_path: Path) -> None:
    c = chains[kt]
    assert "leaf.pem: OK" in openssl_verify(tmp_path, c["root"], c["server"]["certificate"],
                                            untrusted=[c["inter"]], purpose="sslserver")
    assert "leaf.pem: OK" in openssl_verify(tmp_path, c["root"], c["client"]["certificate"],
                                            untrusted=[c["inter"]], purpose="sslclient")
    # The chain in the response is what a client needs: intermediate, then root.
    assert c["server"]["ca_chain"] == [c["inter"], c["root"]]


# cryptography's verifier implements the Web PKI profile, which admits RSA and P-256/384/521
# keys only; Ed25519 chains are checked by openssl and pkilint above and below.
@pytest.mark.parametrize("kt", ["rsa", "ec"])
def test_cryptography_path_validation_for_server_and_client_purposes(
        chains: dict[str, dict[str, Any]], kt: str) -> None:
    c = chains[kt]
    builder = v.PolicyBuilder().store(v.Store([load_pem(c["root"])])).time(dt.datetime.now(dt.UTC))
    inter = [load_pem(c["inter"])]
    server = builder.build_server_verifier(v.DNSName("www.example.com"))
    chain = server.verify(load_pem(c["server"]["certificate"]), inter)
    assert chain[-1].subject == load_pem(c["root"]).subject and len(chain) == 3
    builder.build_server_verifier(v.IPAddress(ipaddress.ip_address("10.96.0.1"))).verify(
        load_pem(c["server"]["certificate"]), inter)
    client = builder.build_client_verifier()
    assert len(client.verify(load_pem(c["named_client"]["certificate"]), inter).chain) == 3
    # Kubernetes client identities carry CN/O and no SAN (valid RFC 5280); the Web PKI
    # profile insists on a SAN, so they are checked with a SAN-optional leaf policy.
    ee = v.ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, v.Criticality.AGNOSTIC, None)
    kube = builder.extension_policies(ca_policy=v.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee)
    assert len(kube.build_client_verifier().verify(load_pem(c["client"]["certificate"]), inter).chain) == 3
    # Purposes and names are enforced: a client-only certificate does not serve TLS ...
    with pytest.raises(v.VerificationError):
        server.verify(load_pem(c["named_client"]["certificate"]), inter)
    # ... and a server certificate is valid only for its own names.
    with pytest.raises(v.VerificationError):
        builder.build_server_verifier(v.DNSName("evil.example.org")).verify(
            load_pem(c["server"]["certificate"]), inter)


@pytest.mark.parametrize("kt", KEY_TYPES)
def test_pkilint_finds_nothing_wrong(chains: dict[str, dict[str, Any]], kt: str, tmp_path: Path) -> None:
    c = chains[kt]
    for name, pem in (("root", c["root"]), ("intermediate", c["inter"]),
                      ("server", c["server"]["certificate"]), ("client", c["client"]["certificate"]),
                      ("named-client", c["named_client"]["certificate"])):
        assert pkilint_findings(tmp_path, pem, f"{kt}-{name}.pem") == [], f"{kt} {name}"


def test_leaf_profiles_are_what_kubernetes_expects(chains: dict[str, dict[str, Any]]) -> None:
    rsa_leaf = load_pem(chains["rsa"]["client"]["certificate"])
    ku = rsa_leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment  # RSA: + key encipherment, as kubeadm
    ec_leaf = load_pem(chains["ec"]["client"]["certificate"])
    ku = ec_leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_encipherment
    eku = ec_leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
