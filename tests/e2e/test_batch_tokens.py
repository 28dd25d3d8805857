"""Batch tokens, as Vault has them, against a real server driven by hvac: sealed blobs that
carry their policies, expiry and parent, cost no storage, and can be neither renewed, revoked,
looked up by accessor nor used to create tokens."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import hvac.exceptions
import pytest

from support.server import ServerProcess

READER = """
path "secret/data/batch/*" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("batch")
    proc = ServerProcess(work, extra_args=[f"-dev-storage-path={work / 'warden.db'}"]).start()
    client = proc.client()
    client.sys.create_or_update_policy("batch-reader", READER)
    client.secrets.kv.v2.create_or_update_secret("batch/app", {"v": 1})
    client.secrets.kv.v2.create_or_update_secret("other", {"v": 2})
    try:
        yield proc
    finally:
        proc.stop()


def _rows(server: ServerProcess) -> int:
    db = sqlite3.connect(f"file:{server.workdir / 'warden.db'}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM kv").fetchone()[0])
    finally:
        db.close()


def _batch(client: hvac.Client, **params: object) -> dict[str, object]:
    auth: dict[str, object] = client.auth.token.create(type="batch", **params)["auth"]
    return auth


def _reads(server: ServerProcess, token: str) -> bool:
    resp = server.http(token).get("/v1/secret/data/batch/app")
    assert resp.status_code in (200, 403), resp.text
    return resp.status_code == 200


def test_a_batch_token_carries_its_policies_and_costs_no_storage(server: ServerProcess) -> None:
    client = server.client()
    rows = _rows(server)
    tokens = [_batch(client, policies=["batch-reader"], ttl="1h") for _ in range(50)]
    assert _rows(server) == rows  # not stored: no entry, no accessor, no parent link
    auth = tokens[0]
    token = str(auth["client_token"])
    assert token.startswith("wb.")
    assert (auth["accessor"], auth["renewable"], auth["token_type"], auth["orphan"]) == (
        "", False, "batch", False)
    assert auth["policies"] == ["batch-reader", "default"]
    assert auth["lease_duration"] == 3600
    assert _reads(server, token)
    assert server.http(token).get("/v1/secret/data/other").status_code == 403
    me = server.client(token=token).auth.token.lookup_self()["data"]
    assert (me["id"], me["type"], me["accessor"], me["renewable"]) == (token, "batch", "", False)
    assert me["policies"] == ["batch-reader", "default"] and 3590 <= me["ttl"] <= 3600
    assert client.auth.token.lookup(token)["data"]["type"] == "batch"
    caps = server.client(token=token).sys.get_capabilities(["secret/data/batch/app"])
    assert caps["capabilities"] == ["read"]
    assert _rows(server) == rows
    client.auth.token.create(policies=["batch-reader"])  # a service token is stored
    assert _rows(server) > rows


def test_a_batch_token_cannot_renew_revoke_or_create(server: ServerProcess) -> None:
    token = str(_batch(server.client(), policies=["batch-reader"])["client_token"])
    as_batch = server.client(token=token)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="batch tokens cannot be renewed"):
        as_batch.auth.token.renew_self()
    with pytest.raises(hvac.exceptions.InvalidRequest, match="batch tokens cannot be renewed"):
        server.client().auth.token.renew(token)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="batch tokens cannot be revoked"):
        as_batch.auth.token.revoke_self()
    with pytest.raises(hvac.exceptions.InvalidRequest, match="batch tokens cannot be revoked"):
        server.client().auth.token.revoke(token)
    with pytest.raises(hvac.exceptions.InvalidRequest,
                       match="batch tokens cannot create more tokens"):
        as_batch.auth.token.create(policies=["batch-reader"])
    assert _reads(server, token)  # none of that harmed it


@pytest.mark.parametrize(("params", "message"), [
    ({"policies": ["root"]}, "batch tokens cannot be root tokens"),
    ({"num_uses": 3}, 'batch tokens cannot have "num_uses" set'),
    ({"period": "1h"}, 'batch tokens cannot have "period" set'),
    ({"explicit_max_ttl": "1h"}, 'batch tokens cannot have "explicit_max_ttl" set'),
])
def test_what_a_batch_token_cannot_carry_is_refused(server: ServerProcess,
                                                     params: dict[str, object],
                                                     message: str) -> None:
    with pytest.raises(hvac.exceptions.InvalidRequest, match=message):
        _batch(server.client(), **params)


def test_a_batch_token_expires_with_its_ttl(server: ServerProcess) -> None:
    token = str(_batch(server.client(), policies=["batch-reader"], ttl="2s")["client_token"])
    assert _reads(server, token)
    time.sleep(2.5)
    assert not _reads(server, token)
    with pytest.raises(hvac.exceptions.Forbidden, match="bad token"):
        server.client().auth.token.lookup(token)


def test_a_batch_token_dies_with_its_parent_unless_it_is_an_orphan(server: ServerProcess) -> None:
    client = server.client()
    parent = client.auth.token.create(policies=["batch-reader"], ttl="1h")["auth"]
    as_parent = server.client(token=parent["client_token"])
    child = str(_batch(as_parent)["client_token"])
    assert server.client(token=child).auth.token.lookup_self()["data"]["orphan"] is False
    orphan = str(_batch(client, policies=["batch-reader"], no_parent=True)["client_token"])
    assert _reads(server, child) and _reads(server, orphan)
    client.auth.token.revoke(parent["client_token"])
    assert not _reads(server, child)
    assert _reads(server, orphan)


def test_forged_tampered_and_foreign_batch_tokens_are_refused(
        server: ServerProcess, server_factory: object) -> None:
    token = str(_batch(server.client(), policies=["batch-reader"])["client_token"])
    body = token[3:]
    for i in (0, 4, len(body) // 2, len(body) - 3):
        flipped = body[:i] + ("A" if body[i] != "A" else "B") + body[i + 1:]
        assert not _reads(server, "wb." + flipped)
    assert not _reads(server, "wb.")
    assert not _reads(server, "wb.!!!not-base64")
    assert not _reads(server, "wb." + "A" * 20000)
    other = server_factory().start()  # type: ignore[operator]
    other_client = other.client()
    other_client.sys.create_or_update_policy("batch-reader", READER)
    foreign = str(_batch(other_client, policies=["batch-reader"])["client_token"])
    assert not _reads(server, foreign)


def test_batch_tokens_outlive_rotation_and_restart_but_not_the_seal(
        tmp_path: Path, server_factory: object) -> None:
    server = server_factory(  # type: ignore[operator]
        extra_args=[f"-dev-storage-path={tmp_path / 'own.db'}"]).start()
    client = server.client()
    client.sys.create_or_update_policy("batch-reader", READER)
    client.secrets.kv.v2.create_or_update_secret("batch/app", {"v": 1})
    before = str(_batch(client, policies=["batch-reader"])["client_token"])
    client.sys.rotate_encryption_key()
    after = str(_batch(client, policies=["batch-reader"])["client_token"])
    assert _reads(server, before) and _reads(server, after)
    server.stop()
    server.start()  # same store and keyring (the dev server unseals itself)
    assert _reads(server, before) and _reads(server, after)
    server.client().sys.seal()
    assert server.http(before).get("/v1/secret/data/batch/app").status_code == 503


def test_token_roles_force_or_default_the_batch_type(server_factory: object) -> None:
    server = server_factory().start()  # type: ignore[operator]
    client = server.client()
    with pytest.raises(hvac.exceptions.InvalidRequest, match="non-orphan"):
        client.write("auth/token/roles/pods", token_type="batch")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="renewable"):
        client.write("auth/token/roles/pods", token_type="batch", orphan=True)
    client.write("auth/token/roles/pods", token_type="batch", orphan=True, renewable=False,
                 allowed_policies=["default"])
    assert client.auth.token.read_role("pods")["data"]["token_type"] == "batch"
    forced = client.auth.token.create(role_name="pods", type="service")["auth"]
    assert forced["token_type"] == "batch" and forced["orphan"] is True
    client.write("auth/token/roles/mixed", token_type="default-batch",
                 allowed_policies=["default"])
    assert client.auth.token.create(role_name="mixed")["auth"]["token_type"] == "batch"
    assert client.auth.token.create(role_name="mixed", type="service")["auth"][
        "token_type"] == "service"
    client.write("auth/token/roles/plain", allowed_policies=["default"])
    assert client.auth.token.read_role("plain")["data"]["token_type"] == "default-service"
    assert client.auth.token.create(role_name="plain")["auth"]["token_type"] == "service"
    assert client.auth.token.create(role_name="plain", type="batch")["auth"][
        "token_type"] == "batch"
    with pytest.raises(hvac.exceptions.InvalidRequest, match="batch tokens cannot be root"):
        client.auth.token.create(type="batch")  # a root parent's policies: root


def test_approle_logins_get_batch_tokens_from_the_role_or_the_mount(
        server_factory: object) -> None:
    server = server_factory().start()  # type: ignore[operator]
    client = server.client()
    client.sys.enable_auth_method("approle")
    client.sys.create_or_update_policy("batch-reader", READER)
    client.secrets.kv.v2.create_or_update_secret("batch/app", {"v": 1})
    client.auth.approle.create_or_update_approle("pod", token_policies=["batch-reader"],
                                                 token_type="batch", token_ttl="10m")
    role_id = client.auth.approle.read_role_id("pod")["data"]["role_id"]
    anonymous = server.client(token="")
    logins = [anonymous.auth.approle.login(
        role_id, client.auth.approle.generate_secret_id("pod")["data"]["secret_id"])["auth"]
        for _ in range(5)]
    assert len(client.list("auth/token/accessors")["data"]["keys"]) == 1  # the root token
    auth = logins[0]
    assert (auth["token_type"], auth["accessor"], auth["renewable"], auth["orphan"]) == (
        "batch", "", False, True)
    assert auth["lease_duration"] == 600
    assert _reads(server, auth["client_token"])
    with pytest.raises(hvac.exceptions.InvalidRequest, match="periodic"):
        client.auth.approle.create_or_update_approle("bad", token_type="batch", token_period="1h")
    # the mount may force the type; "default" roles then follow it
    client.auth.approle.create_or_update_approle("plain", token_policies=["batch-reader"])
    plain_id = client.auth.approle.read_role_id("plain")["data"]["role_id"]

    def login_plain() -> dict[str, object]:
        secret = client.auth.approle.generate_secret_id("plain")["data"]["secret_id"]
        return anonymous.auth.approle.login(plain_id, secret)["auth"]  # type: ignore[no-any-return]

    assert login_plain()["token_type"] == "service"
    client.sys.tune_auth_method("approle", token_type="default-batch")
    assert client.sys.read_auth_method_tuning("approle")["data"]["token_type"] == "default-batch"
    assert login_plain()["token_type"] == "batch"
    with pytest.raises(hvac.exceptions.InvalidRequest, match="token_type"):
        client.sys.tune_auth_method("token", token_type="batch")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="token_type"):
        client.sys.tune_auth_method("approle", token_type="sometimes")


def test_leases_of_a_batch_token_end_with_it_and_go_with_its_parent(
        server: ServerProcess) -> None:
    client = server.client()
    client.sys.enable_secrets_engine("pki", path="batch-pki", config={"max_lease_ttl": "24h"})
    client.write("batch-pki/root/generate/internal", common_name="batch.example", ttl="24h")
    client.write("batch-pki/roles/web", allow_any_name=True, generate_lease=True, max_ttl="1h")
    client.sys.create_or_update_policy("issuer", """
        path "batch-pki/issue/web" { capabilities = ["update"] }
        path "auth/token/create" { capabilities = ["update"] }""")
    parent = client.auth.token.create(policies=["issuer"], ttl="1h")["auth"]["client_token"]
    child = str(_batch(server.client(token=parent), ttl="10m")["client_token"])
    issued = server.client(token=child).write("batch-pki/issue/web", common_name="a.example",
                                              ttl="1h")
    assert 0 < issued["lease_duration"] <= 600  # never longer than the batch token lives
    lease = client.sys.read_lease(issued["lease_id"])["data"]
    assert lease["ttl"] <= 600
    client.auth.token.revoke(parent)  # the parent tracks its batch children's leases
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.sys.read_lease(issued["lease_id"])
