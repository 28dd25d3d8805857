"""kv v1 and v2 against a real dev server, driven by hvac and plain HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import hvac
import pytest

from support.server import ServerProcess


def enable(client: hvac.Client, mount_type: str, path: str, **options: str) -> None:
    # hvac sends null for every argument left out; sys/mounts refuses nulls for now,
    # so description, config and plugin_name are given explicitly.
    client.sys.enable_secrets_engine(mount_type, path=path, options=dict(options),
                                     description="kv e2e test mount", config={},
                                     plugin_name=mount_type)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(dev_server: ServerProcess) -> hvac.Client:
    return dev_server.client()


@pytest.fixture
def kv1(client: hvac.Client) -> Iterator[str]:
    mount = unique("kv1")
    enable(client, "kv", mount, version="1")
    yield mount
    client.sys.disable_secrets_engine(mount)


# -- kv v2 (the dev server's secret/) ---------------------------------------------------------


def test_v2_write_read_versions(client: hvac.Client) -> None:
    v2, path = client.secrets.kv.v2, unique("app")
    first = v2.create_or_update_secret(path, secret={"user": "u", "pw": "p1"})["data"]
    assert (first["version"], first["destroyed"], first["deletion_time"]) == (1, False, "")
    assert first["created_time"].endswith("Z")
    v2.create_or_update_secret(path, secret={"user": "u", "pw": "p2"}, cas=1)
    latest = v2.read_secret_version(path, raise_on_deleted_version=True)["data"]
    assert latest["data"] == {"user": "u", "pw": "p2"}
    assert set(latest["metadata"]) == {"created_time", "custom_metadata", "deletion_time",
                                       "destroyed", "version"}
    assert latest["metadata"]["version"] == 2
    old = v2.read_secret_version(path, version=1, raise_on_deleted_version=True)["data"]
    assert old["data"]["pw"] == "p1"


def test_v2_cas_mismatch_is_a_400(client: hvac.Client) -> None:
    v2, path = client.secrets.kv.v2, unique("cas")
    v2.create_or_update_secret(path, secret={"a": 1}, cas=0)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set"):
        v2.create_or_update_secret(path, secret={"a": 2}, cas=0)


@pytest.mark.filterwarnings("ignore:The raise_on_deleted_version parameter:DeprecationWarning")
def test_v2_hvac_patch(client: hvac.Client) -> None:
    v2, path = client.secrets.kv.v2, unique("patch")
    v2.create_or_update_secret(path, secret={"a": "1", "b": "2"})
    assert v2.patch(path, {"b": "3", "c": "4"})["data"]["version"] == 2
    read = v2.read_secret_version(path, raise_on_deleted_version=True)["data"]["data"]
    assert read == {"a": "1", "b": "3", "c": "4"}


def test_v2_http_merge_patch(dev_server: ServerProcess, client: hvac.Client) -> None:
    path = unique("merge")
    client.secrets.kv.v2.create_or_update_secret(path, secret={"keep": 1, "drop": 2,
                                                               "n": {"x": 1}})
    with dev_server.http() as http:
        resp = http.patch(f"/v1/secret/data/{path}",
                          json={"data": {"drop": None, "n": {"y": 2}}},
                          headers={"Content-Type": "application/merge-patch+json"})
        assert resp.status_code == 200 and resp.json()["data"]["version"] == 2
        missing = http.patch(f"/v1/secret/data/{unique('none')}", json={"data": {"a": 1}},
                             headers={"Content-Type": "application/merge-patch+json"})
        assert missing.status_code == 404
    read = client.secrets.kv.v2.read_secret_version(path, raise_on_deleted_version=True)
    assert read["data"]["data"] == {"keep": 1, "n": {"x": 1, "y": 2}}


def test_v2_delete_undelete_destroy(client: hvac.Client) -> None:
    v2, path = client.secrets.kv.v2, unique("lifecycle")
    v2.create_or_update_secret(path, secret={"v": 1})
    v2.create_or_update_secret(path, secret={"v": 2})
    v2.delete_latest_version_of_secret(path)
    with pytest.raises(hvac.exceptions.InvalidPath):
        v2.read_secret_version(path, raise_on_deleted_version=True)
    deleted = v2.read_secret_version(path, raise_on_deleted_version=False)
    assert deleted["data"]["data"] is None
    assert deleted["data"]["metadata"]["deletion_time"] != ""
    v2.undelete_secret_versions(path, versions=[2])
    assert v2.read_secret_version(path, raise_on_deleted_version=True)["data"]["data"] == {"v": 2}
    v2.delete_secret_versions(path, versions=[1])
    v2.destroy_secret_versions(path, versions=[1])
    versions = v2.read_secret_metadata(path)["data"]["versions"]
    assert versions["1"]["destroyed"] is True and versions["2"]["destroyed"] is False
    with pytest.raises(hvac.exceptions.InvalidPath):
        v2.read_secret_version(path, version=1, raise_on_deleted_version=True)


def test_v2_metadata(client: hvac.Client) -> None:
    v2, folder = client.secrets.kv.v2, unique("meta")
    v2.create_or_update_secret(f"{folder}/a", secret={"x": 1})
    v2.create_or_update_secret(f"{folder}/sub/b", secret={"x": 1})
    v2.update_metadata(f"{folder}/a", max_versions=3, custom_metadata={"owner": "jdoe"})
    meta = v2.read_secret_metadata(f"{folder}/a")["data"]
    assert (meta["max_versions"], meta["current_version"], meta["custom_metadata"]) == (
        3, 1, {"owner": "jdoe"})
    assert set(meta) == {"cas_required", "created_time", "current_version", "custom_metadata",
                         "delete_version_after", "max_versions", "oldest_version",
                         "updated_time", "versions"}
    assert v2.list_secrets(folder)["data"]["keys"] == ["a", "sub/"]
    assert folder + "/" in v2.list_secrets("")["data"]["keys"]
    read = v2.read_secret_version(f"{folder}/a", raise_on_deleted_version=True)
    assert read["data"]["metadata"]["custom_metadata"] == {"owner": "jdoe"}
    v2.delete_metadata_and_all_versions(f"{folder}/a")
    with pytest.raises(hvac.exceptions.InvalidPath):
        v2.read_secret_metadata(f"{folder}/a")
    assert v2.list_secrets(folder)["data"]["keys"] == ["sub/"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        v2.list_secrets(unique("empty"))


def test_v2_config_and_subkeys(dev_server: ServerProcess, client: hvac.Client) -> None:
    mount = unique("kv2")
    enable(client, "kv", mount, version="2")
    v2 = client.secrets.kv.v2
    v2.configure(max_versions=2, mount_point=mount)
    assert v2.read_configuration(mount_point=mount)["data"]["max_versions"] == 2
    for i in range(3):
        v2.create_or_update_secret("s", secret={"i": i, "deep": {"k": "v"}}, mount_point=mount)
    assert sorted(v2.read_secret_metadata("s", mount_point=mount)["data"]["versions"]) == ["2", "3"]
    with dev_server.http() as http:
        body = http.get(f"/v1/{mount}/subkeys/s").json()["data"]
    assert body["subkeys"] == {"i": None, "deep": {"k": None}}
    client.sys.disable_secrets_engine(mount)


def test_v2_bad_input_is_a_400(client: hvac.Client, dev_server: ServerProcess) -> None:
    path = unique("bad")
    with dev_server.http() as http:
        no_data = http.post(f"/v1/secret/data/{path}", json={"options": {}})
        bad_version = http.get(f"/v1/secret/data/{path}", params={"version": "x"})
        bad_max = http.post(f"/v1/secret/metadata/{path}", json={"max_versions": -1})
    for resp, field in ((no_data, "data"), (bad_version, "version"), (bad_max, "max_versions")):
        assert resp.status_code == 400
        assert field in resp.json()["errors"][0]
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.secrets.kv.v2.read_secret_metadata(path)


# -- kv v1 -------------------------------------------------------------------------------------


def test_v1_write_read_list_delete(client: hvac.Client, kv1: str) -> None:
    v1 = client.secrets.kv.v1
    v1.create_or_update_secret("app/db", secret={"user": "u", "ttl": "1h"}, mount_point=kv1)
    v1.create_or_update_secret("app/cache", secret={"k": "v"}, mount_point=kv1)
    v1.create_or_update_secret("top", secret={"k": "v"}, mount_point=kv1)
    read = v1.read_secret("app/db", mount_point=kv1)
    assert read["data"] == {"user": "u", "ttl": "1h"} and read["lease_duration"] == 3600
    assert read["lease_id"] == "" and read["renewable"] is False
    assert v1.read_secret("top", mount_point=kv1)["lease_duration"] == 768 * 3600
    assert v1.list_secrets("", mount_point=kv1)["data"]["keys"] == ["app/", "top"]
    assert v1.list_secrets("app", mount_point=kv1)["data"]["keys"] == ["cache", "db"]
    v1.create_or_update_secret("top", secret={"other": "x"}, mount_point=kv1)
    assert v1.read_secret("top", mount_point=kv1)["data"] == {"other": "x"}
    v1.delete_secret("top", mount_point=kv1)
    with pytest.raises(hvac.exceptions.InvalidPath):
        v1.read_secret("top", mount_point=kv1)


def test_v1_under_the_legacy_type_name_generic(client: hvac.Client) -> None:
    mount = unique("generic")
    enable(client, "generic", mount)
    v1 = client.secrets.kv.v1
    v1.create_or_update_secret("s", secret={"a": "b"}, mount_point=mount)
    assert v1.read_secret("s", mount_point=mount)["data"] == {"a": "b"}
    client.sys.disable_secrets_engine(mount)


def test_v1_refuses_an_empty_body(dev_server: ServerProcess, kv1: str) -> None:
    with dev_server.http() as http:
        resp = http.post(f"/v1/{kv1}/s", json={})
    assert resp.status_code == 400 and "no data" in resp.json()["errors"][0]


def test_v1_create_and_update_are_different_capabilities(
    dev_server: ServerProcess, client: hvac.Client, kv1: str
) -> None:
    client.sys.create_or_update_policy(f"{kv1}-create", f'path "{kv1}/*" '
                                       '{ capabilities = ["create", "read"] }')
    token = client.auth.token.create(policies=[f"{kv1}-create"], ttl="10m")["auth"]["client_token"]
    narrow = dev_server.client(token=token).secrets.kv.v1
    narrow.create_or_update_secret("new", secret={"a": 1}, method="POST", mount_point=kv1)
    with pytest.raises(hvac.exceptions.Forbidden):
        narrow.create_or_update_secret("new", secret={"a": 2}, method="POST", mount_point=kv1)
    assert narrow.read_secret("new", mount_point=kv1)["data"] == {"a": 1}


# -- upgrade -----------------------------------------------------------------------------------


def test_tuning_a_v1_mount_to_v2_keeps_its_secrets(client: hvac.Client, kv1: str) -> None:
    client.secrets.kv.v1.create_or_update_secret("dir/s", secret={"a": "b"}, mount_point=kv1)
    client.sys.tune_mount_configuration(kv1, options={"version": "2"})
    v2 = client.secrets.kv.v2
    read = v2.read_secret_version("dir/s", mount_point=kv1, raise_on_deleted_version=True)
    assert read["data"]["data"] == {"a": "b"} and read["data"]["metadata"]["version"] == 1
    assert v2.list_secrets("dir", mount_point=kv1)["data"]["keys"] == ["s"]
