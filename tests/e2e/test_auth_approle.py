"""AppRole against a real server: hvac, the CLI, response-wrapped secret IDs, refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator

import hvac
import pytest

from support.server import ServerProcess


@pytest.fixture(scope="module")
def approle(dev_server: ServerProcess) -> Iterator[hvac.Client]:
    client = dev_server.client()
    client.sys.enable_auth_method("approle")
    client.sys.create_or_update_policy("dev", 'path "secret/*" { capabilities = ["read"] }')
    client.auth.approle.create_or_update_approle(
        "web", token_policies=["dev"], token_ttl="20m", token_max_ttl="1h",
        secret_id_num_uses=2, secret_id_ttl="10m")
    yield client


def _creds(client: hvac.Client, **kw: object) -> tuple[str, str]:
    role_id = client.auth.approle.read_role_id("web")["data"]["role_id"]
    secret = client.auth.approle.generate_secret_id("web", **kw)["data"]
    return role_id, secret["secret_id"]


def test_login_yields_a_token_with_the_roles_settings(approle: hvac.Client,
                                                      dev_server: ServerProcess) -> None:
    role_id, secret_id = _creds(approle, metadata={"pod": "web-0"})
    login = dev_server.client(token="").auth.approle.login(role_id, secret_id)["auth"]
    assert login["policies"] == ["default", "dev"] and login["lease_duration"] == 1200
    assert login["metadata"] == {"pod": "web-0", "role_name": "web"}
    me = dev_server.client(token=login["client_token"]).auth.token.lookup_self()["data"]
    assert me["display_name"] == "approle" and me["path"] == "auth/approle/login"
    assert me["meta"] == {"pod": "web-0", "role_name": "web"} and me["renewable"]
    assert me["explicit_max_ttl"] == 0 and 1190 <= me["ttl"] <= 1200


def test_wrong_secret_id_and_exhausted_secret_id_are_refused(approle: hvac.Client,
                                                             dev_server: ServerProcess) -> None:
    role_id, secret_id = _creds(approle)
    anonymous = dev_server.client(token="")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="invalid role or secret ID"):
        anonymous.auth.approle.login(role_id, "not-the-secret")
    for _ in range(2):
        anonymous.auth.approle.login(role_id, secret_id)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="invalid role or secret ID"):
        anonymous.auth.approle.login(role_id, secret_id)


def test_wrapped_secret_id_is_unwrapped_and_used_once(approle: hvac.Client,
                                                      dev_server: ServerProcess) -> None:
    """Seed 003's flow: a controller hands a pod a wrapped secret ID; the pod unwraps it."""
    wrapped = approle.auth.approle.generate_secret_id("web", wrap_ttl="60s")["wrap_info"]
    assert wrapped["creation_path"] == "auth/approle/role/web/secret-id"
    pod = dev_server.client(token=wrapped["token"])
    secret_id = pod.sys.unwrap()["data"]["secret_id"]
    role_id = approle.auth.approle.read_role_id("web")["data"]["role_id"]
    token = dev_server.client(token="").auth.approle.login(role_id, secret_id)
    assert token["auth"]["policies"] == ["default", "dev"]
    with pytest.raises(hvac.exceptions.VaultError):
        dev_server.client(token=wrapped["token"]).sys.unwrap()


def test_cli_login_with_warden_write(approle: hvac.Client, dev_server: ServerProcess) -> None:
    role_id, secret_id = _creds(approle)
    done = dev_server.cli("write", "-format=json", "auth/approle/login",
                          f"role_id={role_id}", f"secret_id={secret_id}", token="")
    assert done.returncode == 0, done.stderr
    auth = json.loads(done.stdout)["auth"]
    assert auth["token_policies"] == ["default", "dev"] and auth["client_token"]
    refused = dev_server.cli("write", "auth/approle/login", f"role_id={role_id}",
                             "secret_id=wrong", token="")
    assert refused.returncode != 0 and "invalid role or secret ID" in refused.stderr


def test_cidr_bound_secret_id_and_token(approle: hvac.Client, dev_server: ServerProcess) -> None:
    role_id, _ = _creds(approle)
    far = approle.auth.approle.generate_secret_id("web", cidr_list=["10.0.0.0/8"])["data"]
    anonymous = dev_server.client(token="")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="CIDR restrictions"):
        anonymous.auth.approle.login(role_id, far["secret_id"])
    near = approle.auth.approle.generate_secret_id(
        "web", cidr_list=["127.0.0.0/8"], token_bound_cidrs=["127.0.0.1/32"])["data"]
    login = anonymous.auth.approle.login(role_id, near["secret_id"])["auth"]
    me = dev_server.client(token=login["client_token"]).auth.token.lookup_self()["data"]
    assert me["bound_cidrs"] == ["127.0.0.1/32"]


def test_secret_id_lookup_and_destroy_by_accessor(approle: hvac.Client) -> None:
    secret = approle.auth.approle.generate_secret_id("web", metadata={"a": "b"})["data"]
    found = approle.auth.approle.read_secret_id("web", secret["secret_id"])["data"]
    assert found["metadata"] == {"a": "b"} and "secret_id" not in found
    assert secret["secret_id_accessor"] in approle.auth.approle.list_secret_id_accessors(
        "web")["data"]["keys"]
    approle.auth.approle.destroy_secret_id_accessor("web", secret["secret_id_accessor"])
    with pytest.raises(hvac.exceptions.InvalidRequest, match="no secret ID with this accessor"):
        approle.auth.approle.read_secret_id_accessor("web", secret["secret_id_accessor"])


def test_login_token_renews(approle: hvac.Client, dev_server: ServerProcess) -> None:
    role_id, secret_id = _creds(approle)
    token = dev_server.client(token="").auth.approle.login(role_id, secret_id)["auth"]
    renewed = dev_server.client(token=token["client_token"]).auth.token.renew_self()["auth"]
    assert renewed["renewable"] and 0 < renewed["lease_duration"] <= 1200


def test_role_errors_are_clear_400s(approle: hvac.Client) -> None:
    with pytest.raises(hvac.exceptions.InvalidRequest, match=r"cannot be 'batch'.*periodic"):
        approle.auth.approle.create_or_update_approle("bad", token_type="batch", token_period="1h")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="at least one constraint"):
        approle.auth.approle.create_or_update_approle("bad", bind_secret_id=False)
