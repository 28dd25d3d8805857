"""``sys/remount`` moves a mount with its data (Vault's API, driven by hvac) and
``sys/remount/status/<id>`` reports the move.

As in Vault, a mount's data lives under its UUID, so the move rewrites only the mount table;
what was leased under the old path (certificates with leases, login tokens of an auth method)
is revoked, as Vault's remount revokes the leases under the source path.
"""

from __future__ import annotations

from collections.abc import Iterator

import hvac
import hvac.exceptions
import pytest

from support.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("remount")
    proc = ServerProcess(work, extra_args=[f"-dev-storage-path={work / 'warden.db'}"]).start()
    try:
        yield proc
    finally:
        proc.stop()


def _status(client: hvac.Client, migration_id: str) -> dict[str, object]:
    return client.read(f"sys/remount/status/{migration_id}")["data"]  # type: ignore[no-any-return]


def test_moving_a_kv_mount_keeps_its_data_tuning_and_identity(server: ServerProcess) -> None:
    client = server.client()
    client.sys.enable_secrets_engine("kv", path="mv-src", options={"version": "2"})
    client.sys.tune_mount_configuration("mv-src", default_lease_ttl="3600s", max_lease_ttl="8600s")
    client.secrets.kv.v2.create_or_update_secret("app", {"password": "s3cr3t"},
                                                 mount_point="mv-src")
    before = client.sys.list_mounted_secrets_engines()["data"]["mv-src/"]
    answer = client.sys.move_backend("mv-src", "mv-dst")
    migration_id = answer["data"]["migration_id"]
    # hvac's own suite reads the mount table right after move_backend returns
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    assert "mv-src/" not in mounts and "mv-dst/" in mounts
    after = mounts["mv-dst/"]
    assert (after["uuid"], after["accessor"], after["type"]) == (
        before["uuid"], before["accessor"], before["type"])
    assert after["options"] == {"version": "2"}
    tuning = client.sys.read_mount_configuration("mv-dst")["data"]
    assert (tuning["default_lease_ttl"], tuning["max_lease_ttl"]) == (3600, 8600)
    secret = client.secrets.kv.v2.read_secret_version("app", mount_point="mv-dst",
                                                      raise_on_deleted_version=True)
    assert secret["data"]["data"] == {"password": "s3cr3t"}
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.secrets.kv.v2.read_secret_version("app", mount_point="mv-src",
                                                 raise_on_deleted_version=True)
    status = _status(client, migration_id)
    assert status["migration_id"] == migration_id
    assert status["migration_info"] == {"source_mount": "mv-src/", "target_mount": "mv-dst/",
                                        "status": "success"}
    # a new mount at the old path starts empty: the data went with the move
    client.sys.enable_secrets_engine("kv", path="mv-src", options={"version": "2"})
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.secrets.kv.v2.read_secret_version("app", mount_point="mv-src",
                                                 raise_on_deleted_version=True)


def test_the_move_survives_a_restart(server: ServerProcess) -> None:
    client = server.client()
    client.sys.enable_secrets_engine("kv", path="mv-persist")
    client.write("mv-persist/k", v="1")
    client.sys.move_backend("mv-persist", "mv-persisted")
    server.stop()
    server.start()
    client = server.client()
    assert "mv-persisted/" in client.sys.list_mounted_secrets_engines()["data"]
    assert client.read("mv-persisted/k")["data"] == {"v": "1"}


def test_leases_under_the_old_path_are_revoked(server: ServerProcess) -> None:
    client = server.client()
    client.sys.enable_secrets_engine("pki", path="mv-pki", config={"max_lease_ttl": "8760h"})
    client.write("mv-pki/root/generate/internal", common_name="mv.example", ttl="8760h")
    client.write("mv-pki/roles/web", allow_any_name=True, generate_lease=True, max_ttl="1h")
    issued = client.write("mv-pki/issue/web", common_name="a.mv.example")
    serial = issued["data"]["serial_number"]
    client.sys.move_backend("mv-pki", "mv-pki2")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.sys.read_lease(issued["lease_id"])
    assert client.read(f"mv-pki2/cert/{serial}")["data"]["revocation_time"] > 0
    again = client.write("mv-pki2/issue/web", common_name="b.mv.example")  # the CA moved along
    assert again["lease_id"].startswith("mv-pki2/issue/web/")


def test_an_auth_method_moves_and_its_login_tokens_are_revoked(server: ServerProcess) -> None:
    client = server.client()
    client.sys.enable_auth_method("approle", path="mv-approle")
    client.write("auth/mv-approle/role/app", token_policies="default", token_ttl="1h")
    role_id = client.read("auth/mv-approle/role/app/role-id")["data"]["role_id"]
    secret_id = client.write("auth/mv-approle/role/app/secret-id")["data"]["secret_id"]
    login = server.client(token="").auth.approle.login(role_id, secret_id,
                                                       mount_point="mv-approle")
    token = login["auth"]["client_token"]
    assert server.client(token=token).auth.token.lookup_self()["data"]["path"].startswith(
        "auth/mv-approle/login")
    answer = client.sys.move_backend("auth/mv-approle", "auth/mv-approle2")
    assert _status(client, answer["data"]["migration_id"])["migration_info"] == {
        "source_mount": "auth/mv-approle/", "target_mount": "auth/mv-approle2/",
        "status": "success"}
    with pytest.raises(hvac.exceptions.Forbidden):
        server.client(token=token).auth.token.lookup_self()
    auths = client.sys.list_auth_methods()["data"]
    assert "mv-approle/" not in auths and "mv-approle2/" in auths
    # the role and its secret-ids moved with the mount
    assert client.read("auth/mv-approle2/role/app/role-id")["data"]["role_id"] == role_id
    fresh = client.write("auth/mv-approle2/role/app/secret-id")["data"]["secret_id"]
    relogin = server.client(token="").auth.approle.login(role_id, fresh,
                                                         mount_point="mv-approle2")
    assert relogin["auth"]["client_token"]


@pytest.mark.parametrize(("source", "target", "message"), [
    ("no-such-mount", "elsewhere", 'no matching mount at "no-such-mount/"'),
    ("mv-bad", "mv-taken", 'path already in use at "mv-taken/"'),
    ("mv-bad", "mv-bad/inner", 'path already in use at "mv-bad/"'),
    ("mv-bad", "sys/mine", 'cannot remount to destination "sys/mine/"'),
    ("sys", "mysys", 'cannot remount "sys/"'),
    ("auth/token", "auth/tokens", 'cannot remount "auth/token/"'),
    ("auth/mv-auth", "mv-secrets", "cannot remount auth mount to non-auth mount"),
    ("mv-bad", "auth/mv-bad", 'cannot remount to destination "auth/mv-bad/"'),
    ("mv-bad", "", "both 'from' and 'to' path must be specified"),
])
def test_bad_moves_are_refused_and_change_nothing(server: ServerProcess, source: str,
                                                  target: str, message: str) -> None:
    client = server.client()
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    if "mv-bad/" not in mounts:
        client.sys.enable_secrets_engine("kv", path="mv-bad")
        client.sys.enable_secrets_engine("kv", path="mv-taken")
        client.sys.enable_auth_method("approle", path="mv-auth")
        client.write("mv-bad/k", v="1")
    resp = server.http().post("/v1/sys/remount", json={"from": source, "to": target})
    assert resp.status_code == 400, resp.text
    assert message in resp.json()["errors"][0]
    assert client.read("mv-bad/k")["data"] == {"v": "1"}
    assert "mv-auth/" in client.sys.list_auth_methods()["data"]


def test_remount_needs_sudo_and_unknown_migrations_are_404(server: ServerProcess) -> None:
    client = server.client()
    client.sys.enable_secrets_engine("kv", path="mv-sudo")
    client.sys.create_or_update_policy(
        "mounter", 'path "sys/remount" { capabilities = ["update"] }\n'
                   'path "sys/remount/status/*" { capabilities = ["read"] }')
    token = client.auth.token.create(policies=["mounter"])["auth"]["client_token"]
    with pytest.raises(hvac.exceptions.Forbidden):
        server.client(token=token).sys.move_backend("mv-sudo", "mv-sudo2")
    assert "mv-sudo/" in client.sys.list_mounted_secrets_engines()["data"]
    resp = server.http().get("/v1/sys/remount/status/00000000-0000-0000-0000-000000000000")
    assert resp.status_code == 404


def test_the_cli_moves_secrets_engines_and_auth_methods(server: ServerProcess) -> None:
    client = server.client()
    client.sys.enable_secrets_engine("kv", path="cli-kv")
    client.write("cli-kv/k", v="1")
    moved = server.cli("secrets", "move", "cli-kv", "cli-kv-moved/")
    assert moved.returncode == 0, moved.stderr
    assert "Success! Finished moving secrets engine cli-kv/ to cli-kv-moved/" in moved.stdout
    assert client.read("cli-kv-moved/k")["data"] == {"v": "1"}
    client.sys.enable_auth_method("approle", path="cli-approle")
    moved = server.cli("auth", "move", "cli-approle", "auth/cli-approle2")
    assert moved.returncode == 0, moved.stderr
    assert "auth/cli-approle/ to auth/cli-approle2/" in moved.stdout
    assert "cli-approle2/" in client.sys.list_auth_methods()["data"]
    tuned = server.cli("auth", "tune", "-token-type=batch", "cli-approle2")
    assert tuned.returncode == 0, tuned.stderr
    assert client.sys.read_auth_method_tuning("cli-approle2")["data"]["token_type"] == "batch"
    refused = server.cli("secrets", "move", "no-such", "elsewhere")
    assert refused.returncode != 0 and "no matching mount" in refused.stderr
    assert "Traceback" not in refused.stderr
