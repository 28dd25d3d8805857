"""Bad input never reaches a 5xx: random (seeded) requests against every mount's paths.

Random methods, paths of every mount type, and bodies whose known fields carry values
of the wrong type, size or range (huge integers, NULs, '..', nested lists). Any 5xx is a
bug: bad input must get a clear 4xx and leave nothing half-written.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from support.server import ServerProcess

PATHS = [
    "sys/mounts/x", "sys/mounts/pki/tune", "sys/auth/approle/tune", "sys/policy/p",
    "sys/policies/acl/p", "sys/capabilities-self", "sys/audit/a", "sys/audit-hash/a",
    "sys/wrapping/wrap", "sys/wrapping/unwrap", "sys/wrapping/lookup", "sys/leases/lookup",
    "sys/leases/renew", "sys/leases/revoke-prefix/x", "sys/metrics", "sys/internal/ui/mounts/pki",
    "auth/token/create", "auth/token/lookup", "auth/token/renew-self", "auth/token/roles/r",
    "auth/token/revoke-accessor", "pki/issue/r", "pki/sign/r", "pki/roles/r2",
    "pki/root/generate/internal", "pki/config/urls", "pki/revoke", "pki/tidy", "pki/ocsp",
    "pki/cert/01", "pki/crl", "pki/config/crl", "pki/intermediate/set-signed", "pki/issuers",
    "pki/issuer/default", "secret/data/a", "secret/metadata/a", "secret/config", "secret/delete/a",
    "secret/destroy/a", "kv1/a", "auth/approle/role/x", "auth/approle/login",
    "auth/approle/role/x/secret-id", "auth/kubernetes/config", "auth/kubernetes/role/x",
    "auth/kubernetes/login", "auth/aws/role/x", "auth/aws/login", "auth/aws/config/certificate/c",
    "sys/seal-status", "sys/init",
]
FIELDS = [
    "type", "ttl", "max_ttl", "policies", "common_name", "alt_names", "ip_sans", "data", "options",
    "config", "policy", "token", "accessor", "lease_id", "increment", "csr", "serial_number",
    "certificate", "role_id", "secret_id", "jwt", "role", "pkcs7", "cas", "versions", "key_type",
    "key_bits", "allowed_domains", "bound_service_account_names", "kubernetes_host", "pem_keys",
    "input", "file_path", "num_uses", "period", "meta", "format", "version", "max_versions", "ou",
    "organization", "not_after", "uri_sans", "other_sans",
]
VALUES: list[Any] = [
    None, True, False, 0, -1, 2**70, -(2**70), 1.5, "", "x" * 300, "1h", "-5s", "a,b",
    ["a", 1, None], {"k": [1]}, [[[]]], {"": {"": None}}, "\x00", "%FF", "*", "../..", "0600",
    "a" * 5000, "999999999999999h",
]


@pytest.fixture(scope="module")
def mounted(dev_server: ServerProcess) -> ServerProcess:
    http = dev_server.http()
    http.post("/v1/sys/mounts/pki", json={"type": "pki"})
    http.post("/v1/pki/root/generate/internal", json={"common_name": "ca", "key_type": "ec"})
    http.post("/v1/pki/roles/r", json={"allow_any_name": True})
    for kind in ("approle", "kubernetes", "aws"):
        http.post(f"/v1/sys/auth/{kind}", json={"type": kind})
    http.post("/v1/sys/mounts/kv1", json={"type": "kv"})
    return dev_server


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_bad_input_never_gets_a_5xx(mounted: ServerProcess, seed: int) -> None:
    rng = random.Random(seed)
    http = mounted.http()
    failures = []
    for _ in range(400):
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "LIST", "PATCH"])
        path = rng.choice(PATHS)
        body = {rng.choice(FIELDS): rng.choice(VALUES) for _ in range(rng.randint(0, 5))}
        if method in ("GET", "DELETE", "LIST"):
            params = {k: v if isinstance(v, str) else json.dumps(v)
                      for k, v in body.items() if v is not None}
            resp = http.request(method, "/v1/" + path, params=params)
        else:
            resp = http.request(method, "/v1/" + path, json=body)
        if resp.status_code >= 500:
            failures.append((resp.status_code, method, path, json.dumps(body)[:200], resp.text[:200]))
        else:
            assert resp.status_code < 300 or resp.status_code == 404 or "errors" in resp.json()
    assert not failures, failures
