"""X-Forwarded-For is a claim by whoever sends it: a listener ignores it unless its
``x_forwarded_for_authorized_addrs`` names the hop it came from (Vault's listener options).
Every CIDR binding and the audit log's remote_address see one client address."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from support.server import ServerProcess

FORGED = {"X-Forwarded-For": "10.1.2.3"}


def _config(**listener: str) -> str:
    extra = "\n".join(f"  {k} = {json.dumps(v)}" for k, v in listener.items())
    return f"""
storage "sqlite" {{ path = "data/warden.db" }}
listener "tcp" {{
  address     = "127.0.0.1:0"
  tls_disable = true
{extra}
}}
"""


def _audit_addresses(log: Path, path: str) -> set[str]:
    found = set()
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if record.get("request", {}).get("path") == path:
            found.add(record["request"]["remote_address"])
    return found


def _bound_token(server: ServerProcess, cidr: str) -> str:
    root = server.http()
    assert root.post("/v1/auth/token/roles/bound",
                     json={"token_bound_cidrs": cidr}).status_code == 204
    resp = root.post("/v1/auth/token/create/bound", json={"policies": ["default"]})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["auth"]["client_token"])


def _approle(server: ServerProcess, name: str, **role: str) -> tuple[str, str]:
    root = server.http()
    root.post("/v1/sys/auth/approle", json={"type": "approle"})
    assert root.post(f"/v1/auth/approle/role/{name}", json=role).status_code == 204
    role_id = root.get(f"/v1/auth/approle/role/{name}/role-id").json()["data"]["role_id"]
    secret_id = root.post(f"/v1/auth/approle/role/{name}/secret-id").json()["data"]["secret_id"]
    return role_id, secret_id


def test_forwarded_for_is_ignored_by_default(dev_server: ServerProcess, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    root = dev_server.http()
    assert root.post("/v1/sys/audit/xff", json={"type": "file",
                                               "options": {"file_path": str(log)}}).status_code == 204
    try:
        token = _bound_token(dev_server, "10.0.0.0/8")
        with dev_server.http(token) as http:
            assert http.get("/v1/auth/token/lookup-self", headers=FORGED).status_code == 403
            assert http.get("/v1/auth/token/lookup-self",
                            headers={"X-Real-IP": "10.1.2.3", "Forwarded": "for=10.1.2.3",
                                     **FORGED}).status_code == 403
        # AppRole: the secret-id's CIDR binding at login, then the token's
        role_id, secret_id = _approle(dev_server, "by-secret-id", secret_id_bound_cidrs="10.0.0.0/8")
        login = {"role_id": role_id, "secret_id": secret_id}
        refused = httpx.post(dev_server.url + "/v1/auth/approle/login", json=login, headers=FORGED)
        assert refused.status_code in (400, 403), refused.text
        role_id, secret_id = _approle(dev_server, "by-token", token_bound_cidrs="10.0.0.0/8")
        login = {"role_id": role_id, "secret_id": secret_id}
        resp = httpx.post(dev_server.url + "/v1/auth/approle/login", json=login, headers=FORGED)
        assert resp.status_code == 200, resp.text
        approle_token = resp.json()["auth"]["client_token"]
        with dev_server.http(approle_token) as http:
            assert http.get("/v1/auth/token/lookup-self", headers=FORGED).status_code == 403
        assert _audit_addresses(log, "auth/token/lookup-self") == {"127.0.0.1"}
        assert _audit_addresses(log, "auth/approle/login") == {"127.0.0.1"}
    finally:
        root.delete("/v1/sys/audit/xff")
        root.delete("/v1/sys/auth/approle")


@pytest.fixture
def start(server_factory: Callable[..., ServerProcess]) -> Callable[..., ServerProcess]:
    def make(headers: dict[str, str] | None = None, init: bool = True,
             **listener: str) -> ServerProcess:
        server = server_factory(dev=False, config_text=_config(**listener)).start()
        if not init:
            return server
        resp = httpx.put(server.url + "/v1/sys/init", headers=headers,
                         json={"secret_shares": 1, "secret_threshold": 1})
        assert resp.status_code == 200, resp.text
        init = resp.json()
        unsealed = httpx.put(server.url + "/v1/sys/unseal", headers=headers,
                             json={"key": init["keys"][0]})
        assert unsealed.json()["sealed"] is False
        server.root_token = init["root_token"]
        return server
    return make


def test_an_authorized_proxy_sets_the_client_address(
        start: Callable[..., ServerProcess], tmp_path: Path) -> None:
    proxied = {"X-Forwarded-For": "10.9.9.9, 127.0.0.1"}
    server = start(proxied, x_forwarded_for_authorized_addrs="127.0.0.1/32, ::1",
                   x_forwarded_for_hop_skips="1")
    log = tmp_path / "audit.log"
    root = server.http()
    assert root.post("/v1/sys/audit/xff", json={"type": "file", "options": {"file_path": str(log)}},
                     headers=proxied).status_code == 204
    token = _bound_token_via(server, "10.0.0.0/8", proxied)
    with server.http(token) as http:
        # hop_skips=1: the last hop is our own proxy, the one before it is the client
        ok = http.get("/v1/auth/token/lookup-self",
                      headers={"X-Forwarded-For": "10.1.2.3, 192.168.7.7"})
        assert ok.status_code == 200, ok.text
        outside = http.get("/v1/auth/token/lookup-self",
                           headers={"X-Forwarded-For": "172.16.0.1, 192.168.7.7"})
        assert outside.status_code == 403
        two_headers = http.get("/v1/auth/token/lookup-self", headers=[
            ("X-Forwarded-For", "10.1.2.3"), ("X-Forwarded-For", "192.168.7.7")])
        assert two_headers.status_code == 200, two_headers.text
        missing = http.get("/v1/auth/token/lookup-self")
        assert missing.status_code == 400
        assert "missing x-forwarded-for header" in missing.json()["errors"][0]
        short = http.get("/v1/auth/token/lookup-self", headers={"X-Forwarded-For": "10.1.2.3"})
        assert short.status_code == 400 and "hops to skip" in short.json()["errors"][0]
        garbage = http.get("/v1/auth/token/lookup-self",
                           headers={"X-Forwarded-For": "not-an-ip, 192.168.7.7"})
        assert garbage.status_code == 400 and "not-an-ip" in garbage.json()["errors"][0]
    assert _audit_addresses(log, "auth/token/lookup-self") == {"10.1.2.3", "172.16.0.1"}


def _bound_token_via(server: ServerProcess, cidr: str, headers: dict[str, str]) -> str:
    root = server.http()
    assert root.post("/v1/auth/token/roles/bound", json={"token_bound_cidrs": cidr},
                     headers=headers).status_code == 204
    resp = root.post("/v1/auth/token/create/bound", json={"policies": ["default"]},
                     headers=headers)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["auth"]["client_token"])


def test_an_unauthorized_hop_is_refused_or_ignored(start: Callable[..., ServerProcess]) -> None:
    # Nothing passes this listener, not even initialising it (as with Vault)
    strict = start(None, False, x_forwarded_for_authorized_addrs="192.0.2.0/24")
    refused = strict.http().get("/v1/auth/token/lookup-self", headers=FORGED)
    assert refused.status_code == 400
    assert "not authorized for x-forwarded-for" in refused.json()["errors"][0]
    # reject_not_present (default true) refuses any request without the header
    assert strict.http().get("/v1/auth/token/lookup-self").status_code == 400

    lenient = start(x_forwarded_for_authorized_addrs="192.0.2.0/24",
                    x_forwarded_for_reject_not_authorized="false",
                    x_forwarded_for_reject_not_present="false")
    token = _bound_token(lenient, "10.0.0.0/8")
    with lenient.http(token) as http:
        assert http.get("/v1/auth/token/lookup-self", headers=FORGED).status_code == 403
        assert http.get("/v1/auth/token/lookup-self").status_code == 403
    local = _bound_token(lenient, "127.0.0.1/32")
    with lenient.http(local) as http:
        assert http.get("/v1/auth/token/lookup-self", headers=FORGED).status_code == 200


def test_bad_forwarded_for_settings_fail_at_start(
        server_factory: Callable[..., ServerProcess]) -> None:
    for setting, value, message in (
        ("x_forwarded_for_authorized_addrs", "10.0.0.0/33", "x_forwarded_for_authorized_addrs"),
        ("x_forwarded_for_hop_skips", "-1", "x_forwarded_for_hop_skips"),
    ):
        settings = {"x_forwarded_for_authorized_addrs": "127.0.0.1", setting: value}
        server = server_factory(dev=False, config_text=_config(**settings))
        with pytest.raises(RuntimeError, match=message):
            server.start()
