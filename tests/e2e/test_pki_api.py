"""The PKI API as Vault's clients use it: hvac's ``secrets.pki`` methods, curl-style HTTP, leases,
the audit trail, and the unauthenticated paths."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from support.pki import load_pem, make_csr, make_key
from support.server import ServerProcess

MOUNT = "pki-api"
INTER = "pki-api-int"


@pytest.fixture(scope="module")
def server(dev_server: ServerProcess) -> Iterator[ServerProcess]:
    client = dev_server.client()
    client.sys.enable_secrets_engine("pki", path=MOUNT)
    client.sys.enable_secrets_engine("pki", path=INTER)
    client.sys.tune_mount_configuration(MOUNT, max_lease_ttl="87600h")
    yield dev_server


@pytest.fixture(scope="module")
def root(server: ServerProcess) -> dict[str, Any]:
    resp = server.client().secrets.pki.generate_root(
        "internal", "API Root", extra_params={"ttl": "87600h", "key_type": "ec", "issuer_name": "root-1"},
        mount_point=MOUNT)
    return dict(resp["data"])


def test_hvac_roles_issue_sign_read_list_revoke(server: ServerProcess, root: dict[str, Any]) -> None:
    pki = server.client().secrets.pki
    pki.create_or_update_role("web", extra_params={"allowed_domains": ["example.com"],
                                                   "allow_subdomains": True,
                                                   "key_type": "ec", "max_ttl": "24h"}, mount_point=MOUNT)
    assert pki.read_role("web", mount_point=MOUNT)["data"]["allowed_domains"] == ["example.com"]
    assert "web" in pki.list_roles(mount_point=MOUNT)["data"]["keys"]
    issued = pki.generate_certificate("web", "a.example.com", extra_params={"ttl": "1h"},
                                      mount_point=MOUNT)["data"]
    csr = make_csr(make_key("ec"), "b.example.com")
    signed = pki.sign_certificate("web", csr, "b.example.com", mount_point=MOUNT)["data"]
    assert load_pem(signed["certificate"]).issuer == load_pem(root["certificate"]).subject
    serials = pki.list_certificates(mount_point=MOUNT)["data"]["keys"]
    assert {issued["serial_number"], signed["serial_number"], root["serial_number"]} <= set(serials)
    assert pki.read_certificate(issued["serial_number"], mount_point=MOUNT)["data"]["certificate"] == \
        issued["certificate"]
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        pki.generate_certificate("web", "evil.org", mount_point=MOUNT)
    assert "evil.org" in str(refused.value)
    revoked = pki.revoke_certificate(issued["serial_number"], mount_point=MOUNT)["data"]
    assert revoked["revocation_time"] > 0
    crl = x509.load_pem_x509_crl(pki.read_crl(mount_point=MOUNT).encode())
    assert crl.get_revoked_certificate_by_serial_number(load_pem(issued["certificate"]).serial_number)
    assert pki.rotate_crl(mount_point=MOUNT)["data"]["success"]
    verbatim = pki.sign_verbatim(make_csr(make_key("ec"), "verbatim name"), mount_point=MOUNT)["data"]
    assert load_pem(verbatim["certificate"]).subject.rfc4514_string() == "CN=verbatim name"
    pki.delete_role("web", mount_point=MOUNT)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="unknown role"):
        pki.generate_certificate("web", "a.example.com", mount_point=MOUNT)


def test_hvac_ca_urls_crl_config_issuers(server: ServerProcess, root: dict[str, Any]) -> None:
    pki = server.client().secrets.pki
    assert pki.read_ca_certificate(mount_point=MOUNT).strip() == root["certificate"].strip()
    assert root["certificate"].strip() in pki.read_ca_certificate_chain(mount_point=MOUNT)
    urls = {"issuing_certificates": [f"{server.url}/v1/{MOUNT}/ca"],
            "crl_distribution_points": [f"{server.url}/v1/{MOUNT}/crl"],
            "ocsp_servers": [f"{server.url}/v1/{MOUNT}/ocsp"]}
    pki.set_urls(urls, mount_point=MOUNT)
    assert pki.read_urls(mount_point=MOUNT)["data"]["ocsp_servers"] == urls["ocsp_servers"]
    pki.create_or_update_role("urls", extra_params={"allow_any_name": True, "key_type": "ec"},
                              mount_point=MOUNT)
    cert = load_pem(pki.generate_certificate("urls", "u.test", mount_point=MOUNT)["data"]["certificate"])
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert {d.access_location.value for d in aia} == {urls["issuing_certificates"][0],
                                                      urls["ocsp_servers"][0]}
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value == urls["crl_distribution_points"][0]  # type: ignore[index]
    pki.set_crl_configuration(expiry="48h", mount_point=MOUNT)
    assert pki.read_crl_configuration(mount_point=MOUNT)["data"]["expiry"] == "48h0m0s"
    issuers = pki.list_issuers(mount_point=MOUNT)["data"]
    assert root["issuer_id"] in issuers["keys"]
    assert issuers["key_info"][root["issuer_id"]]["issuer_name"] == "root-1"
    issuer = pki.read_issuer("root-1", mount_point=MOUNT)["data"]
    assert issuer["key_id"] == root["key_id"] and issuer["leaf_not_after_behavior"] == "err"
    pki.update_issuer("root-1", extra_params={"leaf_not_after_behavior": "truncate", "issuer_name": "root-1"},
                      mount_point=MOUNT)
    updated = pki.read_issuer(root["issuer_id"], mount_point=MOUNT)["data"]
    assert updated["leaf_not_after_behavior"] == "truncate"


def test_hvac_offline_intermediate_flow_between_two_mounts(server: ServerProcess,
                                                           root: dict[str, Any]) -> None:
    pki = server.client().secrets.pki
    csr = pki.generate_intermediate("internal", "API Intermediate", extra_params={"key_type": "ec"},
                                    mount_point=INTER)["data"]
    assert "private_key" not in csr
    signed = pki.sign_intermediate(csr["csr"], "API Intermediate", extra_params={"ttl": "8760h"},
                                   mount_point=MOUNT)["data"]
    resp = pki.set_signed_intermediate(signed["certificate"], mount_point=INTER)
    assert resp["data"]["mapping"][resp["data"]["imported_issuers"][0]] == csr["key_id"]
    pki.create_or_update_role("leaf", extra_params={"allow_any_name": True, "key_type": "ec"},
                              mount_point=INTER)
    leaf = pki.generate_certificate("leaf", "leaf.test", mount_point=INTER)["data"]
    assert leaf["issuing_ca"] == signed["certificate"]
    assert x509.load_pem_x509_certificate(leaf["certificate"].encode()).issuer == \
        load_pem(signed["certificate"]).subject
    cross = pki.sign_self_issued(root["certificate"], mount_point=MOUNT)["data"]
    assert load_pem(cross["certificate"]).subject == load_pem(root["certificate"]).subject


def test_tidy_and_tidy_status(server: ServerProcess, root: dict[str, Any]) -> None:
    pki = server.client().secrets.pki
    resp = pki.tidy(extra_params={"tidy_cert_store": True, "tidy_revoked_certs": True}, mount_point=MOUNT)
    assert resp.status_code == 202 and "successfully started" in resp.json()["warnings"][0]
    deadline = time.monotonic() + 60
    while (status := server.http().get(f"/v1/{MOUNT}/tidy-status").json()["data"])["state"] == "Running":
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert status["state"] == "Finished"


def test_leases_revoke_certificates(server: ServerProcess, root: dict[str, Any]) -> None:
    http = server.http()
    http.post(f"/v1/{MOUNT}/roles/leased", json={"allow_any_name": True, "key_type": "ec",
                                                 "generate_lease": True, "ttl": "1h"}).raise_for_status()
    body = http.post(f"/v1/{MOUNT}/issue/leased", json={"common_name": "leased.test"}).json()
    assert body["lease_id"].startswith(f"{MOUNT}/issue/leased/") and 3500 < body["lease_duration"] <= 3600
    assert body["renewable"] is False
    serial = body["data"]["serial_number"]
    r = http.put("/v1/sys/leases/revoke", json={"lease_id": body["lease_id"]})
    assert r.status_code == 204, r.text
    cert = http.get(f"/v1/{MOUNT}/cert/{serial}").json()["data"]
    assert cert["revocation_time"] > 0
    # Revoking the token that asked revokes its leases, and with them its certificates.
    policy = f'path "{MOUNT}/issue/leased" {{ capabilities = ["update"] }}'
    http.put("/v1/sys/policy/leased", json={"policy": policy})
    child = http.post("/v1/auth/token/create", json={"policies": ["leased"]}).json()["auth"]["client_token"]
    owned = server.http(token=child).post(f"/v1/{MOUNT}/issue/leased",
                                          json={"common_name": "owned.test"}).json()
    assert http.post("/v1/auth/token/revoke", json={"token": child}).status_code == 204
    owned_serial = owned["data"]["serial_number"]
    assert http.get(f"/v1/{MOUNT}/cert/{owned_serial}").json()["data"]["revocation_time"] > 0


def test_the_audit_log_records_each_certificate_without_its_key(server: ServerProcess,
                                                                tmp_path: Path) -> None:
    http = server.http()
    log = tmp_path / "audit.log"
    r = http.put("/v1/sys/audit/pki-file", json={"type": "file", "options": {"file_path": str(log)}})
    assert r.status_code == 204, r.text
    try:
        http.post(f"/v1/{MOUNT}/roles/audited", json={"allowed_domains": "example.com",
                                                      "allow_subdomains": True,
                                                      "key_type": "ec"}).raise_for_status()
        data = http.post(f"/v1/{MOUNT}/issue/audited", json={"common_name": "a.example.com",
                                                              "ip_sans": "10.1.1.1"}).json()["data"]
    finally:
        http.delete("/v1/sys/audit/pki-file")
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    facts = [e["certificate"] for e in entries if e.get("type") == "response" and "certificate" in e]
    assert facts, entries[-1]
    fact = facts[-1]
    assert fact["serial_number"] == data["serial_number"] and fact["role"] == "audited"
    assert fact["sans"] == {"dns": ["a.example.com"], "ip": ["10.1.1.1"], "uri": [], "email": []}
    assert fact["mount"] == f"{MOUNT}/" and fact["accessor"]
    assert "BEGIN EC PRIVATE KEY" not in log.read_text()


def test_public_paths_need_no_token(server: ServerProcess, root: dict[str, Any]) -> None:
    base = f"{server.url}/v1/{MOUNT}"
    for path, ctype in (("ca", "application/pkix-cert"), ("ca/pem", "application/pem-certificate-chain"),
                        ("ca_chain", "application/pem-certificate-chain"), ("crl", "application/pkix-crl"),
                        ("crl/pem", "application/x-pem-file")):
        r = httpx.get(f"{base}/{path}")
        assert r.status_code == 200 and r.headers["content-type"] == ctype, path
    by_serial = httpx.get(f"{base}/cert/{root['serial_number']}").json()["data"]
    assert by_serial["certificate"] == root["certificate"]
    assert httpx.get(f"{base}/cert/ca").status_code == 200
    assert httpx.request("LIST", f"{base}/certs").status_code == 403  # listing stays authenticated
    assert httpx.post(f"{base}/issue/web", json={"common_name": "x"}).status_code == 403


def test_issuer_paths_are_public_like_vaults(server: ServerProcess, root: dict[str, Any]) -> None:
    r = httpx.get(f"{server.url}/v1/{MOUNT}/issuer/{root['issuer_id']}/pem")
    assert r.status_code == 200 and r.text == root["certificate"]


def _ocsp_der(leaf_pem: str, issuer_pem: str) -> bytes:
    req = ocsp.OCSPRequestBuilder().add_certificate(load_pem(leaf_pem), load_pem(issuer_pem),
                                                    hashes.SHA1()).build()
    return req.public_bytes(serialization.Encoding.DER)


def test_ocsp_over_get(server: ServerProcess, root: dict[str, Any]) -> None:
    http = server.http()
    http.post(f"/v1/{MOUNT}/roles/ocsp", json={"allow_any_name": True, "key_type": "ec"}).raise_for_status()
    leaf = http.post(f"/v1/{MOUNT}/issue/ocsp", json={"common_name": "o.test"}).json()["data"]
    encoded = base64.b64encode(_ocsp_der(leaf["certificate"], root["certificate"])).decode()
    r = httpx.get(f"{server.url}/v1/{MOUNT}/ocsp/{encoded.replace('/', '%2F')}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/ocsp-response"
    assert ocsp.load_der_ocsp_response(r.content).certificate_status == ocsp.OCSPCertStatus.GOOD


def test_ocsp_over_post_with_a_der_body(server: ServerProcess, root: dict[str, Any]) -> None:
    http = server.http()
    leaf = http.post(f"/v1/{MOUNT}/issue/ocsp", json={"common_name": "p.test"}).json()["data"]
    r = httpx.post(f"{server.url}/v1/{MOUNT}/ocsp",
                   content=_ocsp_der(leaf["certificate"], root["certificate"]),
                   headers={"Content-Type": "application/ocsp-request"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/ocsp-response"
