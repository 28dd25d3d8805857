"""``?help=1`` and the ``HELP`` method answer the path's help and never run the request.

Before, ``PUT sys/policy/x?help=1`` wrote the policy and ``DELETE ...?help=1`` deleted it: the
query parameter was just another field. Vault (http/help.go) turns both into a help operation
that only describes the path; so does warden, at the edge, for every backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from support.rawhttp import raw_request
from support.server import ServerProcess

POLICY = 'path "secret/data/x" { capabilities = ["read"] }'


@pytest.fixture(scope="module")
def server(dev_server: ServerProcess) -> Iterator[ServerProcess]:
    http = dev_server.http()
    assert http.put("/v1/sys/policies/acl/keep", json={"policy": POLICY}).status_code == 204
    assert http.post("/v1/secret/data/keep", json={"data": {"v": 1}}).status_code == 200
    assert http.post("/v1/sys/mounts/helpkv", json={"type": "kv"}).status_code == 204
    assert http.post("/v1/sys/mounts/helppki", json={"type": "pki"}).status_code == 204
    assert http.post("/v1/sys/auth/helpapprole", json={"type": "approle"}).status_code == 204
    yield dev_server


def _is_help(resp: httpx.Response) -> dict[str, object]:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert isinstance(body["help"], str) and body["help"], body
    assert isinstance(body["openapi"], dict) and body["openapi"]["paths"], body
    assert "request_id" not in body  # Vault answers the help data itself, not an envelope
    return body


def test_help_on_writes_and_deletes_changes_nothing(server: ServerProcess) -> None:
    http = server.http()
    accessors = len(http.request("LIST", "/v1/auth/token/accessors").json()["data"]["keys"])
    writes = [
        ("PUT", "/v1/sys/policy/written-by-help", {"policy": POLICY}),
        ("PUT", "/v1/sys/policies/acl/written-by-help", {"policy": POLICY}),
        ("DELETE", "/v1/sys/policy/keep", None),
        ("DELETE", "/v1/sys/policies/acl/keep", None),
        ("POST", "/v1/secret/data/written-by-help", {"data": {"v": 2}}),
        ("DELETE", "/v1/secret/metadata/keep", None),
        ("POST", "/v1/helpkv/written-by-help", {"v": 3}),
        ("POST", "/v1/helppki/root/generate/internal", {"common_name": "help.example"}),
        ("POST", "/v1/auth/token/create", {"policies": ["default"]}),
        ("POST", "/v1/auth/helpapprole/role/written-by-help", {"token_policies": "default"}),
        ("DELETE", "/v1/sys/mounts/helpkv", None),
        ("DELETE", "/v1/sys/auth/helpapprole", None),
        ("POST", "/v1/sys/seal", None),
    ]
    for method, path, body in writes:
        for query in ("help=1", "help=true", "help=0"):  # Vault: any non-empty value
            resp = http.request(method, f"{path}?{query}", json=body)
            help_body = _is_help(resp)
            assert "auth" not in help_body and "client_token" not in resp.text, resp.text
    assert http.get("/v1/sys/policy/written-by-help").status_code == 404
    assert http.get("/v1/sys/policies/acl/keep").status_code == 200
    assert http.get("/v1/secret/data/keep").json()["data"]["data"] == {"v": 1}
    assert http.get("/v1/secret/data/written-by-help").status_code == 404
    assert http.get("/v1/helpkv/written-by-help").status_code == 404
    assert http.get("/v1/helppki/ca/pem").status_code in (204, 404)  # no CA was generated
    assert http.get("/v1/auth/helpapprole/role/written-by-help").status_code == 404
    mounts = http.get("/v1/sys/mounts").json()["data"]
    assert "helpkv/" in mounts
    assert "helpapprole/" in http.get("/v1/sys/auth").json()["data"]
    assert http.get("/v1/sys/seal-status").json()["sealed"] is False
    after = len(http.request("LIST", "/v1/auth/token/accessors").json()["data"]["keys"])
    assert after == accessors  # no token was minted


def test_help_method(server: ServerProcess) -> None:
    for path in ("/v1/sys/policy/keep", "/v1/secret/data/keep", "/v1/helppki/issue/web"):
        resp = raw_request(server.url, "HELP", path,
                           headers={"X-Vault-Token": server.root_token})
        assert resp.status == 200, resp.body
        body = resp.json()
        assert body["help"] and body["openapi"]["paths"]
    resp = raw_request(server.url, "HELP", "/v1/sys/policy/keep?x=1",
                       headers={"X-Vault-Token": server.root_token},
                       body=b'{"policy": ""}')
    assert resp.status == 200
    assert server.http().get("/v1/sys/policy/keep").json()["data"]["rules"] == POLICY


def test_help_describes_the_path(server: ServerProcess) -> None:
    body = _is_help(server.http().get("/v1/sys/policies/acl/keep?help=1"))
    assert "policy" in str(body["help"]).lower()
    doc = body["openapi"]
    assert isinstance(doc, dict)
    (item,) = doc["paths"].values()
    assert {"post", "get", "delete"} <= set(item)
    params = item["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "policy" in params
    root = _is_help(server.http().get("/v1/helppki/?help=1"))  # the mount's own help
    assert len(root["openapi"]["paths"]) > 10  # type: ignore[arg-type]


def test_help_needs_a_valid_token_but_no_capability(server: ServerProcess) -> None:
    assert server.http(token="").get("/v1/sys/policy/keep?help=1").status_code == 403
    assert server.http(token="bogus").get("/v1/sys/policy/keep?help=1").status_code == 403
    token = server.http().post("/v1/auth/token/create", json={"policies": ["default"]}
                               ).json()["auth"]["client_token"]
    limited = server.http(token=token)
    assert limited.put("/v1/sys/policy/keep", json={"policy": POLICY}).status_code == 403
    _is_help(limited.put("/v1/sys/policy/keep?help=1", json={"policy": ""}))  # Vault's ACL
    assert server.http().get("/v1/sys/policy/keep").json()["data"]["rules"] == POLICY


def test_the_cli_prints_path_help(server: ServerProcess) -> None:
    import json

    shown = server.cli("path-help", "sys/policies/acl/keep")
    assert shown.returncode == 0, shown.stderr
    assert "policy" in shown.stdout.lower() and "PARAMETERS" in shown.stdout
    as_json = server.cli("path-help", "-format=json", "helppki/issue/web")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["openapi"]["paths"]
    missing = server.cli("path-help", "no-such-mount/x")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert server.http().get("/v1/sys/policy/keep").json()["data"]["rules"] == POLICY
