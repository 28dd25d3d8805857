"""Revocation as outside tools see it: openssl checks the CRL and asks the OCSP responder."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.pki import pkilint_findings, run
from support.server import ServerProcess

pytestmark = pytest.mark.interop
ROOT, INTER = "rev-root", "rev-int"


@pytest.fixture(scope="module")
def pki(dev_server: ServerProcess) -> Iterator[dict[str, Any]]:
    http = dev_server.http()
    for mount in (ROOT, INTER):
        http.post(f"/v1/sys/mounts/{mount}", json={"type": "pki"}).raise_for_status()
    root = http.post(f"/v1/{ROOT}/root/generate/internal", json={"common_name": "Rev Root", "key_type": "ec",
                                                                 "ttl": "700h"}).json()["data"]
    csr = http.post(f"/v1/{INTER}/intermediate/generate/internal", json={"common_name": "Rev Intermediate",
                                                                         "key_type": "rsa"}).json()["data"]
    inter = http.post(f"/v1/{ROOT}/root/sign-intermediate", json={
        "csr": csr["csr"], "ttl": "600h", "common_name": "Rev Intermediate"}).json()["data"]
    http.post(f"/v1/{INTER}/intermediate/set-signed",
              json={"certificate": inter["certificate"] + root["certificate"]}).raise_for_status()
    http.post(f"/v1/{INTER}/config/urls", json={
        "crl_distribution_points": f"{dev_server.url}/v1/{INTER}/crl",
        "delta_crl_distribution_points": f"{dev_server.url}/v1/{INTER}/crl/delta",
        "ocsp_servers": f"{dev_server.url}/v1/{INTER}/ocsp"}).raise_for_status()
    http.post(f"/v1/{INTER}/config/crl", json={"auto_rebuild": True, "enable_delta": True}).raise_for_status()
    http.post(f"/v1/{INTER}/roles/svc",
              json={"allow_any_name": True, "key_type": "ec", "ttl": "24h"}).raise_for_status()
    good = http.post(f"/v1/{INTER}/issue/svc", json={"common_name": "good.svc"}).json()["data"]
    bad = http.post(f"/v1/{INTER}/issue/svc", json={"common_name": "bad.svc"}).json()["data"]
    http.post(f"/v1/{INTER}/revoke", json={"serial_number": bad["serial_number"]}).raise_for_status()
    late = http.post(f"/v1/{INTER}/issue/svc", json={"common_name": "late.svc"}).json()["data"]
    http.get(f"/v1/{INTER}/crl/rotate").raise_for_status()  # "bad" onto the complete CRL
    http.post(f"/v1/{INTER}/revoke", json={"serial_number": late["serial_number"]}).raise_for_status()
    yield {"root": root["certificate"], "inter": inter["certificate"], "good": good["certificate"],
           "bad": bad["certificate"], "late": late["certificate"], "url": dev_server.url}


def _write(work: Path, pki: dict[str, Any]) -> None:
    for name in ("root", "inter", "good", "bad", "late"):
        (work / f"{name}.pem").write_text(pki[name])
    crl = httpx.get(f"{pki['url']}/v1/{INTER}/crl")
    assert crl.status_code == 200 and crl.headers["content-type"] == "application/pkix-crl"
    (work / "crl.der").write_bytes(crl.content)
    (work / "crl.pem").write_text(httpx.get(f"{pki['url']}/v1/{INTER}/crl/pem").text)
    (work / "delta.der").write_bytes(httpx.get(f"{pki['url']}/v1/{INTER}/crl/delta").content)


def test_openssl_verifies_the_crl_and_rejects_the_revoked_certificate(pki: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    _write(tmp_path, pki)
    out = run(["openssl", "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "inter.pem", "-noout"],
              cwd=tmp_path)
    assert "verify OK" in (out.stdout + out.stderr).decode()
    ok = run(["openssl", "verify", "-crl_check", "-CAfile", "root.pem", "-untrusted", "inter.pem",
              "-CRLfile", "crl.pem", "good.pem"], cwd=tmp_path)
    assert b"good.pem: OK" in ok.stdout
    revoked = run(["openssl", "verify", "-crl_check", "-CAfile", "root.pem", "-untrusted", "inter.pem",
                   "-CRLfile", "crl.pem", "bad.pem"], cwd=tmp_path, check=False)
    assert revoked.returncode != 0 and b"certificate revoked" in revoked.stdout + revoked.stderr


def test_pkilint_finds_nothing_wrong_with_the_crl(pki: dict[str, Any], tmp_path: Path) -> None:
    _write(tmp_path, pki)
    for crl in ("crl.der", "delta.der"):  # pkilint lints a delta CRL as a CRL
        out = run(["lint_crl", "lint", "-t", "CRL", "-p", "PKIX", "-s", "NOTICE", crl], cwd=tmp_path,
                  check=False)
        assert out.stdout.decode().strip() == "" and not out.stderr, (crl, out.stdout, out.stderr)


def test_openssl_finds_the_delta_crl_through_freshest_crl(pki: dict[str, Any], tmp_path: Path) -> None:
    _write(tmp_path, pki)
    delta_url = f"{pki['url']}/v1/{INTER}/crl/delta"
    cert = run(["openssl", "x509", "-in", "good.pem", "-noout", "-text"], cwd=tmp_path).stdout.decode()
    assert "X509v3 Freshest CRL" in cert and f"URI:{delta_url}" in cert
    assert pkilint_findings(tmp_path, pki["good"]) == []
    complete = run(["openssl", "crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"],
                   cwd=tmp_path).stdout.decode()
    assert "X509v3 Freshest CRL" in complete and f"URI:{delta_url}" in complete
    delta = run(["openssl", "crl", "-inform", "DER", "-in", "delta.der", "-CAfile", "inter.pem", "-text"],
                cwd=tmp_path)
    text = (delta.stdout + delta.stderr).decode()
    assert "verify OK" in text and "Delta CRL Indicator" in text and "Freshest CRL" not in text
    late_serial = run(["openssl", "x509", "-in", "late.pem", "-noout", "-serial"], cwd=tmp_path).stdout
    assert late_serial.decode().strip().split("=")[1] in text.replace(":", "").upper()


def _ocsp_by_get(pki: dict[str, Any], work: Path, leaf: str) -> str:
    run(["openssl", "ocsp", "-issuer", "inter.pem", "-cert", f"{leaf}.pem", "-reqout", "req.der"], cwd=work)
    encoded = base64.b64encode((work / "req.der").read_bytes()).decode()
    resp = httpx.get(f"{pki['url']}/v1/{INTER}/ocsp/{encoded.replace('/', '%2F')}")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/ocsp-response"
    (work / "resp.der").write_bytes(resp.content)
    # The response answers this very request: its signature verifies and it echoes the nonce ...
    echoed = run(["openssl", "ocsp", "-reqin", "req.der", "-respin", "resp.der", "-CAfile", "root.pem"],
                 cwd=work)
    assert "Response verify OK" in (echoed.stdout + echoed.stderr).decode()
    # ... and states the certificate's status (-cert makes openssl build a new, nonce-less request).
    out = run(["openssl", "ocsp", "-respin", "resp.der", "-issuer", "inter.pem", "-cert", f"{leaf}.pem",
               "-CAfile", "root.pem", "-no_nonce"], cwd=work)
    return (out.stdout + out.stderr).decode()


def test_openssl_ocsp_good_and_revoked_over_get(pki: dict[str, Any], tmp_path: Path) -> None:
    _write(tmp_path, pki)
    good = _ocsp_by_get(pki, tmp_path, "good")
    assert "Response verify OK" in good and "good.pem: good" in good
    bad = _ocsp_by_get(pki, tmp_path, "bad")
    assert "Response verify OK" in bad and "bad.pem: revoked" in bad
    lint = run(["lint_ocsp_response", "lint", "-s", "NOTICE", "resp.der"], cwd=tmp_path, check=False)
    assert lint.stdout.decode().strip() == "", lint.stdout.decode()


def test_openssl_ocsp_against_the_running_server(pki: dict[str, Any], tmp_path: Path) -> None:
    _write(tmp_path, pki)
    out = run(["openssl", "ocsp", "-issuer", "inter.pem", "-cert", "bad.pem", "-CAfile", "root.pem",
               "-url", f"{pki['url']}/v1/{INTER}/ocsp"], cwd=tmp_path)
    text = (out.stdout + out.stderr).decode()
    assert "Response verify OK" in text and "bad.pem: revoked" in text
