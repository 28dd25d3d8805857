"""Bad input at the HTTP edge: each gets a clear 4xx in Vault's shape, nothing changes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from support.rawhttp import raw_request
from support.server import ServerProcess


def _errors(resp: object) -> list[str]:
    body = resp.json()  # type: ignore[attr-defined]
    assert set(body) == {"errors"}, body
    return body["errors"]


def test_malformed_json_is_400_and_changes_nothing(dev_server: ServerProcess) -> None:
    http = dev_server.http()
    before = http.get("/v1/sys/policy").json()["policies"]
    for body in (b'{"policy": ', b"[1, 2]", b'"text"', b"\xff\xfe"):
        resp = http.put("/v1/sys/policy/broken", content=body)
        assert resp.status_code == 400
        assert "failed to parse JSON input" in _errors(resp)[0]
    assert http.get("/v1/sys/policy").json()["policies"] == before


def test_wrong_types_name_the_field(dev_server: ServerProcess) -> None:
    resp = dev_server.http().post("/v1/auth/token/create", json={"num_uses": "many"})
    assert resp.status_code == 400
    assert '"num_uses"' in _errors(resp)[0]
    resp = dev_server.http().post("/v1/auth/token/create", json={"ttl": {"a": 1}})
    assert resp.status_code == 400 and '"ttl"' in _errors(resp)[0]


def test_bad_policy_documents_are_refused_with_the_reason(dev_server: ServerProcess) -> None:
    http = dev_server.http()
    resp = http.put("/v1/sys/policy/bad", json={"policy": 'path "x" { capabilities = ["reed"] }'})
    assert resp.status_code == 400 and "reed" in _errors(resp)[0]
    resp = http.put("/v1/sys/policy/bad", json={"policy": "path { {"})
    assert resp.status_code == 400
    assert http.get("/v1/sys/policy/bad").status_code == 404


def test_unknown_mount_type_and_missing_type(dev_server: ServerProcess) -> None:
    http = dev_server.http()
    resp = http.post("/v1/sys/mounts/somewhere", json={"type": "no-such-engine"})
    assert resp.status_code == 400 and "plugin not found" in _errors(resp)[0]
    resp = http.post("/v1/sys/mounts/somewhere", json={})
    assert resp.status_code == 400 and "type" in _errors(resp)[0]
    assert "somewhere/" not in http.get("/v1/sys/mounts").json()["data"]


def test_missing_or_bad_token_is_403(dev_server: ServerProcess) -> None:
    assert dev_server.http(token="").get("/v1/auth/token/lookup-self").status_code == 403
    assert dev_server.http(token="nope").get("/v1/sys/mounts").status_code == 403
    bearer = raw_request(dev_server.url, "GET", "/v1/auth/token/lookup-self",
                         headers={"Authorization": f"Bearer {dev_server.root_token}"})
    assert bearer.status == 200


def test_list_by_method_and_by_query(dev_server: ServerProcess) -> None:
    http = dev_server.http()
    http.post("/v1/auth/token/roles/r1", json={"allowed_policies": "default"})
    by_method = http.request("LIST", "/v1/auth/token/roles")
    by_query = http.get("/v1/auth/token/roles?list=true")
    assert by_method.status_code == by_query.status_code == 200
    assert by_method.json()["data"]["keys"] == by_query.json()["data"]["keys"] == ["r1"]


def test_unsupported_operation_is_405_and_unknown_path_404(dev_server: ServerProcess) -> None:
    http = dev_server.http()
    assert http.delete("/v1/auth/token/create").status_code == 405
    resp = http.get("/v1/auth/token/no-such-thing")
    assert resp.status_code == 404 and _errors(resp)
    assert http.get("/nothing").status_code == 404


def test_namespaces_are_refused_clearly(dev_server: ServerProcess) -> None:
    resp = dev_server.http().get("/v1/sys/mounts", headers={"X-Vault-Namespace": "team-a"})
    assert resp.status_code == 400 and "namespaces" in _errors(resp)[0]


def test_oversized_body_is_413(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(dev=False, config_text="""
        storage "inmem" {}
        listener "tcp" {
          address = "127.0.0.1:0"
          tls_disable = true
          max_request_size = 4096
        }""").start()
    resp = server.http().put("/v1/sys/init", content=b'{"x": "' + b"a" * 5000 + b'"}')
    assert resp.status_code == 413 and "too large" in _errors(resp)[0]
    assert server.http().get("/v1/sys/init").json() == {"initialized": False}


@pytest.mark.parametrize(
    "path",
    ["/v1/auth/token/../../sys/mounts", "/v1/auth/token/%2e%2e/lookup-self",
     "/v1/./sys/mounts", "/v1/sys/mounts/%00x", "/v1/auth/token/roles%2F..%2F..%2Fcreate"],
)
def test_dot_segments_and_control_characters_are_refused(dev_server: ServerProcess,
                                                         path: str) -> None:
    resp = raw_request(dev_server.url, "GET", path, token=dev_server.root_token)
    assert resp.status == 400, (path, resp.body)
    assert "invalid request path" in _errors(resp)[0]


def test_list_method_split_across_packets(dev_server: ServerProcess) -> None:
    """LIST is rewritten for llhttp even when its first bytes arrive on their own."""
    import socket
    import time
    import urllib.parse

    dev_server.http().post("/v1/auth/token/roles/split-role", json={"allowed_policies": "x"})
    url = urllib.parse.urlsplit(dev_server.url)
    request = (f"LIST /v1/auth/token/roles HTTP/1.1\r\nHost: x\r\n"
               f"X-Vault-Token: {dev_server.root_token}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        for piece in (request[:2], request[2:4], request[4:]):
            sock.sendall(piece)
            time.sleep(0.05)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:100]
    assert b"split-role" in reply


def test_invalid_utf8_in_the_path_is_400_not_500(dev_server: ServerProcess) -> None:
    resp = raw_request(dev_server.url, "GET", "/v1/secret/data/%FF%FE", token=dev_server.root_token)
    assert resp.status == 400 and "not valid UTF-8" in _errors(resp)[0]


@pytest.mark.parametrize("header", ["soon", "0", "-5s"])
def test_a_bad_wrap_ttl_header_is_400(dev_server: ServerProcess, header: str) -> None:
    resp = dev_server.http().post("/v1/auth/token/create", json={"policies": ["default"]},
                                  headers={"X-Vault-Wrap-TTL": header})
    assert resp.status_code == 400 and "X-Vault-Wrap-TTL" in _errors(resp)[0]


def test_seal_endpoint_refusals_are_400(dev_server: ServerProcess) -> None:
    http = dev_server.http()
    resp = http.put("/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1,
                                          "pgp_keys": ["-----BEGIN PGP..."]})
    assert resp.status_code == 400 and "PGP" in _errors(resp)[0]
    resp = http.put("/v1/sys/unseal", json={})
    assert resp.status_code == 400 and "'key'" in _errors(resp)[0]
    resp = http.put("/v1/sys/unseal", json={"key": 5})
    assert resp.status_code == 400
    assert http.get("/v1/sys/seal-status").json()["sealed"] is False


def test_an_unknown_metrics_format_is_400(dev_server: ServerProcess) -> None:
    resp = dev_server.http().get("/v1/sys/metrics?format=xml")
    assert resp.status_code == 400 and "prometheus" in _errors(resp)[0]


def test_expect_100_continue_gets_its_interim_answer_before_the_body(
        dev_server: ServerProcess) -> None:
    """A response leaves in one send (status line, headers and body together), but a 100
    Continue must still go out at once: the client waits for it before sending the body."""
    import socket
    import urllib.parse

    url = urllib.parse.urlsplit(dev_server.url)
    body = b'{"v": "x"}'
    head = (f"PUT /v1/secret/data/continued HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-Vault-Token: {dev_server.root_token}\r\nExpect: 100-continue\r\n"
            f"Content-Length: {len(body) + 10}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head)
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        sock.sendall(b'{"data": ' + body + b"}")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]


def test_a_head_request_is_answered_and_the_connection_stays_usable(dev_server: ServerProcess) -> None:
    """A HEAD answer has no body write: it must not wait for one (one send per response)."""
    with dev_server.http() as http:
        assert http.head("/v1/sys/health", timeout=10).status_code == 200
        assert http.get("/v1/sys/health", timeout=10).status_code == 200
