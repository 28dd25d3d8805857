"""The API client against httpx.MockTransport: requests, results, errors, settings."""

from __future__ import annotations

import json
import os
import ssl
import stat
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import trustme

from warden.api import (
    ApiError,
    AsyncClient,
    BadGateway,
    Client,
    ClientError,
    ClientSettings,
    ConfigError,
    Forbidden,
    InternalServerError,
    InvalidPath,
    InvalidRequest,
    NotInitialized,
    RateLimitExceeded,
    RequestTooLarge,
    Sealed,
    TransportError,
    Unauthorized,
    UnsupportedOperation,
    VaultDown,
    settings_from_env,
    token_file_path,
    write_token_file,
)
from warden.api.config import tls_verify

ADDR = "https://warden.test:8200"
TOKEN = "ws.super-secret-token"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from a queue and keeps the requests."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0) if self.responses else httpx.Response(204)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def client(handler: Handler, token: str = TOKEN) -> Client:
    return Client(ADDR, token, transport=httpx.MockTransport(handler))


def ok(body: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


# -- requests -------------------------------------------------------------------------------


def test_read_sends_the_token_and_returns_the_body() -> None:
    rec = Recorder(ok({"data": {"a": "1"}}))
    assert client(rec).read("/secret/foo", {"version": 2}) == {"data": {"a": "1"}}
    assert rec.last.method == "GET"
    assert str(rec.last.url) == f"{ADDR}/v1/secret/foo?version=2"
    assert rec.last.headers["X-Vault-Token"] == TOKEN
    assert rec.last.headers["X-Vault-Request"] == "true"


def test_no_token_no_header() -> None:
    rec = Recorder(ok({}))
    client(rec, token="").read("sys/seal-status")
    assert "X-Vault-Token" not in rec.last.headers


def test_list_uses_get_with_list_true() -> None:
    rec = Recorder(ok({"data": {"keys": ["a", "b/"]}}))
    assert client(rec).list("secret/")["data"]["keys"] == ["a", "b/"]  # type: ignore[index]
    assert rec.last.method == "GET"
    assert rec.last.url.params["list"] == "true"


def test_write_puts_json() -> None:
    rec = Recorder(httpx.Response(204))
    assert client(rec).write("secret/foo", {"a": 1, "b": ["x"]}) is None
    assert rec.last.method == "PUT"
    assert rec.last.headers["Content-Type"] == "application/json"
    assert json.loads(rec.last.content) == {"a": 1, "b": ["x"]}


def test_patch_is_a_json_merge_patch() -> None:
    rec = Recorder(ok({"data": {"version": 2}}))
    client(rec).patch("secret/data/foo", {"data": {"a": None}})
    assert rec.last.method == "PATCH"
    assert rec.last.headers["Content-Type"] == "application/merge-patch+json"
    assert json.loads(rec.last.content) == {"data": {"a": None}}


def test_delete_sends_params_in_the_query() -> None:
    rec = Recorder(httpx.Response(204))
    assert client(rec).delete("secret/foo", {"versions": [1, 2], "force": True}) is None
    assert rec.last.method == "DELETE"
    assert rec.last.url.params.get_list("versions") == ["1", "2"]
    assert rec.last.url.params["force"] == "true"


def test_request_with_wrap_ttl_and_headers() -> None:
    rec = Recorder(ok({"wrap_info": {"token": "w"}}))
    client(rec).request("post", "auth/token/create", json={}, wrap_ttl="5m",
                        headers={"X-Extra": "1"})
    assert rec.last.method == "POST"
    assert rec.last.headers["X-Vault-Wrap-TTL"] == "5m"
    assert rec.last.headers["X-Extra"] == "1"


def test_address_with_a_path_prefix_is_kept() -> None:
    rec = Recorder(ok({}))
    Client("https://proxy.test/vault/", TOKEN, transport=httpx.MockTransport(rec)).read("x")
    assert str(rec.last.url) == "https://proxy.test/vault/v1/x"


# -- results ---------------------------------------------------------------------------------


def test_404_on_read_and_list_is_none() -> None:
    rec = Recorder(ok({"errors": []}, 404), ok({"errors": []}, 404))
    c = client(rec)
    assert c.read("secret/none") is None
    assert c.list("secret/none") is None


def test_404_with_data_is_kept_as_vault_does() -> None:
    body = {"data": {"data": None, "metadata": {"deletion_time": "t", "version": 2}}}
    assert client(Recorder(ok(body, 404))).read("secret/data/deleted") == body


def test_404_on_write_raises() -> None:
    with pytest.raises(InvalidPath):
        client(Recorder(ok({"errors": ["no handler"]}, 404))).write("nowhere", {"a": 1})


def test_non_json_success_is_an_error() -> None:
    with pytest.raises(ClientError, match="not a JSON object"):
        client(Recorder(httpx.Response(200, text="-----BEGIN CERTIFICATE-----"))).read("pki/ca/pem")


def test_empty_success_body_is_none() -> None:
    assert client(Recorder(httpx.Response(200, content=b""))).write("sys/seal") is None


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "cls"), [
    (400, InvalidRequest), (401, Unauthorized), (403, Forbidden), (404, InvalidPath),
    (405, UnsupportedOperation), (413, RequestTooLarge), (429, RateLimitExceeded),
    (500, InternalServerError), (501, NotInitialized), (502, BadGateway), (503, Sealed),
])
def test_statuses_map_to_hvacs_exceptions(status: int, cls: type[ApiError]) -> None:
    with pytest.raises(cls) as info:
        client(Recorder(ok({"errors": ["boom"]}, status))).write("x/y", {"a": 1})
    assert info.value.status == status
    assert info.value.errors == ["boom"]
    assert info.value.method == "PUT"


def test_sealed_is_also_vault_down() -> None:
    assert VaultDown is Sealed


def test_message_mirrors_vaults_cli() -> None:
    with pytest.raises(Forbidden) as info:
        client(Recorder(ok({"errors": ["permission denied"]}, 403))).write("secret/foo", {"a": 1})
    assert str(info.value) == (
        "Error making API request.\n\n"
        f"URL: PUT {ADDR}/v1/secret/foo\n"
        "Code: 403. Errors:\n\n"
        "* permission denied")


def test_several_errors_one_per_line() -> None:
    with pytest.raises(InvalidRequest) as info:
        client(Recorder(ok({"errors": ["one", "two"]}, 400))).read("x")
    assert str(info.value).endswith("* one\n* two")


def test_non_json_error_body_is_shown_raw() -> None:
    with pytest.raises(BadGateway) as info:
        client(Recorder(httpx.Response(502, text="upstream down"))).read("x")
    assert "Code: 502. Raw Message:\n\nupstream down" in str(info.value)


def test_the_token_never_appears_in_errors_or_repr() -> None:
    with pytest.raises(ApiError) as info:
        client(Recorder(ok({"errors": ["permission denied"]}, 403))).read("x")
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value)
    c = client(Recorder())
    assert TOKEN not in repr(c)
    assert TOKEN not in repr(ClientSettings(token=TOKEN))


def test_transport_failures_are_client_errors_without_the_token() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(TransportError) as info:
        client(refuse).read("sys/health")
    assert "connection refused" in str(info.value)
    assert f"{ADDR}/v1/sys/health" in str(info.value)
    assert TOKEN not in str(info.value)


# -- login -----------------------------------------------------------------------------------


def test_login_posts_the_data_and_adopts_the_token() -> None:
    rec = Recorder(ok({"auth": {"client_token": "ws.new", "accessor": "a"}}))
    c = client(rec, token="")
    body = c.login("approle", {"role_id": "r", "secret_id": "s"})
    assert body["auth"]["client_token"] == "ws.new"
    assert rec.last.url.path == "/v1/auth/approle/login"
    assert json.loads(rec.last.content) == {"role_id": "r", "secret_id": "s"}
    assert c.token == "ws.new"


def test_login_without_a_token_in_the_answer_fails() -> None:
    with pytest.raises(ClientError, match="no token"):
        client(Recorder(ok({"data": {}}))).login("approle", {})


# -- async -----------------------------------------------------------------------------------


def async_client(rec: Recorder) -> AsyncClient:
    return AsyncClient(ADDR, TOKEN, transport=httpx.MockTransport(rec))


async def test_async_client_builds_the_same_requests() -> None:
    rec = Recorder(ok({"data": {"keys": ["a"]}}), ok({"data": {"a": 1}}), httpx.Response(204),
                   ok({"data": {}}), httpx.Response(204))
    async with async_client(rec) as c:
        assert await c.list("secret") == {"data": {"keys": ["a"]}}
        assert await c.read("secret/a") == {"data": {"a": 1}}
        assert await c.write("secret/a", {"a": 2}) is None
        await c.patch("secret/data/a", {"data": {}})
        assert await c.delete("secret/a") is None
    assert [r.method for r in rec.requests] == ["GET", "GET", "PUT", "PATCH", "DELETE"]
    assert rec.requests[0].url.params["list"] == "true"
    assert rec.requests[3].headers["Content-Type"] == "application/merge-patch+json"
    assert all(r.headers["X-Vault-Token"] == TOKEN for r in rec.requests)


async def test_async_errors_and_404() -> None:
    rec = Recorder(ok({"errors": []}, 404), ok({"errors": ["Vault is sealed"]}, 503))
    async with async_client(rec) as c:
        assert await c.read("nothing") is None
        with pytest.raises(Sealed, match="Vault is sealed"):
            await c.request("GET", "sys/mounts")


async def test_async_login() -> None:
    rec = Recorder(ok({"auth": {"client_token": "ws.k8s"}}))
    async with async_client(rec) as c:
        await c.login("kubernetes", {"role": "app", "jwt": "x"})
        assert c.token == "ws.k8s"


# -- settings from the environment ----------------------------------------------------------


def test_env_defaults(tmp_path: Path) -> None:
    settings = settings_from_env({"HOME": str(tmp_path)})
    assert settings.address == "https://127.0.0.1:8200"
    assert settings.token == ""
    assert settings.tls_skip_verify is False


def test_warden_variables_win_over_vault_ones(tmp_path: Path) -> None:
    settings = settings_from_env({
        "HOME": str(tmp_path),
        "WARDEN_ADDR": "https://w:1", "VAULT_ADDR": "https://v:2",
        "WARDEN_TOKEN": "wt", "VAULT_TOKEN": "vt",
        "VAULT_CACERT": "/ca.pem", "WARDEN_CLIENT_CERT": "/c.pem", "VAULT_CLIENT_KEY": "/k.pem",
        "VAULT_SKIP_VERIFY": "true", "WARDEN_CLIENT_TIMEOUT": "1m30s",
    })
    assert (settings.address, settings.token) == ("https://w:1", "wt")
    assert (settings.ca_cert, settings.client_cert, settings.client_key) == (
        "/ca.pem", "/c.pem", "/k.pem")
    assert settings.tls_skip_verify is True
    assert settings.timeout == 90.0


def test_vault_variables_are_used_alone(tmp_path: Path) -> None:
    settings = settings_from_env({"HOME": str(tmp_path), "VAULT_ADDR": "http://v:2",
                                  "VAULT_TOKEN": "vt"})
    assert (settings.address, settings.token) == ("http://v:2", "vt")


def test_token_file_is_the_fallback(tmp_path: Path) -> None:
    write_token_file(token_file_path({"HOME": str(tmp_path)}), "ws.from-file\n")
    assert settings_from_env({"HOME": str(tmp_path)}).token == "ws.from-file"
    assert settings_from_env({"HOME": str(tmp_path), "WARDEN_TOKEN": ""}).token == "ws.from-file"
    assert settings_from_env({"HOME": str(tmp_path), "VAULT_TOKEN": "vt"}).token == "vt"


@pytest.mark.parametrize(("name", "value"), [("VAULT_SKIP_VERIFY", "maybe"),
                                             ("WARDEN_CLIENT_TIMEOUT", "soon")])
def test_bad_settings_are_refused(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        settings_from_env({"HOME": str(tmp_path), name: value})


def test_from_env_with_overrides(tmp_path: Path) -> None:
    rec = Recorder(ok({}))
    env = {"HOME": str(tmp_path), "WARDEN_ADDR": "https://env:1", "WARDEN_TOKEN": "env-token"}
    c = Client.from_env(env, transport=httpx.MockTransport(rec), token="flag-token", address=None)
    c.read("x")
    assert str(rec.last.url) == "https://env:1/v1/x"
    assert rec.last.headers["X-Vault-Token"] == "flag-token"


def test_token_file_is_written_owner_only(tmp_path: Path) -> None:
    path = tmp_path / ".warden-token"
    path.write_text("old")
    path.chmod(0o644)
    old_umask = os.umask(0)
    try:
        write_token_file(path, "ws.new")
    finally:
        os.umask(old_umask)
    assert path.read_text() == "ws.new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [".warden-token"]


# -- TLS -------------------------------------------------------------------------------------


def test_verification_is_on_by_default() -> None:
    assert tls_verify(ClientSettings()) is True


def test_ca_cert_makes_a_verifying_context(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ctx = tls_verify(ClientSettings(ca_cert=str(ca_file)))
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname


def test_client_certificate_is_loaded(tmp_path: Path) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("client.test")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ctx = tls_verify(ClientSettings(client_cert=str(cert), client_key=str(key)))
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED


def test_skip_verify_only_when_asked() -> None:
    ctx = tls_verify(ClientSettings(tls_skip_verify=True))
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_NONE


def test_unreadable_ca_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Client(ADDR, ca_cert=str(tmp_path / "missing.pem"))
