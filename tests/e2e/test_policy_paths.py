"""A token with a narrow policy cannot reach outside it, however the path is spelled."""

from __future__ import annotations

import hvac
import pytest

from support.rawhttp import raw_request
from support.server import ServerProcess

APP_POLICY = """
path "secret/data/app/*"     { capabilities = ["create", "read", "update"] }
path "secret/metadata/app/*" { capabilities = ["list", "read"] }
"""


@pytest.fixture(scope="module")
def narrow(dev_server: ServerProcess) -> str:
    root = dev_server.client()
    root.secrets.kv.v2.create_or_update_secret("admin/db", secret={"password": "hunter2"})
    root.secrets.kv.v2.create_or_update_secret("app/config", secret={"mode": "prod"})
    root.sys.create_or_update_policy("app", APP_POLICY)
    return root.auth.token.create(policies=["app"], ttl="1h")["auth"]["client_token"]


def test_the_policy_allows_what_it_names(dev_server: ServerProcess, narrow: str) -> None:
    client = dev_server.client(token=narrow)
    read = client.secrets.kv.v2.read_secret_version("app/config", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"mode": "prod"}
    client.secrets.kv.v2.create_or_update_secret("app/new", secret={"k": "v"})


def test_read_write_list_outside_are_denied(dev_server: ServerProcess, narrow: str) -> None:
    client = dev_server.client(token=narrow)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.read_secret_version("admin/db", raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.create_or_update_secret("admin/db", secret={"password": "x"})
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.list_secrets("admin")
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.delete_metadata_and_all_versions("app/config")
    _admin_secret_is_intact(dev_server)


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("GET", "/v1/secret/data/app/../admin/db", {400}),
        ("GET", "/v1/secret/data/app/%2e%2e/admin/db", {400}),
        ("GET", "/v1/secret/data/app/%2E%2E%2Fadmin/db", {400}),
        ("GET", "/v1/secret/data/app%2F..%2Fadmin/db", {400}),
        ("GET", "/v1/secret/data//admin/db", {403}),
        ("GET", "/v1/secret//data/admin/db", {403}),
        ("GET", "/v1/SECRET/data/admin/db", {403}),
        ("GET", "/v1/secret/DATA/app/config", {403}),
        ("GET", "/v1/secret/data/APP/../admin/db", {400}),
        ("GET", "/v1/secret/data/admin%2Fdb", {403}),
        ("GET", "/v1/secret/data/./app/../admin/db", {400}),
        ("POST", "/v1/secret/data/app/../admin/db", {400}),
        ("LIST", "/v1/secret/metadata/", {403}),
        ("LIST", "/v1/secret/metadata/app/../", {400}),
        ("DELETE", "/v1/secret/metadata//admin/db", {403}),
    ],
)
def test_path_tricks_do_not_escape(dev_server: ServerProcess, narrow: str, method: str,
                                   path: str, statuses: set[int]) -> None:
    body = b'{"data": {"password": "pwned"}}' if method == "POST" else None
    resp = raw_request(dev_server.url, method, path, token=narrow, body=body)
    assert resp.status in statuses, (method, path, resp.status, resp.body)
    assert b"hunter2" not in resp.body
    _admin_secret_is_intact(dev_server)


def _admin_secret_is_intact(server: ServerProcess) -> None:
    read = server.client().secrets.kv.v2.read_secret_version("admin/db",
                                                             raise_on_deleted_version=True)
    assert read["data"]["data"] == {"password": "hunter2"}
    assert read["data"]["metadata"]["version"] == 1
